"""Wrappers that make observations partial or noisy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
from gymnax.environments import spaces

from memorax.environments.wrappers.wrapper import ObservationWrapper


class MaskObservation(ObservationWrapper):
    """Keeps only the observation entries at ``indices``: ``obs[..., indices]``.

    E.g. ``MaskObservation(cartpole, indices=(0, 2))`` hides CartPole's velocities.
    """

    def __init__(self, env: Any, indices: Sequence[int]):
        super().__init__(env)
        size = env.observation_space(env.default_params).shape[-1]
        bad = [i for i in indices if not -size <= i < size]
        if bad or not indices:
            raise ValueError(f"MaskObservation: indices {list(indices)} do not select from observations of size {size}.")
        self.indices = jnp.asarray(indices)

    def observation(self, key, obs):
        return obs[..., self.indices]

    def observation_space(self, params=None):
        space = self.env.observation_space(params)
        low = jnp.broadcast_to(space.low, space.shape)[..., self.indices]
        high = jnp.broadcast_to(space.high, space.shape)[..., self.indices]
        return spaces.Box(low, high, low.shape, space.dtype)


class NoisyObservation(ObservationWrapper):
    """Adds Gaussian noise: ``obs + std * N(0, I)``, as float32; the space is the wrapped one's shape, unbounded."""

    def __init__(self, env: Any, std: float):
        if std < 0:
            raise ValueError(f"NoisyObservation: std is {std}; expected >= 0.")
        super().__init__(env)
        self.std = std

    def observation(self, key, obs):
        return jnp.asarray(obs, jnp.float32) + self.std * jax.random.normal(key, obs.shape)

    def observation_space(self, params=None):
        return spaces.Box(-jnp.inf, jnp.inf, self.env.observation_space(params).shape, jnp.float32)


class FlickerObservation(ObservationWrapper):
    """Replaces the observation by zeros with probability ``p`` at every step; the space's bounds widen to include 0."""

    def __init__(self, env: Any, p: float):
        if not 0 <= p <= 1:
            raise ValueError(f"FlickerObservation: p is {p}; expected a probability in [0, 1].")
        super().__init__(env)
        self.p = p

    def observation(self, key, obs):
        return jnp.where(jax.random.bernoulli(key, self.p), jnp.zeros_like(obs), obs)

    def observation_space(self, params=None):
        space = self.env.observation_space(params)
        if not isinstance(space, spaces.Box):
            return space
        return spaces.Box(jnp.minimum(space.low, 0), jnp.maximum(space.high, 0), space.shape, space.dtype)
