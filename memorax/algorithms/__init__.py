"""Algorithms: each one file of pure functions around one jitted ``train``."""

from memorax.algorithms.dqn import DQN, DQNConfig, DQNState
from memorax.algorithms.ppo import PPO, PPOConfig, PPOState
from memorax.algorithms.pqn import PQN, PQNConfig, PQNState
from memorax.algorithms.sac import SAC, SACConfig, SACState

__all__ = ["DQN", "DQNConfig", "DQNState", "PPO", "PPOConfig", "PPOState", "PQN", "PQNConfig", "PQNState", "SAC", "SACConfig", "SACState"]
