"""LabyrinthEscape (POPGym, Morad et al. 2023, arXiv:2303.01859)."""

from __future__ import annotations

from memorax.environments.popgym.maze import GOAL, Labyrinth, LabyrinthState


class LabyrinthEscape(Labyrinth):
    """Find the exit of a maze seen only through the 3x3 squares around you.

    Each episode draws a perfect maze (:class:`~memorax.environments.popgym.maze.Labyrinth`);
    the agent starts at an entrance in the border and the exit (``GOAL``) is
    on the opposite side of the border. Every step costs ``1 / episode_length``;
    stepping onto the exit earns ``+1`` more and terminates. Episodes are
    truncated after ``episode_length - 1`` steps, so returns lie in
    ``[-(episode_length - 1) / episode_length, 1 - L / episode_length]``, ``L``
    the length of the shortest path to the exit (at least ``size``).

    Levels (POPGym): Easy ``size=10`` (5x5 rooms); Medium ``14`` (7x7); Hard ``18`` (9x9);
    ``episode_length=1024``.
    """

    @property
    def min_episode_steps(self) -> int:
        # The exit lies on the opposite side, size squares across.
        return self.size

    def first_state(self, grid, entrance, exit_square, next_maze):
        grid = grid.at[exit_square[0], exit_square[1]].set(GOAL)
        return LabyrinthState(grid=grid, position=entrance, next_maze=next_maze, time=0)

    def enter(self, state, position):
        escaped = state.grid[position[0], position[1]] == GOAL
        return state.replace(position=position), self.step_reward + escaped.astype(float), escaped
