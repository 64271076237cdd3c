"""RecordEpisodeStatistics: episode return and length in ``info``."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from memorax.environments.wrappers.wrapper import Wrapper


@struct.dataclass
class EpisodeStatisticsState:
    env_state: object
    episode_return: jax.Array
    episode_length: jax.Array


class RecordEpisodeStatistics(Wrapper):
    """Adds ``info["episode"] = {"done", "return", "length"}`` to every step.

    ``done`` is True at the step that ends an episode (terminated or
    truncated); ``return`` and ``length`` are then that episode's undiscounted
    return and number of steps, and the running sums restart for the episode
    that auto-reset began. Where ``done`` is False they hold the running
    values of the current episode. The return sums ``info["task_reward"]``
    where a reward wrapper inside (:class:`ScaleReward`,
    :class:`NormalizeReward`) set it, the reward the task paid, and the
    step's reward otherwise.
    """

    def reset(self, key, params=None):
        obs, env_state = self.env.reset(key, params)
        return obs, EpisodeStatisticsState(env_state, jnp.zeros((), jnp.float32), jnp.zeros((), jnp.int32))

    def step(self, key, state, action, params=None):
        obs, env_state, reward, terminated, truncated, info = self.env.step(key, state.env_state, action, params)
        done = terminated | truncated
        episode_return = state.episode_return + info.get("task_reward", reward)
        episode_length = state.episode_length + 1
        info = {**info, "episode": {"done": done, "return": episode_return, "length": episode_length}}
        state = EpisodeStatisticsState(
            env_state, jnp.where(done, 0.0, episode_return), jnp.where(done, 0, episode_length)
        )
        return obs, state, reward, terminated, truncated, info
