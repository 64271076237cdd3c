"""LabyrinthExplore (POPGym, Morad et al. 2023, arXiv:2303.01859)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from memorax.environments.popgym.maze import FREE, OBSTACLE, Labyrinth, LabyrinthState


@struct.dataclass
class LabyrinthExploreState(LabyrinthState):
    explored: jax.Array  # [2 rooms + 1, 2 rooms + 1] bool, squares the agent has stood on


class LabyrinthExplore(Labyrinth):
    """Visit every square of a maze seen only through the 3x3 squares around you.

    Each episode draws a perfect maze (:class:`~memorax.environments.popgym.maze.Labyrinth`)
    with the agent at an entrance in the border (POPGym draws an exit too, but
    leaves it wall). A step onto a square not yet visited earns ``1 / F``,
    ``F`` the number of ``FREE`` squares (``2 rooms^2 - 1``: all but the
    entrance); any other step costs ``1 / episode_length``. Visiting every
    passable square terminates; episodes are truncated after
    ``episode_length - 1`` steps. The best return is
    ``1 - (F - D) / episode_length``, ``D`` the distance from the entrance to
    the farthest square: a walk that covers the tree retraces every branch but
    the one it ends in.

    Levels (POPGym): Easy ``size=10`` (5x5 rooms); Medium ``14`` (7x7); Hard ``18`` (9x9);
    ``episode_length=1024``.
    """

    @property
    def min_episode_steps(self) -> int:
        # One new square per step at most.
        return 2 * self.rooms**2 - 1

    def first_state(self, grid, entrance, exit_square, next_maze):
        explored = jnp.zeros(grid.shape, bool).at[entrance[0], entrance[1]].set(True)
        return LabyrinthExploreState(grid=grid, position=entrance, next_maze=next_maze, time=0, explored=explored)

    def enter(self, state, position):
        new_square = ~state.explored[position[0], position[1]]
        explored = state.explored.at[position[0], position[1]].set(True)
        reward = jnp.where(new_square, 1 / jnp.sum(state.grid == FREE), self.step_reward)
        # Explored squares are passable, so equality means every passable square is explored.
        terminated = jnp.all((state.grid != OBSTACLE) == explored)
        return state.replace(position=position, explored=explored), reward, terminated
