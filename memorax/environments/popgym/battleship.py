"""Battleship (POPGym, Morad et al. 2023, arXiv:2303.01859)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from memorax.environments.environment import Environment, EnvParams, EnvState, one_hot_space


@struct.dataclass
class BattleshipState(EnvState):
    board: jax.Array  # [size * size] bool, ship cells
    guesses: jax.Array  # [size * size] bool
    hits: jax.Array
    time: int


class Battleship(Environment):
    """Battleship on a hidden board: remember where you fired and what you hit.

    Action ``r * size + c`` fires at ``(r, c)`` (POPGym's
    ``MultiDiscrete([size, size])``, flattened). The observation is hit or
    miss, one-hot over 2 (miss at the start); firing twice at a cell is a miss.
    A hit earns ``1 / H`` (``H = sum(ship_sizes)`` cells to hit), a miss
    ``-1 / (size^2 - H)``. Hitting every ship cell terminates; ``size^2`` shots
    truncate. An optimal episode returns 1; one of only misses returns
    ``-size^2 / (size^2 - H)``, slightly below -1, as in POPGym.

    Ships are placed one after the other, each at a uniformly drawn start cell
    and direction, redrawn until it fits on the board without overlap.

    Levels (POPGym): Easy ``size=8``; Medium ``10``; Hard ``12``; ships ``(2, 3, 3, 4)``.
    """

    def __init__(self, size: int = 8, ship_sizes: tuple[int, ...] = (2, 3, 3, 4)):
        self.size = size
        self.ship_sizes = tuple(ship_sizes)
        self.needed_hits = sum(self.ship_sizes)

    @property
    def default_params(self) -> EnvParams:
        return EnvParams(max_steps_in_episode=self.size**2)

    @property
    def num_actions(self) -> int:
        return self.size**2

    def observation_space(self, params=None):
        return one_hot_space(2)

    def _place(self, board: jax.Array, ship_size: int, key: jax.Array) -> jax.Array:
        rows, cols = jnp.meshgrid(jnp.arange(self.size), jnp.arange(self.size), indexing="ij")

        def footprint(key):
            start_key, direction_key = jax.random.split(key)
            start = jax.random.randint(start_key, (2,), 0, self.size)
            axis, sign = jax.random.randint(direction_key, (2,), 0, 2)
            end = start.at[axis].add((1 - 2 * sign) * (ship_size - 1))
            low, high = jnp.minimum(start, end), jnp.maximum(start, end)
            cells = (rows >= low[0]) & (rows <= high[0]) & (cols >= low[1]) & (cols <= high[1])
            fits = jnp.all(end >= 0) & jnp.all(end < self.size) & ~jnp.any(cells & board)
            return cells, fits

        def redraw(carry):
            key, _, _ = carry
            key, draw_key = jax.random.split(key)
            return (key, *footprint(draw_key))

        _, cells, _ = jax.lax.while_loop(lambda carry: ~carry[2], redraw, (key, board, jnp.array(False)))
        return board | cells

    def reset_env(self, key, params):
        board = jnp.zeros((self.size, self.size), bool)
        for ship_size, ship_key in zip(self.ship_sizes, jax.random.split(key, len(self.ship_sizes))):
            board = self._place(board, ship_size, ship_key)
        cells = self.size**2
        state = BattleshipState(board=board.reshape(-1), guesses=jnp.zeros(cells, bool), hits=jnp.array(0), time=0)
        return jax.nn.one_hot(0, 2), state

    def step_env(self, key, state, action, params):
        action = self.clip_action(action)
        hit = state.board[action] & ~state.guesses[action]
        reward = jnp.where(hit, 1 / self.needed_hits, -1 / (self.size**2 - self.needed_hits))
        state = state.replace(guesses=state.guesses.at[action].set(True), hits=state.hits + hit, time=state.time + 1)
        terminated = state.hits == self.needed_hits
        return jax.nn.one_hot(hit.astype(jnp.int32), 2), state, reward, terminated, {}

    def is_truncated(self, state, params):
        return state.time >= params.max_steps_in_episode
