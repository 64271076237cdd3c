"""Diagnostics of a network's memory: what it depends on, and how far back."""

from memorax.diagnostics.horizon import MemoryHorizon, judged_output, memory_horizon, random_rollout
from memorax.diagnostics.probe import carries, probe_accuracy, probe_remembered_observation, remembered_observation

__all__ = [
    "MemoryHorizon",
    "carries",
    "judged_output",
    "memory_horizon",
    "probe_accuracy",
    "probe_remembered_observation",
    "random_rollout",
    "remembered_observation",
]
