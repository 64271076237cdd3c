"""Wrapper: the base of composable, jittable environment wrappers."""

from __future__ import annotations

from typing import Any

import jax


class Wrapper:
    """Delegates everything to the wrapped environment; subclasses override ``reset``/``step``.

    Keeps gymnax's interface: ``reset(key, params) -> (obs, state)`` and
    ``step(key, state, action, params) -> (obs, state, reward, terminated,
    truncated, info)``. Attributes a wrapper does not define (spaces,
    ``default_params``, ``num_actions``, ...) come from the wrapped environment.
    """

    def __init__(self, env: Any):
        self.env = env

    def __getattr__(self, name: str) -> Any:
        return getattr(self.env, name)

    def reset(self, key: jax.Array, params: Any = None):
        return self.env.reset(key, params)

    def step(self, key: jax.Array, state: Any, action: Any, params: Any = None):
        return self.env.step(key, state, action, params)


class ObservationWrapper(Wrapper):
    """Applies ``observation(key, obs)`` to every observation, the final one of an episode included."""

    def observation(self, key: jax.Array, obs: jax.Array) -> jax.Array:
        raise NotImplementedError

    def reset(self, key, params=None):
        env_key, obs_key = jax.random.split(key)
        obs, state = self.env.reset(env_key, params)
        return self.observation(obs_key, obs), state

    def step(self, key, state, action, params=None):
        env_key, obs_key, final_key = jax.random.split(key, 3)
        obs, state, reward, terminated, truncated, info = self.env.step(env_key, state, action, params)
        if "final_observation" in info:
            info = {**info, "final_observation": self.observation(final_key, info["final_observation"])}
        return self.observation(obs_key, obs), state, reward, terminated, truncated, info
