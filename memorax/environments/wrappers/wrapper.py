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
        # copy and pickle look attributes up on an instance without ``env`` yet: delegating those would recurse forever.
        if name == "env" or name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.env, name)

    def reset(self, key: jax.Array, params: Any = None):
        return self.env.reset(key, params)

    def step(self, key: jax.Array, state: Any, action: Any, params: Any = None):
        return self.env.step(key, state, action, params)


class ObservationWrapper(Wrapper):
    """Applies ``observation(key, obs)`` to every observation, the final one of an episode included.

    The wrapped environment receives the caller's key unchanged, so wrapping
    changes observations and never the dynamics; the observation keys are
    folded out of it with numbers unique to the wrapper's depth, so stacked
    wrappers draw independent noise.
    """

    def __init__(self, env: Any):
        super().__init__(env)
        self.depth = getattr(env, "depth", 0) + 1

    def _keys(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        return jax.random.fold_in(key, 2 * self.depth), jax.random.fold_in(key, 2 * self.depth + 1)

    def observation(self, key: jax.Array, obs: jax.Array) -> jax.Array:
        raise NotImplementedError

    def reset(self, key, params=None):
        obs, state = self.env.reset(key, params)
        return self.observation(self._keys(key)[0], obs), state

    def step(self, key, state, action, params=None):
        obs_key, final_key = self._keys(key)
        obs, state, reward, terminated, truncated, info = self.env.step(key, state, action, params)
        if "final_observation" in info:
            info = {**info, "final_observation": self.observation(final_key, info["final_observation"])}
        return self.observation(obs_key, obs), state, reward, terminated, truncated, info
