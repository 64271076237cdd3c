"""pobax::Id: the partially observable benchmarks of pobax 0.0.1 behind memorax's interface.

The ids are those of pobax's registry, ``pobax.envs.get_env``, that run here on a CPU without downloads:

- ``tmaze_5``, ``tmaze_10``: Bakker's T-Maze (``tmaze_<hallway length>``);
- ``simple_chain``: a ten-state chain with one action;
- the classic POMDP files, e.g. ``tiger-alt-start``, ``4x3``, ``cheese.95``, ``hallway``, ``tmaze5``;
- ``battleship_10``, ``battleship_5``, ``battleship_3``: one-player Battleship on 10x10, 5x5 and 3x3 boards;
- ``rocksample_5_5``, ``rocksample_7_8``, ``rocksample_11_11``, ``rocksample_15_15``;
- ``pocman``: partially observable Pac-Man;
- ``ReacherPOMDP``: gymnax's Reacher showing its goal only at the first step;
- ``CartPole-{F,P,V}-v0``, ``Pendulum-{F,P,V}-v0``: gymnax's CartPole-v1 and Pendulum-v1 with the fully
  observable (F), position (P) or velocity (V) entries of the observation;
- ``Hopper-{F,P,V}-v0``, ``Walker-{F,P,V}-v0``, ``Ant-{F,P,V}-v0``, ``HalfCheetah-{F,P,V}-v0``: brax's
  MuJoCo tasks masked the same way, and ``hopper``, ``walker2d``, ``ant``, ``halfcheetah`` unmasked.

pobax 0.0.1's own ``get_env`` cannot run with gymnax 1.0.1: its modules import ``ROOT_DIR`` from a
``definitions`` module that its wheel does not ship (provided below), and its wrappers call gymnax 1.0.1's
``step``, which reads a ``state.time`` pobax's states lack. The adapter builds each environment as
``get_env`` does and drives its ``reset_env`` / ``step_env``, without the logging and vectorising
wrappers, and truncates pobax's own tasks at ``env_params.max_steps_in_episode`` (1000 steps).
Not adapted here: pobax's DeepMind-Lab mazes (``Navix-DMLab-*``, navix environments whose field-of-view
masking fails with navix 0.7.4) and its ``craftax*`` ids (craftax's tasks, see ``craftax::``).
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path
from typing import Any, Callable

import gymnax
import jax
import jax.numpy as jnp
import pobax
from flax import struct
from gymnax.environments import spaces
from gymnax.environments.environment import EnvParams

from memorax.environments.adapters import brax as brax_suite
from memorax.environments.adapters.adapter import Adapter
from memorax.environments.wrappers import MaskObservation

# pobax 0.0.1's modules import ROOT_DIR, the folder above the pobax package, from its repository's
# definitions.py, which the wheel leaves out; without it none of them imports.
if importlib.util.find_spec("definitions") is None:
    definitions = types.ModuleType("definitions")
    definitions.ROOT_DIR = str(Path(pobax.__file__).parent.parent)
    sys.modules["definitions"] = definitions

from pobax.envs import masked_gymnax_env_map  # noqa: E402
from pobax.envs.classic import load_spec  # noqa: E402
from pobax.envs.classic.pomdp import POMDP  # noqa: E402
from pobax.envs.jax.battleship import Battleship  # noqa: E402
from pobax.envs.jax.pocman import PocMan  # noqa: E402
from pobax.envs.jax.reacher_pomdp import ReacherPOMDP  # noqa: E402
from pobax.envs.jax.rocksample import RockSample  # noqa: E402
from pobax.envs.jax.simple_chain import SimpleChain  # noqa: E402
from pobax.envs.jax.tmaze import TMaze  # noqa: E402

ENVS = Path(pobax.__file__).parent / "envs"
TMAZES = ("tmaze_5", "tmaze_10")
POMDP_FILES = tuple(sorted(path.stem for path in (ENVS / "classic" / "POMDP").glob("*.POMDP")))
# id -> (board side, ship lengths), as get_env sets them.
BATTLESHIPS = {"battleship_10": (10, (5, 4, 3, 2)), "battleship_5": (5, (3, 2)), "battleship_3": (3, (2,))}
ROCKSAMPLES = ("rocksample_5_5", "rocksample_7_8", "rocksample_11_11", "rocksample_15_15")
# pobax's time limit where a task sets none in its params (its PPO's default_max_steps_in_episode).
MAX_STEPS = 1000
# pobax's BraxGymnaxWrapper: the positional pipeline, episodes of 1000 steps, actions clipped to [-1, 1].
BRAX_TASKS = ("ant", "walker2d", "halfcheetah", "hopper")
BRAX_BACKEND = "positional"
# gymnax 1.0.1 has no LunarLander-v2, the third family of pobax's masked gymnax tasks.
MASKED = {
    name: spec
    for name, spec in masked_gymnax_env_map.items()
    if spec["env_str"] in BRAX_TASKS or spec["env_str"] in gymnax.registered_envs
}

# (env, done, next_state, params) -> (terminated, its own time limit reached), from the task's own rule.
Ends = Callable[[Any, jax.Array, Any, Any], tuple[jax.Array, jax.Array]]


def terminal_only(env: Any, done: jax.Array, state: Any, params: Any) -> tuple[jax.Array, jax.Array]:
    """pobax's own tasks, PocMan aside, have no time limit of their own: every end they report is terminal."""
    return done, jnp.asarray(False)


def pocman_ends(env: PocMan, done: jax.Array, state: Any, params: Any) -> tuple[jax.Array, jax.Array]:
    """PocMan ends when Pac-Man dies or eats every pellet (terminal) or at ``env.time_limit`` steps."""
    return (state.dead == 1) | (state.pellets == 0), state.step_count >= env.time_limit


