"""Algorithms: each one file of pure functions around one jitted ``train``."""

from memorax.algorithms.ppo import PPO, PPOConfig, PPOState

__all__ = ["PPO", "PPOConfig", "PPOState"]
