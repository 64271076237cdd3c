"""NormalizeReward: rewards divided by the running standard deviation of the discounted return."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from memorax.environments.wrappers.wrapper import Wrapper

PRIOR_COUNT = 1e-4
"""The weight, in samples, of the statistics' prior (mean 0, variance 1), as in gymnasium's ``RunningMeanStd``."""


@struct.dataclass
class NormalizeRewardState:
    env_state: Any
    discounted_return: jax.Array  # G_t of the running episode
    mean: jax.Array
    var: jax.Array
    count: jax.Array


class NormalizeReward(Wrapper):
    r"""``r_t / \sqrt{\mathrm{Var}[G] + \epsilon}`` with the running variance of the discounted return.

    ``G_t = r_t + γ G_{t-1}`` within an episode, with ``G`` restarting at 0
    after every episode end (termination or truncation: with auto-reset the
    next reward belongs to a new episode). Each ``G_t`` updates the running
    mean and variance before ``r_t`` is scaled (Chan et al.'s parallel update
    with a batch of one). As in gymnasium's ``NormalizeReward``, the statistics
    start from a prior of mean 0 and variance 1 worth ``1e-4`` samples (so the
    first rewards are not divided by a zero variance) and the mean is not
    subtracted from rewards. They live in the state and survive auto-resets;
    under ``vmap`` each environment keeps its own. A ``reset`` starts them
    afresh (a functional reset has no earlier state to keep): environments
    that ``evaluate`` resets, and each trial of a :class:`Trials` wrapped
    around this one, begin again from the prior. ``info["task_reward"]``
    keeps the reward before any reward wrapper, so that episode returns are
    reported in the task's units (:class:`RecordEpisodeStatistics`).

    Gymnasium 1.x instead multiplies ``G_{t-1}`` by ``1 - terminated_t``: its
    return restarts at the terminating step itself and runs on through
    truncations. Fed with this wrapper's previous ``terminated | truncated``
    as its ``terminated``, it scales rewards as this wrapper does (tested).

    Args:
      env: the environment whose rewards are scaled.
      gamma: the discount ``γ`` of ``G``, in ``[0, 1]``.
      epsilon: added to the variance.
    """

    def __init__(self, env: Any, gamma: float = 0.99, epsilon: float = 1e-8):
        if not 0 <= gamma <= 1:
            raise ValueError(f"NormalizeReward: gamma is {gamma}; expected a discount in [0, 1].")
        if not epsilon > 0:
            raise ValueError(f"NormalizeReward: epsilon is {epsilon}; expected a positive number.")
        super().__init__(env)
        self.gamma = gamma
        self.epsilon = epsilon

    def reset(self, key, params=None):
        obs, env_state = self.env.reset(key, params)
        zero = jnp.zeros((), jnp.float32)
        return obs, NormalizeRewardState(env_state, zero, zero, jnp.ones((), jnp.float32), jnp.float32(PRIOR_COUNT))

    def step(self, key, state, action, params=None):
        obs, env_state, reward, terminated, truncated, info = self.env.step(key, state.env_state, action, params)
        discounted_return = self.gamma * state.discounted_return + reward
        count = state.count + 1
        delta = discounted_return - state.mean
        mean = state.mean + delta / count
        var = (state.var * state.count + delta**2 * state.count / count) / count
        scaled = reward / jnp.sqrt(var + self.epsilon)
        state = NormalizeRewardState(
            env_state, jnp.where(terminated | truncated, 0.0, discounted_return), mean, var, count
        )
        return obs, state, scaled, terminated, truncated, {"task_reward": reward, **info}
