"""craftax::Id: Craftax and Craftax-Classic (tested with craftax 1.6.1), symbolic or pixel observations."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from craftax.craftax_env import make_craftax_env_from_name
from flax import struct
from gymnax.environments import spaces

from memorax.environments.adapters.adapter import Adapter, replace_fields

IDS = ("Craftax-Symbolic-v1", "Craftax-Pixels-v1", "Craftax-Classic-Symbolic-v1", "Craftax-Classic-Pixels-v1")
NO_TIME_LIMIT = np.iinfo(np.int32).max


@struct.dataclass
class CraftaxParams:
    """craftax's ``EnvParams`` of the task, whose ``max_timesteps`` is the time limit ``max_steps_in_episode``."""

    env_params: Any

    @property
    def max_steps_in_episode(self) -> int:
        return self.env_params.max_timesteps


class Craftax(Adapter):
    """A Craftax task with gymnax's interface; its state is craftax's ``EnvState``.

    Observations are craftax's float32 arrays in ``[0, 1]``: the symbolic tasks a flat vector
    (Craftax 8268 entries, Classic 1345: the one-hot map around the player, then inventory and
    intrinsics), the pixel tasks an image ``[height, width, 3]`` (Craftax 130 x 110, Classic 63 x 63).
    Actions are ``Discrete(43)`` (Craftax) or ``Discrete(17)`` (Classic); ``step`` raises a ValueError
    for another action when called eagerly and clips it into the space under ``jit``.

    craftax ends an episode (``done``) when the player dies (health 0; in Classic also lava), when
    Craftax's final boss is beaten, or when ``timestep >= max_timesteps`` (Craftax 100000, Classic
    10000 steps). This adapter drives craftax's ``step_env`` and ``reset_env`` without its auto-reset
    and keeps the two apart: ``terminated`` is craftax's end rule with the time limit lifted,
    ``truncated = timestep >= params.max_steps_in_episode`` (``env_params.max_timesteps``).
    ``info`` keeps craftax's achievement log (``"Achievements/<name>"``, 100 for each achievement
    unlocked, reported on the step that ends an episode); craftax's ``"discount"`` is dropped, since
    it is 0 at the time limit too.
    """

    def __init__(self, env_id: str, env: Any, env_params: Any):
        self.env_id = env_id
        self.env = env
        self.default_params = CraftaxParams(env_params)

    def reset_episode(self, key: jax.Array, params: CraftaxParams):
        obs, state = self.env.reset_env(key, params.env_params)
        return obs.astype(jnp.float32), state

    def step_episode(self, key: jax.Array, state: Any, action: jax.Array, params: CraftaxParams):
        action = jnp.clip(jnp.asarray(action, jnp.int32), 0, self.env.num_actions - 1)
        obs, state, reward, _, info = self.env.step_env(key, state, action, params.env_params)
        terminated = self.env.is_terminal(state, params.env_params.replace(max_timesteps=NO_TIME_LIMIT))
        truncated = state.timestep >= params.max_steps_in_episode
        info = {name: value for name, value in info.items() if name != "discount"}
        return obs.astype(jnp.float32), state, reward, terminated, truncated, info

    def observation_space(self, params: Any = None) -> spaces.Box:
        space = self.env.observation_space(self.default_params.env_params if params is None else params.env_params)
        return spaces.Box(space.low, space.high, tuple(space.shape), jnp.float32)

    def action_space(self, params: Any = None) -> spaces.Discrete:
        return spaces.Discrete(self.env.num_actions)

    @property
    def name(self) -> str:
        return f"craftax::{self.env_id}"


def ids() -> list[str]:
    """The four tasks of craftax 1.6.1: Craftax and Craftax-Classic, each symbolic and pixels."""
    return list(IDS)


def make(env_id: str, **kwargs: Any) -> tuple[Craftax, CraftaxParams]:
    """The craftax task ``env_id`` behind memorax's interface: ``(env, env_params)``.

    ``kwargs`` replace fields of craftax's ``EnvParams`` of the task, e.g. ``max_timesteps`` (the
    time limit) or ``day_length``.
    """
    env = make_craftax_env_from_name(env_id, auto_reset=False)
    adapted = Craftax(env_id, env, replace_fields("craftax", env_id, env.default_params, kwargs))
    return adapted, adapted.default_params
