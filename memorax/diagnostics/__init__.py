"""Diagnostics of a network's memory: what it depends on, how far back, and what its carry holds."""

from memorax.diagnostics.horizon import MemoryHorizon, judged_output, memory_horizon
from memorax.diagnostics.probe import (
    baseline_accuracy,
    carries,
    hidden_state_labels,
    probe_accuracy,
    probe_remembered_observation,
    remembered_observation,
)
from memorax.diagnostics.rollouts import random_rollout, rollout_with_states, sampled_action

__all__ = [
    "MemoryHorizon",
    "baseline_accuracy",
    "carries",
    "hidden_state_labels",
    "judged_output",
    "memory_horizon",
    "probe_accuracy",
    "probe_remembered_observation",
    "random_rollout",
    "remembered_observation",
    "rollout_with_states",
    "sampled_action",
]
