"""Battleship (POPGym, Morad et al. 2023, arXiv:2303.01859)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
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

    Ships are placed one after the other, each uniformly among the footprints
    where it fits without overlap: the distribution of POPGym's redraw-until-it-fits.

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

    def _placements(self, ship_size: int) -> jax.Array:
        """Every footprint of a ship of ``ship_size`` on the board ``[placements, size * size]``."""
        footprints = []
        for length_rows, length_cols in ((1, ship_size), (ship_size, 1)):
            for row in range(self.size - length_rows + 1):
                for col in range(self.size - length_cols + 1):
                    board = np.zeros((self.size, self.size), bool)
                    board[row : row + length_rows, col : col + length_cols] = True
                    footprints.append(board.reshape(-1))
        return jnp.asarray(np.stack(footprints))

    def reset_env(self, key, params):
        # POPGym redraws a start cell and direction until the ship fits; each fitting
        # footprint is reached from two such draws, so it is uniform over fitting footprints.
        board = jnp.zeros(self.size**2, bool)
        for ship_size, ship_key in zip(self.ship_sizes, jax.random.split(key, len(self.ship_sizes))):
            footprints = self._placements(ship_size)
            fits = (footprints.astype(jnp.float32) @ board.astype(jnp.float32)) == 0
            # The k-th fitting footprint, k uniform: one draw instead of one per footprint.
            k = jax.random.randint(ship_key, (), 0, jnp.sum(fits))
            board = board | footprints[jnp.searchsorted(jnp.cumsum(fits), k, side="right")]
        cells = self.size**2
        state = BattleshipState(board=board, guesses=jnp.zeros(cells, bool), hits=jnp.array(0), time=0)
        return jax.nn.one_hot(0, 2), state

    def step_env(self, key, state, action, params):
        action = self.clip_action(action)
        hit = state.board[action] & ~state.guesses[action]
        reward = jnp.where(hit, 1 / self.needed_hits, -1 / (self.size**2 - self.needed_hits))
        state = state.replace(guesses=state.guesses.at[action].set(True), hits=state.hits + hit, time=state.time + 1)
        terminated = state.hits == self.needed_hits
        return jax.nn.one_hot(hit.astype(jnp.int32), 2), state, reward, terminated, {}
