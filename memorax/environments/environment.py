"""The base of the built-in suite: gymnax's interface, with actions checked."""

from __future__ import annotations

from functools import partial
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from gymnax.environments import environment, spaces

EnvState = environment.EnvState
EnvParams = environment.EnvParams


class Environment(environment.Environment):
    """A gymnax ``Environment``, with discrete actions unless a subclass says otherwise.

    ``reset(key, params) -> (obs, state)`` and ``step(key, state, action, params)
    -> (obs, state, reward, terminated, truncated, info)`` with auto-reset, as in
    gymnax 1.x: where ``terminated | truncated``, the returned ``obs`` and
    ``state`` start the next episode and ``info["final_observation"]`` is the
    last observation of the one that ended. Subclasses implement
    ``reset_env``, ``step_env`` (returning ``obs, state, reward, terminated,
    info``), ``observation_space`` and ``num_actions``; ``is_truncated`` is
    gymnax's time limit, ``state.time >= params.max_steps_in_episode``. ``reset_after(key, state, params)``,
    the state that auto-reset starts, is ``reset_env`` unless a task can make
    it cheaper.

    Actions outside ``Discrete(num_actions)`` raise a ValueError when ``step``
    is called eagerly (a task with other actions overrides ``action_space``,
    ``check_action`` and ``clip_action``); under ``jit`` they are clipped into the space (see
    :meth:`~memorax.environments.Environment.clip_action`), so a wrong index can never index another action's reward.
    """

    def step(self, key: jax.Array, state: Any, action: Any, params: Any = None):
        if not isinstance(action, jax.core.Tracer):
            self.check_action(np.asarray(action))
        return self._auto_reset_step(key, state, action, self.default_params if params is None else params)

    def check_action(self, values: np.ndarray) -> None:
        """Raises a ValueError naming the space if ``values`` is not an action of it."""
        if values.dtype.kind not in "iu" or np.any(values < 0) or np.any(values >= self.num_actions):
            raise ValueError(
                f"{self.name}: action {values.tolist()} is outside the action space "
                f"Discrete({self.num_actions}); expected integers in [0, {self.num_actions - 1}]."
            )

    @partial(jax.jit, static_argnums=0)
    def _auto_reset_step(self, key, state, action, params):
        def step_episode(step_key):
            obs, next_state, reward, terminated, info = self.step_env(step_key, state, action, params)
            return obs, next_state, reward, terminated, self.is_truncated(next_state, params), info

        return auto_reset(key, step_episode, lambda reset_key, last: self.reset_after(reset_key, last, params))

    def reset_after(self, key: jax.Array, state: Any, params: Any):
        """The ``(obs, state)`` that auto-reset starts after the episode ending in ``state``."""
        return self.reset_env(key, params)

    def clip_action(self, action: jax.Array) -> jax.Array:
        """The action as an int32 index clipped into ``[0, num_actions)``."""
        return jnp.clip(jnp.asarray(action, jnp.int32), 0, self.num_actions - 1)

    def action_space(self, params: Any = None) -> spaces.Discrete:
        return spaces.Discrete(self.num_actions)

    @property
    def name(self) -> str:
        return type(self).__name__


def auto_reset(
    key: jax.Array,
    step_episode: Callable[[jax.Array], tuple],
    reset_after: Callable[[jax.Array, Any], tuple[jax.Array, Any]],
):
    """One transition with gymnax 1.x's auto-reset, for any environment that can step and reset.

    Args:
      key: split into the step's key and the reset's.
      step_episode: ``step_key -> (obs, state, reward, terminated, truncated, info)``, one transition
        that does not reset.
      reset_after: ``(reset_key, last_state) -> (obs, state)``, the start of the next episode.

    Returns:
      ``(obs, state, reward, terminated, truncated, info)``: where ``terminated | truncated``, ``obs`` and
      ``state`` start the next episode; ``info`` gains ``terminated``, ``truncated`` and ``final_observation``.
    """
    step_key, reset_key = jax.random.split(key)
    obs, state, reward, terminated, truncated, info = step_episode(step_key)
    terminated, truncated = jnp.asarray(terminated, bool), jnp.asarray(truncated, bool)
    done = terminated | truncated
    reset_obs, reset_state = reset_after(reset_key, state)
    next_state = jax.tree.map(lambda fresh, old: jnp.where(done, fresh, old), reset_state, state)
    info = {**info, "terminated": terminated, "truncated": truncated, "final_observation": obs}
    return jnp.where(done, reset_obs, obs), next_state, jnp.float32(reward), terminated, truncated, info


def one_hot_space(size: int) -> spaces.Box:
    """The space of a one-hot (or concatenated one-hot) observation of ``size`` entries."""
    return spaces.Box(0.0, 1.0, (size,), jnp.float32)
