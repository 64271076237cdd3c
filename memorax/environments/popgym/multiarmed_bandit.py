"""MultiarmedBandit (POPGym, Morad et al. 2023, arXiv:2303.01859)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from memorax.environments.environment import Environment, EnvParams, EnvState, one_hot_space


@struct.dataclass
class MultiarmedBanditState(EnvState):
    payout_probabilities: jax.Array  # [num_bandits], uniform in [0, 1) per episode
    time: int


class MultiarmedBandit(Environment):
    """Find and exploit the best of ``num_bandits`` arms within one episode.

    Pulling arm ``a`` pays ``+1 / episode_length`` with probability ``p_a`` and
    ``-1 / episode_length`` otherwise; the observation is whether it paid,
    one-hot over 2 (0 at the start). The episode is truncated after
    ``episode_length`` pulls; returns lie in ``[-1, 1]``.

    Levels (POPGym): Easy ``10`` arms, ``200`` steps; Medium ``20, 400``; Hard ``30, 600``.
    """

    def __init__(self, num_bandits: int = 10, episode_length: int = 200):
        self.num_bandits = num_bandits
        self.episode_length = episode_length

    @property
    def default_params(self) -> EnvParams:
        return EnvParams(max_steps_in_episode=self.episode_length)

    @property
    def num_actions(self) -> int:
        return self.num_bandits

    def observation_space(self, params=None):
        return one_hot_space(2)

    def reset_env(self, key, params):
        state = MultiarmedBanditState(payout_probabilities=jax.random.uniform(key, (self.num_bandits,)), time=0)
        return jax.nn.one_hot(0, 2), state

    def step_env(self, key, state, action, params):
        action = self.clip_action(action)
        paid = jax.random.uniform(key) < state.payout_probabilities[action]
        reward = jnp.where(paid, 1.0, -1.0) / self.episode_length
        state = state.replace(time=state.time + 1)
        return jax.nn.one_hot(paid.astype(jnp.int32), 2), state, reward, jnp.array(False), {}
