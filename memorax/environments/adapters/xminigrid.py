"""xminigrid::Id: the MiniGrid and XLand-MiniGrid environments of xminigrid (tested with 0.9.3)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import xminigrid
from flax import struct
from gymnax.environments import spaces
from xminigrid.core.constants import NUM_COLORS, NUM_TILES
from xminigrid.environment import Environment, EnvParams
from xminigrid.types import TimeStep

from memorax.environments.adapters.adapter import Adapter, replace_fields


@struct.dataclass
class XMiniGridParams:
    """xminigrid's parameters (``env_params``: grid size, ``view_size``, ``max_steps``, an XLand ruleset),
    with the time limit under gymnax's name, ``max_steps_in_episode``."""

    env_params: EnvParams

    @property
    def max_steps_in_episode(self) -> int:
        return self.env_params.max_steps


class XMiniGrid(Adapter):
    """An xminigrid environment with gymnax's interface; its state is xminigrid's ``TimeStep``.

    The observation is xminigrid's symbolic view as float32: the ``[view_size, view_size, 2]``
    cells in front of the agent, turned so that it faces up (it stands at the bottom row's
    centre), each ``(tile id < 13, colour id < 12)``; walls do not hide cells, and the agent's
    pocket is not shown. Actions are ``Discrete(6)``: forward, turn right, turn left, pick up,
    put down, toggle. ``terminated`` is xminigrid's goal check (``discount == 0``);
    ``truncated = step_num >= max_steps``; the reward is xminigrid's,
    ``1 - 0.9 step_num / max_steps`` on success and 0 otherwise. xminigrid's ``step`` never
    resets, so memorax's auto-reset starts the next episode in the step that ends one; its
    transitions are deterministic, so ``step``'s key is not used.

    XLand-MiniGrid's goal and rules come from ``env_params.ruleset``: by default xminigrid's empty
    ruleset, which has no goal (reward 0; every episode is truncated). A task needs a ruleset:
    ``make(id, ruleset=...)``.
    """

    def __init__(self, env_id: str, env: Environment, env_params: EnvParams):
        self.env_id = env_id
        self.env = env
        self.default_params = XMiniGridParams(env_params)

    def reset_episode(self, key: jax.Array, params: XMiniGridParams):
        timestep = self.env.reset(params.env_params, key)
        return timestep.observation.astype(jnp.float32), timestep

    def step_episode(self, key: jax.Array, state: TimeStep, action: jax.Array, params: XMiniGridParams):
        timestep = self.env.step(params.env_params, state, action)
        terminated = timestep.discount == 0.0
        truncated = timestep.state.step_num >= params.max_steps_in_episode
        return timestep.observation.astype(jnp.float32), timestep, timestep.reward, terminated, truncated, {}

    def observation_space(self, params: XMiniGridParams | None = None) -> spaces.Box:
        params = self.default_params if params is None else params
        shape = tuple(self.env.observation_shape(params.env_params))
        high = jnp.broadcast_to(jnp.array([NUM_TILES - 1, NUM_COLORS - 1], jnp.float32), shape)
        return spaces.Box(0.0, high, shape, jnp.float32)

    def action_space(self, params: XMiniGridParams | None = None) -> spaces.Discrete:
        params = self.default_params if params is None else params
        return spaces.Discrete(self.env.num_actions(params.env_params))

    @property
    def name(self) -> str:
        return f"xminigrid::{self.env_id}"


def ids() -> list[str]:
    """Every environment the installed xminigrid registers: MiniGrid-* ports and XLand-MiniGrid-*."""
    return list(xminigrid.registered_environments())


def make(env_id: str, **kwargs: Any) -> tuple[XMiniGrid, XMiniGridParams]:
    """``xminigrid.make(env_id, **kwargs)`` behind memorax's interface: ``(env, env_params)``.

    ``kwargs`` replace fields of xminigrid's parameters (``max_steps``, ``view_size``, and for
    XLand-MiniGrid ``ruleset``, e.g. ``benchmark.get_ruleset(i)``).
    """
    env, env_params = xminigrid.make(env_id)
    adapted = XMiniGrid(env_id, env, replace_fields("xminigrid", env_id, env_params, kwargs))
    return adapted, adapted.default_params
