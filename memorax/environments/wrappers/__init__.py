"""Composable, jittable wrappers with gymnax's interface."""

from memorax.environments.wrappers.normalize_observation import NormalizeObservation
from memorax.environments.wrappers.observations import FlickerObservation, MaskObservation, NoisyObservation
from memorax.environments.wrappers.record_episode_statistics import RecordEpisodeStatistics
from memorax.environments.wrappers.wrapper import ObservationWrapper, Wrapper

__all__ = [
    "FlickerObservation",
    "MaskObservation",
    "NoisyObservation",
    "NormalizeObservation",
    "ObservationWrapper",
    "RecordEpisodeStatistics",
    "Wrapper",
]
