"""NormalizeObservation: observations standardised by running statistics."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import spaces

from memorax.environments.wrappers.wrapper import Wrapper


@struct.dataclass
class NormalizeObservationState:
    env_state: object
    mean: jax.Array
    var: jax.Array
    count: jax.Array


class NormalizeObservation(Wrapper):
    """``(obs - mean) / sqrt(var + epsilon)`` with running mean and variance of the observations seen.

    Statistics are updated with each returned observation before it is
    normalised (Chan et al.'s parallel update with a batch of one) and survive
    auto-resets; ``info["final_observation"]`` is normalised with the same
    statistics as the step's observation, and not added to them. Under ``vmap``
    each environment keeps its own statistics. A ``reset`` starts them afresh
    (a functional reset has no earlier state to keep): an episode of an
    environment that ``evaluate`` resets is normalised by the statistics of its
    own steps, not those of training, and inside :class:`Trials` they restart
    with every trial (put it outside ``Trials``). The space is an unbounded
    float32 ``Box`` of the wrapped shape.
    """

    def __init__(self, env, epsilon: float = 1e-8):
        super().__init__(env)
        self.epsilon = epsilon

    def _update(self, state: NormalizeObservationState, obs: jax.Array) -> NormalizeObservationState:
        count = state.count + 1
        delta = obs - state.mean
        mean = state.mean + delta / count
        var = state.var + (delta * (obs - mean) - state.var) / count
        return state.replace(mean=mean, var=var, count=count)

    def _normalize(self, state: NormalizeObservationState, obs: jax.Array) -> jax.Array:
        return (obs - state.mean) / jnp.sqrt(state.var + self.epsilon)

    def reset(self, key, params=None):
        obs, env_state = self.env.reset(key, params)
        zeros = jnp.zeros_like(obs, jnp.float32)
        state = self._update(NormalizeObservationState(env_state, zeros, zeros, jnp.array(0.0)), obs)
        return self._normalize(state, obs), state

    def observation_space(self, params=None) -> spaces.Box:
        return spaces.Box(-jnp.inf, jnp.inf, self.env.observation_space(params).shape, jnp.float32)

    def step(self, key, state, action, params=None):
        obs, env_state, reward, terminated, truncated, info = self.env.step(key, state.env_state, action, params)
        state = self._update(state.replace(env_state=env_state), obs)
        if "final_observation" in info:
            info = {**info, "final_observation": self._normalize(state, info["final_observation"])}
        return self._normalize(state, obs), state, reward, terminated, truncated, info
