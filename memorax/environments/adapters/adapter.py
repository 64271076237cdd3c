"""Adapter: the base of environments from other JAX suites behind memorax's interface."""

from __future__ import annotations

import dataclasses
from functools import partial
from typing import Any

import jax
import numpy as np
from gymnax.environments import spaces

from memorax.environments.environment import auto_reset


class Adapter:
    """An environment of another suite with gymnax 1.x's interface and memorax's auto-reset.

    ``reset(key, params) -> (obs, state)``; ``step(key, state, action, params) -> (obs, state, reward,
    terminated, truncated, info)``, where ``terminated | truncated`` returns the next episode's ``obs``
    and ``state`` and ``info["final_observation"]`` holds the last observation of the one that ended.
    Subclasses set ``default_params`` and implement ``reset_episode(key, params) -> (obs, state)``,
    ``step_episode(key, state, action, params) -> (obs, state, reward, terminated, truncated, info)``
    (one transition, never a reset), ``observation_space(params)`` and ``action_space(params)``
    (gymnax spaces). ``step`` called eagerly with an action outside a ``Discrete`` space raises a ValueError.
    """

    default_params: Any = None

    def reset_episode(self, key: jax.Array, params: Any):
        raise NotImplementedError

    def step_episode(self, key: jax.Array, state: Any, action: Any, params: Any):
        raise NotImplementedError

    def observation_space(self, params: Any = None):
        raise NotImplementedError

    def action_space(self, params: Any = None):
        raise NotImplementedError

    def reset(self, key: jax.Array, params: Any = None):
        return self._reset(key, self.default_params if params is None else params)

    def step(self, key: jax.Array, state: Any, action: Any, params: Any = None):
        params = self.default_params if params is None else params
        if not isinstance(action, jax.core.Tracer):
            self.check_action(np.asarray(action), params)
        return self._step(key, state, action, params)

    def check_action(self, values: np.ndarray, params: Any) -> None:
        """Raises a ValueError naming the space if ``values`` is not one integer of a ``Discrete`` action space.

        Under ``jit`` no check is possible; the suites clip an index out of range into their actions.
        """
        space = self.action_space(params)
        if not isinstance(space, spaces.Discrete):
            return
        if values.shape != () or values.dtype.kind not in "iu" or not 0 <= values < space.n:
            raise ValueError(
                f"{self.name}: action {values.tolist()} is outside the action space Discrete({space.n}); "
                f"expected one integer in [0, {space.n - 1}]."
            )

    @partial(jax.jit, static_argnums=0)
    def _reset(self, key, params):
        return self.reset_episode(key, params)

    @partial(jax.jit, static_argnums=0)
    def _step(self, key, state, action, params):
        return auto_reset(
            key,
            lambda step_key: self.step_episode(step_key, state, action, params),
            lambda reset_key, _: self.reset_episode(reset_key, params),
        )

    @property
    def name(self) -> str:
        return type(self).__name__


def replace_fields(suite: str, env_id: str, params: Any, overrides: dict[str, Any]) -> Any:
    """The suite's dataclass ``params`` with ``overrides`` replacing its fields; a ValueError names any unknown field."""
    fields = [field.name for field in dataclasses.fields(params)]
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise ValueError(f"make: {suite} {env_id} has no parameters {unknown}; its parameters are {fields}.")
    return params.replace(**overrides)
