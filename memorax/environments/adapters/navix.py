"""navix::Id: the MiniGrid environments of navix (tested with 0.7.4), one transition per ``step``."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import navix
from gymnax.environments import spaces
from gymnax.environments.environment import EnvParams
from navix import observations
from navix.rendering.cache import TILE_SIZE, RenderingCache

from memorax.environments.adapters.adapter import Adapter

# The largest value of each observation function's uint8 entries. Symbolic cells are (entity tag <= 10, colour
# <= 5, state); the state is a direction (<= 3) or a door's 0 open / 1 closed / 2 locked, but navix 0.7.4 shows
# KeyCorridor's locked door as -2 wrapped to 254, so that channel is bounded only by the dtype.
SYMBOLIC_HIGH = (10.0, 5.0, 255.0)
OBSERVATION_HIGH = {
    observations.symbolic: SYMBOLIC_HIGH,
    observations.symbolic_first_person: SYMBOLIC_HIGH,
    observations.rgb: 255.0,
    observations.rgb_first_person: 255.0,
}
RENDERED = (observations.rgb, observations.rgb_first_person)


class Navix(Adapter):
    """A navix environment with gymnax's interface; its state is navix's ``Timestep``.

    Observations are navix's ``observation_fn`` as float32, on navix's scale. The default,
    ``navix.observations.symbolic``, shows the whole grid, ``[height, width, 3]``, one
    ``(entity tag, colour, state)`` triple per cell (MiniGrid's encoding; the state is the
    player's direction, or a door's open / closed / locked); ``symbolic_first_person``,
    ``rgb`` and ``rgb_first_person`` are accepted too. Actions are ``Discrete(len(env.action_set))``,
    by default MiniGrid's seven: turn left, turn right, forward, pick up, drop, toggle, done.
    ``params.max_steps_in_episode`` is the time limit (``truncated = t >= max_steps_in_episode``,
    by default navix's ``max_steps``); ``terminated`` is navix's termination (goal reached, lava,
    hit ball or the door task's ``done``).

    navix's own ``step`` spends the step after an episode end on a reset, ignoring that step's
    action and returning reward 0. This adapter steps navix's transition without that reset
    (``Environment._step``) and leaves the reset to memorax's auto-reset, in the same ``step``
    that ends the episode; so every ``step`` is one transition that the action drives.

    navix draws its random moves (the balls of Dynamic-Obstacles) from the key that its state
    carries, seeded by ``reset``'s key; ``step``'s key is not used by the transition.
    """

    def __init__(self, env_id: str, env: navix.Environment):
        if env.observation_fn not in OBSERVATION_HIGH:
            given = getattr(env.observation_fn, "__name__", env.observation_fn)
            names = ", ".join(function.__name__ for function in OBSERVATION_HIGH)
            raise ValueError(
                f"make: navix {env_id} has observation_fn {given}; expected one of navix.observations' {names}."
            )
        self.env_id = env_id
        self.env = env
        self.default_params = EnvParams(max_steps_in_episode=env.max_steps)
        # Only RGB observations read the background tiles that navix caches in its state; for the others a cache
        # of one blank tile (checkpoints cannot store empty arrays) spares every auto-reset rendering the grid:
        # 3 KB of state instead of 790 KB on a 16x16 grid, about twice the steps per second. (Crossings and
        # GoToDoor ignore the cache they are given and render anyway.)
        blank = RenderingCache(jnp.zeros((1, TILE_SIZE, TILE_SIZE, 3), jnp.uint8))
        self.cache = None if env.observation_fn in RENDERED else blank

    def reset_episode(self, key: jax.Array, params: EnvParams):
        timestep = self.env.reset(key, self.cache)
        return timestep.observation.astype(jnp.float32), timestep

    def step_episode(self, key: jax.Array, state: navix.Timestep, action: jax.Array, params: EnvParams):
        # _step is navix's transition. Its public step resets instead where state ended an episode (auto-reset
        # never hands us such a state) and, under vmap, would compute that reset at every step.
        timestep = self.env._step(state, action)
        terminated = timestep.step_type == navix.StepType.TERMINATION
        truncated = timestep.t >= params.max_steps_in_episode
        return timestep.observation.astype(jnp.float32), timestep, timestep.reward, terminated, truncated, {}

    def observation_space(self, params: Any = None) -> spaces.Box:
        shape = tuple(self.env.observation_space.shape)
        high = jnp.broadcast_to(jnp.asarray(OBSERVATION_HIGH[self.env.observation_fn], jnp.float32), shape)
        return spaces.Box(0.0, high, shape, jnp.float32)

    def action_space(self, params: Any = None) -> spaces.Discrete:
        return spaces.Discrete(len(self.env.action_set))

    @property
    def name(self) -> str:
        return f"navix::{self.env_id}"


def ids() -> list[str]:
    """Every environment the installed navix defines (not those other packages add to its registry, as pobax does)."""
    return [env_id for env_id, build in navix.registry().items() if build.__module__.startswith("navix.")]


def make(env_id: str, **kwargs: Any) -> tuple[Navix, EnvParams]:
    """``navix.make(env_id, **kwargs)`` behind memorax's interface: ``(env, env_params)``.

    ``kwargs`` go to navix's constructor (``max_steps``, 100 unless given, ``observation_fn``, ...).
    """
    adapted = Navix(env_id, navix.make(env_id, **kwargs))
    return adapted, adapted.default_params
