"""MineSweeper (POPGym, Morad et al. 2023, arXiv:2303.01859)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from memorax.environments.environment import Environment, EnvParams, EnvState, one_hot_space


@struct.dataclass
class MineSweeperState(EnvState):
    mines: jax.Array  # [rows * cols] bool
    viewed: jax.Array  # [rows * cols] bool, clear cells already clicked
    neighbours: jax.Array  # [rows * cols] mines in each cell's 3x3 neighbourhood
    time: int


class MineSweeper(Environment):
    """MineSweeper on a hidden board: remember which cells were already clicked.

    Action ``r * cols + c`` clicks cell ``(r, c)`` (POPGym's
    ``MultiDiscrete([rows, cols])``, flattened). The observation is the number
    of mines around the clicked cell, one-hot over ``min(num_mines + 1, 10)``
    (0 at the start). A new clear cell earns ``1 / L`` with
    ``L = rows * cols - num_mines``; clicking it again costs ``0.5 / (L - 2)``;
    a mine costs ``0.5 + 1 / L`` and terminates. Clearing every free cell
    terminates; ``L`` steps truncate.

    Levels (POPGym): Easy ``4x4``, 2 mines; Medium ``6x6``, 6; Hard ``8x8``, 10.
    """

    def __init__(self, rows: int = 4, cols: int = 4, num_mines: int = 2):
        self.rows, self.cols, self.num_mines = rows, cols, num_mines
        self.episode_length = rows * cols - num_mines
        self.success_reward = 1 / self.episode_length
        self.mine_reward = -0.5 - self.success_reward
        self.repeat_reward = -0.5 / (self.episode_length - 2)
        self.num_counts = min(num_mines + 1, 10)

    @property
    def default_params(self) -> EnvParams:
        return EnvParams(max_steps_in_episode=self.episode_length)

    @property
    def num_actions(self) -> int:
        return self.rows * self.cols

    def observation_space(self, params=None):
        return one_hot_space(self.num_counts)

    def state_for(self, mines: jax.Array) -> MineSweeperState:
        """The initial state of a board with ``mines`` (bool ``[rows * cols]``)."""
        grid = jnp.pad(mines.reshape(self.rows, self.cols).astype(jnp.int32), 1)
        neighbours = sum(
            grid[1 + di : 1 + di + self.rows, 1 + dj : 1 + dj + self.cols] for di in (-1, 0, 1) for dj in (-1, 0, 1)
        )
        return MineSweeperState(mines=mines, viewed=jnp.zeros_like(mines), neighbours=neighbours.reshape(-1), time=0)

    def reset_env(self, key, params):
        cells = self.rows * self.cols
        # The first num_mines swaps of a Fisher-Yates shuffle: distinct cells without a sort.
        order = jnp.arange(cells)
        for i, swap_key in enumerate(jax.random.split(key, self.num_mines)):
            j = jax.random.randint(swap_key, (), i, cells)
            order = order.at[i].set(order[j]).at[j].set(order[i])
        mines = jnp.zeros(cells, bool).at[order[: self.num_mines]].set(True)
        return jax.nn.one_hot(0, self.num_counts), self.state_for(mines)

    def step_env(self, key, state, action, params):
        action = self.clip_action(action)
        mine, seen = state.mines[action], state.viewed[action]
        reward = jnp.where(mine, self.mine_reward, jnp.where(seen, self.repeat_reward, self.success_reward))
        viewed = state.viewed.at[action].set(seen | ~mine)
        terminated = mine | jnp.all(state.mines | viewed)
        obs = jax.nn.one_hot(state.neighbours[action], self.num_counts)
        return obs, state.replace(viewed=viewed, time=state.time + 1), reward, terminated, {}
