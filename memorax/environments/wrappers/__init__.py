"""Composable, jittable wrappers with gymnax's interface."""

from memorax.environments.wrappers.clip_action import ClipAction
from memorax.environments.wrappers.delayed_observation import DelayedObservation
from memorax.environments.wrappers.frame_stack import FrameStack
from memorax.environments.wrappers.normalize_observation import NormalizeObservation
from memorax.environments.wrappers.normalize_reward import NormalizeReward
from memorax.environments.wrappers.observation_history import ObservationHistory
from memorax.environments.wrappers.observations import FlickerObservation, MaskObservation, NoisyObservation
from memorax.environments.wrappers.record_episode_statistics import RecordEpisodeStatistics
from memorax.environments.wrappers.scale_reward import ScaleReward
from memorax.environments.wrappers.trials import TrialParams, Trials
from memorax.environments.wrappers.wrapper import ObservationWrapper, Wrapper

__all__ = [
    "ClipAction",
    "DelayedObservation",
    "FlickerObservation",
    "FrameStack",
    "MaskObservation",
    "NoisyObservation",
    "NormalizeObservation",
    "NormalizeReward",
    "ObservationHistory",
    "ObservationWrapper",
    "RecordEpisodeStatistics",
    "ScaleReward",
    "TrialParams",
    "Trials",
    "Wrapper",
]