@struct.dataclass
class PobaxState:
    """pobax's state of the episode and the number of steps taken in it."""

    env_state: Any
    time: jax.Array


class PobaxEnvironment(Adapter):
    """One of pobax's own tasks, driven through its ``reset_env`` and ``step_env``.

    Observations are pobax's flat vectors as float32, in pobax's declared ``Box`` (cast to float32); actions
    and rewards are pobax's. ``terminated`` is the task's own end; ``truncated`` is the time limit
    ``time >= params.max_steps_in_episode`` (1000 steps, pobax's default, for every task), or PocMan's own.
    pobax enforced no limit itself under gymnax 0.0.x, but memorax's evaluation needs every episode to end.

    Args:
      env: the pobax environment.
      env_id: its id in pobax's registry, which names it in errors.
      ends: ``(env, done, next_state, params) -> (terminated, its own time limit reached)``.
      step_env: ``(env, key, state, action, params) -> (obs, state, reward, done, info)``; by default
        ``type(env).step_env``.
    """

    def __init__(self, env: Any, env_id: str, ends: Ends = terminal_only, step_env: Callable | None = None):
        self.env = env
        self.env_id = env_id
        self.ends = ends
        self.step_env = type(env).step_env if step_env is None else step_env
        self.default_params = env.default_params.replace(max_steps_in_episode=MAX_STEPS)

    def reset_episode(self, key: jax.Array, params: Any):
        obs, state = self.env.reset_env(key, params)
        return jnp.asarray(obs, jnp.float32), PobaxState(state, jnp.int32(0))

    def step_episode(self, key: jax.Array, state: PobaxState, action: Any, params: Any):
        obs, env_state, reward, done, _ = self.step_env(self.env, key, state.env_state, action, params)
        terminated, own_limit = self.ends(self.env, jnp.asarray(done, bool), env_state, params)
        time = state.time + 1
        truncated = own_limit | (time >= params.max_steps_in_episode)
        next_state = PobaxState(env_state, time)
        return jnp.asarray(obs, jnp.float32), next_state, jnp.float32(reward), terminated, truncated, {}

    def observation_space(self, params: Any = None) -> spaces.Box:
        space = self.env.observation_space(self.default_params if params is None else params)
        return spaces.Box(space.low, space.high, space.shape, jnp.float32)

    def action_space(self, params: Any = None) -> spaces.Discrete:
        return self.env.action_space(self.default_params if params is None else params)

    @property
    def name(self) -> str:
        return f"pobax::{self.env_id}"


def ids() -> list[str]:
    """Every id of pobax's registry that runs here, in the module docstring's order."""
    return [
        *TMAZES, "simple_chain", *POMDP_FILES, *BATTLESHIPS, *ROCKSAMPLES, "pocman", "ReacherPOMDP", *MASKED, *BRAX_TASKS,
    ]  # fmt: skip


def build(env_id: str, **kwargs: Any) -> Any:
    """The environment of ``env_id`` with memorax's interface, ``kwargs`` going to pobax's constructor."""
    if env_id in TMAZES:
        return PobaxEnvironment(TMaze(**{"hallway_length": int(env_id.split("_")[1]), **kwargs}), env_id)
    if env_id == "simple_chain":
        return PobaxEnvironment(SimpleChain(**{"n": 10, **kwargs}), env_id)
    if env_id in POMDP_FILES:
        spec = load_spec(env_id)
        pomdp = POMDP(spec["T"], spec["R"], spec["p0"], spec["gamma"], spec["phi"], **kwargs)
        # POMDP.step_env is jitted with the action static, so it cannot take a traced action; its
        # undecorated function can.
        return PobaxEnvironment(pomdp, env_id, step_env=POMDP.step_env.__wrapped__)
    if env_id in BATTLESHIPS:
        side, ships = BATTLESHIPS[env_id]
        return PobaxEnvironment(Battleship(**{"rows": side, "cols": side, "ship_lengths": ships, **kwargs}), env_id)
    if env_id in ROCKSAMPLES:
        # RockSample places its rocks at construction; get_env draws them from the key it is given.
        config = ENVS / "configs" / f"{env_id}_config.json"
        return PobaxEnvironment(RockSample(**{"key": jax.random.key(0), "config_path": config, **kwargs}), env_id)
    if env_id == "pocman":
        return PobaxEnvironment(PocMan(**kwargs), env_id, pocman_ends)
    if env_id == "ReacherPOMDP":
        return ReacherPOMDP(**kwargs)
    if env_id in BRAX_TASKS:
        return brax_suite.make(env_id, backend=BRAX_BACKEND, **kwargs)[0]
    spec = MASKED[env_id]
    if spec["env_str"] in BRAX_TASKS:
        env = brax_suite.make(spec["env_str"], backend=BRAX_BACKEND, **kwargs)[0]
    else:
        env = gymnax.make(spec["env_str"], **kwargs)[0]
    return MaskObservation(env, indices=tuple(spec["mask_dims"]))


def make(env_id: str, **kwargs: Any) -> tuple[Any, EnvParams]:
    """Builds ``pobax::env_id``: ``(env, env_params)``; ``kwargs`` go to pobax's (or gymnax's, brax's) constructor.

    E.g. ``make("tmaze_10", good_reward=1.0)``, ``make("rocksample_11_11", key=jax.random.key(3))`` (the rock
    positions), ``make("tiger-alt-start", fully_observable=True)``.
    """
    env = build(env_id, **kwargs)
    return env, env.default_params
