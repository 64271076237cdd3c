"""popgym_arcade::Id: the pixel games of popgym-arcade 0.0.7 behind memorax's interface.

Every id that ``popgym_arcade.make`` registers (``CountRecallEasy``, ..., ``TetrisHard``) is the fully
observable game, as ``popgym_arcade.make(id)`` builds it; ``<id>-Partial`` is its partially observable twin
(``partial_obs=True``), the one that needs memory. ``make`` takes ``obs_size`` (128, the default, or 256) and,
for the fully observable ids, ``partial_obs``.

popgym-arcade 0.0.7 was written for gymnax 0.0.x, so its ``step`` fails under gymnax 1.0.1 (which reads a
``state.time`` most of its states lack, and truncates the rest at gymnax's ``max_steps_in_episode`` of 1).
The adapter drives each game's own ``reset_env`` and ``step_env``; the game's ``done`` ends the episode, and
the game's own clock (below, per family) says whether that end is a truncation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import jax
import jax.numpy as jnp
import popgym_arcade
from flax import struct
from gymnax.environments import spaces
from popgym_arcade.environments.autoencode import AutoEncode
from popgym_arcade.environments.battleship import BattleShip
from popgym_arcade.environments.breakout import Breakout
from popgym_arcade.environments.cartpole import CartPole
from popgym_arcade.environments.countrecall import CountRecall
from popgym_arcade.environments.minesweeper import MineSweeper
from popgym_arcade.environments.navigator import Navigator
from popgym_arcade.environments.skittles import Skittles
from popgym_arcade.environments.tetris import Tetris
from popgym_arcade.registration import REGISTERED_ENVIRONMENTS

from memorax.environments.adapters.adapter import Adapter

PARTIAL = "-Partial"
OBS_SIZES = (128, 256)
AUTOENCODE_ACTIONS = 5  # up and down (no-ops), left and right (cycle the suit), confirm


@dataclass(frozen=True)
class Clock:
    """How a game family's ``step_env`` tests its time limit: ``steps(old, new) >= limit(env, game_params)``.

    ``old`` and ``new`` are the states before and after the step; some families count on the one, some on
    the other, so an episode lasts at most ``limit + 1`` steps.
    """

    steps: Callable[[Any, Any], jax.Array]
    limit: Callable[[Any, Any], int]


CLOCKS: dict[type, Clock] = {
    CountRecall: Clock(lambda old, new: new.alreadyMove, lambda env, params: env.max_steps_in_episode),
    AutoEncode: Clock(lambda old, new: old.timestep, lambda env, params: env.max_steps_in_episode),
    CartPole: Clock(lambda old, new: old.time, lambda env, params: env.max_steps_in_episode),
    BattleShip: Clock(lambda old, new: new.timestep, lambda env, params: env.max_episode_length),
    MineSweeper: Clock(lambda old, new: new.timestep, lambda env, params: env.max_episode_length),
    Navigator: Clock(lambda old, new: new.timestep, lambda env, params: env.max_steps_in_episode),
    Skittles: Clock(lambda old, new: new.time, lambda env, params: env.max_steps_in_episode),
    Breakout: Clock(lambda old, new: new.time, lambda env, params: params.max_steps_in_episode),
    Tetris: Clock(lambda old, new: new.time, lambda env, params: params.max_steps_in_episode),
}

# gymnax 1.0.1's ``discount`` calls ``is_terminated``, which popgym-arcade 0.0.7 never defines (gymnax 0.0.x's
# called ``is_terminal``); these families call ``discount`` inside ``step_env``, for an info entry.
CALL_DISCOUNT = (CartPole, Skittles, Breakout, Tetris)


@struct.dataclass
class ArcadeParams:
    """The game's own parameters and memorax's time limit, ``max_steps_in_episode``."""

    game: Any
    max_steps_in_episode: int


@struct.dataclass
class ArcadeState:
    """The game's state of the episode and the number of steps taken in it."""

    game: Any
    time: jax.Array


def ids() -> list[str]:
    """The registered games, then their partially observable twins."""
    return [*REGISTERED_ENVIRONMENTS, *(name + PARTIAL for name in REGISTERED_ENVIRONMENTS)]


def clock(env: Any) -> Clock:
    """The clock of the game family (e.g. ``CountRecall``) that ``env`` belongs to."""
    return next(CLOCKS[base] for base in CLOCKS if isinstance(env, base))


