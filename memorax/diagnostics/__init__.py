"""Diagnostics of a network's memory: what it depends on, and how far back."""

from memorax.diagnostics.horizon import MemoryHorizon, judged_output, memory_horizon, random_rollout, random_rollout_with_states
from memorax.diagnostics.probe import (
    carries,
    hidden_state_labels,
    probe_accuracy,
    probe_remembered_observation,
    remembered_observation,
)

__all__ = [
    "MemoryHorizon",
    "carries",
    "hidden_state_labels",
    "judged_output",
    "memory_horizon",
    "probe_accuracy",
    "probe_remembered_observation",
    "random_rollout",
    "random_rollout_with_states",
    "remembered_observation",
]
