"""Diagnostics of a network's memory: what it depends on, and how far back."""

from memorax.diagnostics.horizon import MemoryHorizon, judged_output, memory_horizon, random_rollout

__all__ = ["MemoryHorizon", "judged_output", "memory_horizon", "random_rollout"]
