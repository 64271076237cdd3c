"""Sequence models: torsos that carry memory across steps and reset it at episode starts."""

from memorax.networks.sequence_models.delta_net import DeltaNet, GatedDeltaNet
from memorax.networks.sequence_models.diagonal_recurrence import DiagonalRecurrence
from memorax.networks.sequence_models.ffm import FFM
from memorax.networks.sequence_models.linear_attention import LinearAttention
from memorax.networks.sequence_models.lru import LRU
from memorax.networks.sequence_models.mamba import Mamba
from memorax.networks.sequence_models.mamba2 import Mamba2
from memorax.networks.sequence_models.min_rnn import MinGRU, MinLSTM
from memorax.networks.sequence_models.mlstm import MLSTM
from memorax.networks.sequence_models.rnn import GRU, LSTM, RNN
from memorax.networks.sequence_models.s5 import S5
from memorax.networks.sequence_models.self_attention import SelfAttention
from memorax.networks.sequence_models.sequence_model import Carry, SequenceModel
from memorax.networks.sequence_models.slstm import SLSTM
from memorax.networks.sequence_models.wrapper import SequenceModelWrapper, as_sequence_model

__all__ = [
    "DeltaNet",
    "GatedDeltaNet",
    "DiagonalRecurrence",
    "FFM",
    "GRU",
    "LRU",
    "LSTM",
    "MLSTM",
    "LinearAttention",
    "RNN",
    "S5",
    "SLSTM",
    "Carry",
    "Mamba",
    "Mamba2",
    "MinGRU",
    "MinLSTM",
    "SelfAttention",
    "SequenceModel",
    "SequenceModelWrapper",
    "as_sequence_model",
]
