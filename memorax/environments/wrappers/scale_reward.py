"""ScaleReward: rewards multiplied by a constant."""

from __future__ import annotations

from typing import Any

from memorax.environments.wrappers.wrapper import Wrapper


class ScaleReward(Wrapper):
    """``scale * r_t``; observations and flags pass unchanged.

    ``info["task_reward"]`` keeps the reward before any reward wrapper (this
    one's input, unless a wrapper inside set it), so that episode returns are
    reported in the task's units (:class:`RecordEpisodeStatistics`).
    """

    def __init__(self, env: Any, scale: float):
        if not scale > 0:
            raise ValueError(f"ScaleReward: scale is {scale}; expected a positive number (a negative one would reverse the task).")
        super().__init__(env)
        self.scale = scale

    def step(self, key, state, action, params=None):
        obs, state, reward, terminated, truncated, info = self.env.step(key, state, action, params)
        return obs, state, self.scale * reward, terminated, truncated, {"task_reward": reward, **info}
