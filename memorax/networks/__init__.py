"""Networks: feature extractors, torsos (sequence models and blocks) and heads."""

from memorax.networks import blocks, heads, sequence_models
from memorax.networks.cnn import CNN
from memorax.networks.feature_extractor import FeatureExtractor
from memorax.networks.lazy import LazyModule, NotInitializedError, init, redraw, reinitialize
from memorax.networks.mlp import MLP
from memorax.networks.network import Network
from memorax.networks.sequence_models import RNN, SequenceModel, SequenceModelWrapper

__all__ = [
    "CNN",
    "MLP",
    "RNN",
    "FeatureExtractor",
    "LazyModule",
    "Network",
    "NotInitializedError",
    "SequenceModel",
    "SequenceModelWrapper",
    "blocks",
    "heads",
    "init",
    "redraw",
    "reinitialize",
    "sequence_models",
]
