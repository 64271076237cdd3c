"""The base of the built-in suite: gymnax's interface, with actions checked."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from gymnax.environments import environment, spaces

EnvState = environment.EnvState
EnvParams = environment.EnvParams


class Environment(environment.Environment):
    """A gymnax ``Environment`` with discrete actions.

    ``reset(key, params) -> (obs, state)`` and ``step(key, state, action, params)
    -> (obs, state, reward, terminated, truncated, info)`` with auto-reset, as in
    gymnax 1.x. Subclasses implement ``reset_env``, ``step_env`` (returning
    ``obs, state, reward, terminated, info``), ``observation_space`` and
    ``num_actions``; ``is_truncated`` is False unless a task has a time limit.

    Actions outside ``Discrete(num_actions)`` raise a ValueError when ``step``
    is called eagerly; under ``jit`` they are clipped into the space (see
    :meth:`clip_action`), so a wrong index can never index another action's reward.
    """

    def step(self, key: jax.Array, state: Any, action: Any, params: Any = None):
        if not isinstance(action, jax.core.Tracer):
            values = np.asarray(action)
            if values.dtype.kind not in "iu" or np.any(values < 0) or np.any(values >= self.num_actions):
                raise ValueError(
                    f"{self.name}: action {values.tolist()} is outside the action space "
                    f"Discrete({self.num_actions}); expected integers in [0, {self.num_actions - 1}]."
                )
        return super().step(key, state, action, params)

    def clip_action(self, action: jax.Array) -> jax.Array:
        return jnp.clip(jnp.asarray(action, jnp.int32), 0, self.num_actions - 1)

    def is_truncated(self, state: Any, params: Any) -> jax.Array:
        return jnp.array(False)

    def action_space(self, params: Any = None) -> spaces.Discrete:
        return spaces.Discrete(self.num_actions)

    @property
    def name(self) -> str:
        return type(self).__name__


def one_hot_space(size: int) -> spaces.Box:
    """The space of a one-hot (or concatenated one-hot) observation of ``size`` entries."""
    return spaces.Box(0.0, 1.0, (size,), jnp.float32)
