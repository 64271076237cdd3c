"""Environments: gymnax's functional interface, a built-in memory suite, and wrappers."""

from memorax.environments.environment import Environment
from memorax.environments.registry import NAMESPACES, make, memorax_ids
from memorax.environments.tmaze import TMaze
from memorax.environments.two_armed_bandit import TwoArmedBandit
from memorax.environments.wrappers import (
    ClipAction,
    DelayedObservation,
    FlickerObservation,
    FrameStack,
    MaskObservation,
    NoisyObservation,
    NormalizeObservation,
    NormalizeReward,
    RecordEpisodeStatistics,
    ScaleReward,
    TrialParams,
    Trials,
    Wrapper,
)

__all__ = [
    "NAMESPACES",
    "ClipAction",
    "DelayedObservation",
    "Environment",
    "FlickerObservation",
    "FrameStack",
    "MaskObservation",
    "NoisyObservation",
    "NormalizeObservation",
    "NormalizeReward",
    "RecordEpisodeStatistics",
    "ScaleReward",
    "TMaze",
    "TrialParams",
    "Trials",
    "TwoArmedBandit",
    "Wrapper",
    "make",
    "memorax_ids",
]
