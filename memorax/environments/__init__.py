"""Environments: gymnax's functional interface, a built-in memory suite, and wrappers."""

from memorax.environments.environment import Environment
from memorax.environments.registry import NAMESPACES, make, memorax_ids
from memorax.environments.tmaze import TMaze
from memorax.environments.wrappers import (
    FlickerObservation,
    MaskObservation,
    NoisyObservation,
    NormalizeObservation,
    RecordEpisodeStatistics,
    Wrapper,
)

__all__ = [
    "NAMESPACES",
    "Environment",
    "FlickerObservation",
    "MaskObservation",
    "NoisyObservation",
    "NormalizeObservation",
    "RecordEpisodeStatistics",
    "TMaze",
    "Wrapper",
    "make",
    "memorax_ids",
]