class ArcadeEnvironment(Adapter):
    """A popgym-arcade game: RGB frames in, one of five discrete actions (up, down, left, right, confirm) out.

    Observations are the game's RGB frame, ``[obs_size, obs_size, 3]``, cast from uint8 to float32 and kept
    in [0, 255] (not rescaled, so a network sees the package's pixels). Rewards are the game's.
    ``terminated = done & ~clock`` and ``truncated = done & clock | time >= params.max_steps_in_episode``,
    where ``done`` is the game's and ``clock`` its own step count against its own limit (a terminal state
    reached on the very step the limit runs out counts as a truncation). ``max_steps_in_episode``
    defaults to the game's limit + 1, the longest episode any family allows, so by default the games
    end their episodes themselves; a smaller value cuts them shorter.

    Args:
      env: the popgym-arcade game, as ``popgym_arcade.make`` builds it.
    """

    def __init__(self, env: Any):
        self.env = with_is_terminated(env)
        self.clock = clock(env)
        game_params = env.default_params
        self.default_params = ArcadeParams(game_params, self.clock.limit(env, game_params) + 1)

    def reset_episode(self, key: jax.Array, params: ArcadeParams):
        obs, game = self.env.reset_env(key, params.game)
        return jnp.asarray(obs, jnp.float32), ArcadeState(game, jnp.int32(0))

    def step_episode(self, key: jax.Array, state: ArcadeState, action: Any, params: ArcadeParams):
        obs, game, reward, done, _ = self.env.step_env(key, state.game, action, params.game)
        done = jnp.asarray(done, bool)
        out_of_time = done & (self.clock.steps(state.game, game) >= self.clock.limit(self.env, params.game))
        time = state.time + 1
        truncated = out_of_time | (time >= params.max_steps_in_episode)
        obs = jnp.asarray(obs, jnp.float32)
        return obs, ArcadeState(game, time), jnp.float32(reward), done & ~out_of_time, truncated, {}

    def observation_space(self, params: Any = None) -> spaces.Box:
        return spaces.Box(0.0, 255.0, (self.env.obs_size, self.env.obs_size, 3), jnp.float32)

    def action_space(self, params: Any = None) -> spaces.Discrete:
        # AutoEncode declares Discrete(4), its number of suits, but confirms a suit with action 4, the fifth
        # of the five actions its own documentation lists; without it no answer could ever be given.
        if isinstance(self.env, AutoEncode):
            return spaces.Discrete(AUTOENCODE_ACTIONS)
        return self.env.action_space(self.default_params.game)

    @property
    def name(self) -> str:
        return f"{type(self.env).__name__}{PARTIAL if self.env.partial_obs else ''}"


def with_is_terminated(env: Any) -> Any:
    """``env``, answering gymnax 1.0.1's ``is_terminated`` with its own ``is_terminal``, as gymnax 0.0.x did.

    Only the ``discount`` entry of the game's info reads it, and the adapter drops that info.
    """
    if isinstance(env, CALL_DISCOUNT):
        env.is_terminated = env.is_terminal
    return env


def make(env_id: str, **kwargs: Any) -> tuple[ArcadeEnvironment, ArcadeParams]:
    """Builds ``popgym_arcade::env_id``; ``kwargs`` may set ``obs_size`` and, without ``-Partial``, ``partial_obs``."""
    name, partial = (env_id.removesuffix(PARTIAL), True) if env_id.endswith(PARTIAL) else (env_id, False)
    allowed = {"obs_size"} if partial else {"obs_size", "partial_obs"}
    unknown = sorted(set(kwargs) - allowed)
    if unknown:
        raise ValueError(f"make: popgym_arcade::{env_id} got {unknown}; expected keyword arguments among {sorted(allowed)}.")
    obs_size = kwargs.get("obs_size", OBS_SIZES[0])
    if obs_size not in OBS_SIZES:
        raise ValueError(f"make: popgym_arcade::{env_id} got obs_size={obs_size!r}; expected one of {list(OBS_SIZES)}.")
    env, _ = popgym_arcade.make(name, **{"partial_obs": partial, **kwargs})
    adapter = ArcadeEnvironment(env)
    return adapter, adapter.default_params
