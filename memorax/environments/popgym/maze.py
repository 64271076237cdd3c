"""POPGym's labyrinths (Morad et al. 2023, arXiv:2303.01859): maze generation, movement and the local view.

A maze of ``rooms x rooms`` rooms is a square grid of ``2 rooms + 1`` squares a
side: room ``(r, c)`` is square ``(2r + 1, 2c + 1)``, the wall between two
adjacent rooms is the square between them, and the border is wall. Squares hold
POPGym's cell kinds: ``FREE``, ``OBSTACLE``, ``START`` (the agent's entrance,
passable) and ``GOAL`` (LabyrinthEscape's exit). Positions are ``(row, col)``.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from memorax.environments.environment import Environment, EnvParams, EnvState, one_hot_space

FREE, OBSTACLE, START, GOAL = 0, 1, 2, 3
# POPGym's Cell enum has a fifth kind, HIDDEN, that only its state (never an observation) uses.
CELL_KINDS = 5
LEFT, RIGHT, UP, DOWN, NO_ACTION = range(5)
VIEW_SQUARES = 9
# (row, col) step of LEFT, RIGHT, UP, DOWN.
MOVES = np.array([[0, -1], [0, 1], [-1, 0], [1, 0]])


@struct.dataclass
class MazeBuild:
    """A hunt-and-kill maze under construction (see :func:`extend`)."""

    grid: jax.Array  # [2 rooms + 1, 2 rooms + 1] int8, FREE where opened, OBSTACLE elsewhere
    room: jax.Array  # int32 index r * rooms + c of the room the walk stands in


def open_rooms(grid: jax.Array) -> jax.Array:
    """Which rooms are open: bool ``[rooms * rooms]``, room ``(r, c)`` at ``r * rooms + c``."""
    return grid[1::2, 1::2].reshape(-1) == FREE


def uniform_index(draw: jax.Array, size: int) -> jax.Array:
    """``floor(draw * size)``: an index uniform in ``[0, size)`` from ``draw`` uniform in ``[0, 1)``."""
    # The minimum keeps a draw that float32 rounds up to size * 1.0 inside the range.
    return jnp.minimum(jnp.floor(draw * size).astype(jnp.int32), size - 1)


def uniform_choice(draw: jax.Array, candidates: jax.Array) -> jax.Array:
    """The index of a uniform ``True`` entry of ``candidates`` (bool ``[n]``) from ``draw``; 0 if there is none."""
    return jnp.argmax(jnp.cumsum(candidates) > uniform_index(draw, jnp.sum(candidates)))


def start_build(draw: jax.Array, rooms: int) -> MazeBuild:
    """A grid of walls with one uniform room (from ``draw``, uniform in ``[0, 1)``) open, where the walk starts."""
    room = uniform_index(draw, rooms * rooms)
    row, col = room // rooms, room % rooms
    grid = jnp.full((2 * rooms + 1, 2 * rooms + 1), OBSTACLE, jnp.int8).at[2 * row + 1, 2 * col + 1].set(FREE)
    return MazeBuild(grid=grid, room=room)


def extend(draws: jax.Array, build: MazeBuild, rooms: int) -> MazeBuild:
    """One more room of a hunt-and-kill maze, from ``draws`` ``[2]`` uniform in ``[0, 1)``; a finished maze stays.

    Hunt-and-kill, as mazelib's ``HuntAndKill`` with random hunting (POPGym's
    generator): if the walk's room has no closed neighbour, hunt (move the walk
    to a uniform open room that has one); then walk (open the wall to a uniform
    closed neighbour and move into it). Each call joins one closed room to the
    open ones, so ``rooms^2 - 1`` calls after :func:`start_build` open every
    room and the open squares form a spanning tree of them: connected, without
    cycles.

    mazelib hunts by drawing uniform rooms until one it can walk from comes up,
    which picks a uniform room among those: the same distribution of mazes,
    except that mazelib stops after ``(2 rooms + 1)^2`` draws and may (rarely)
    leave rooms closed, where this always opens every room.
    """
    room_row, room_col = (jnp.asarray(coordinate) for coordinate in np.divmod(np.arange(rooms * rooms), rooms))
    opened = open_rooms(build.grid)
    closed = jnp.pad(~opened.reshape(rooms, rooms), 1)
    beside_closed = (closed[:-2, 1:-1] | closed[2:, 1:-1] | closed[1:-1, :-2] | closed[1:-1, 2:]).reshape(-1)
    hunted = uniform_choice(draws[0], opened & beside_closed)
    origin = jnp.where(beside_closed[build.room], build.room, hunted)
    adjacent = jnp.abs(room_row - room_row[origin]) + jnp.abs(room_col - room_col[origin]) == 1
    target = uniform_choice(draws[1], adjacent & ~opened)
    wall = (room_row[origin] + room_row[target] + 1, room_col[origin] + room_col[target] + 1)
    grid = build.grid.at[wall].set(FREE).at[2 * room_row[target] + 1, 2 * room_col[target] + 1].set(FREE)
    finished = opened.all()
    return MazeBuild(grid=jnp.where(finished, build.grid, grid), room=jnp.where(finished, build.room, target))


def hunt_and_kill(draws: jax.Array, rooms: int) -> jax.Array:
    """A perfect maze of ``rooms x rooms`` rooms (see :func:`extend`): int8 ``[2 rooms + 1, 2 rooms + 1]``.

    ``draws``: ``[rooms^2, 2]`` uniform in ``[0, 1)``, one row per room opened.
    """
    build = jax.lax.fori_loop(
        1, rooms * rooms, lambda i, b: extend(draws[i], b, rooms), start_build(draws[0, 0], rooms)
    )
    return build.grid


def outer_entrances(draws: jax.Array, rooms: int) -> tuple[jax.Array, jax.Array]:
    """POPGym's (mazelib's) entrance and exit: border squares on opposite sides, each facing a room.

    From ``draws`` ``[3]`` uniform in ``[0, 1)``: a uniform side of the four
    (north, south, west, east) holds the entrance, the opposite side the exit;
    along its side each faces a uniform room (an odd coordinate). The squares
    stay walls here: the task marks them.

    Returns:
      ``(entrance, exit)``, each int32 ``[2]`` (row, col).
    """
    side = uniform_index(draws[0], 4)
    along = 2 * uniform_index(draws[1:], rooms) + 1
    last = 2 * rooms
    across = jnp.array([[0, last], [last, 0], [0, last], [last, 0]])[side]
    on_north_or_south = side < 2
    entrance = jnp.where(on_north_or_south, jnp.stack([across[0], along[0]]), jnp.stack([along[0], across[0]]))
    exit_square = jnp.where(on_north_or_south, jnp.stack([across[1], along[1]]), jnp.stack([along[1], across[1]]))
    return entrance, exit_square


def moved(grid: jax.Array, position: jax.Array, action: jax.Array) -> jax.Array:
    """The position ``[2]`` after ``action`` (LEFT, RIGHT, UP, DOWN): one square, clipped to the grid; walls stop it."""
    target = jnp.clip(position + jnp.asarray(MOVES)[action], 0, grid.shape[0] - 1)
    return jnp.where(grid[target[0], target[1]] == OBSTACLE, position, target)


def local_view(grid: jax.Array, position: jax.Array) -> jax.Array:
    """POPGym 1.0.7's view of the squares around ``position``: int8 ``[3, 3]``.

    The squares of the 3x3 neighbourhood that lie in the grid, in order, from the
    top-left one; the rows or columns missing at an edge read as ``OBSTACLE``
    after them. At the top row or left column the agent therefore appears in the
    view's first row or column rather than its centre, as POPGym slices first
    and pads the bottom and right afterwards.
    """
    first = jnp.maximum(position - 1, 0)
    last = jnp.minimum(position + 1, grid.shape[0] - 1)
    offsets = jnp.arange(3)
    rows, cols = first[0] + offsets, first[1] + offsets
    inside = (rows <= last[0])[:, None] & (cols <= last[1])[None, :]
    side = grid.shape[0] - 1
    seen = grid[jnp.minimum(rows, side)][:, jnp.minimum(cols, side)]
    return jnp.where(inside, seen, jnp.int8(OBSTACLE))


@struct.dataclass
class LabyrinthState(EnvState):
    grid: jax.Array  # [2 rooms + 1, 2 rooms + 1] int8 cell kinds of this episode's maze
    position: jax.Array  # [2] int32 (row, col) of the agent
    next_maze: MazeBuild  # the next episode's maze, built a few rooms per step
    time: int


class Labyrinth(Environment):
    """What POPGym's two labyrinths share: the maze, moves, observation and time limit.

    A new maze per episode (:func:`extend`) of ``size / 2`` rooms a side
    (``size + 1`` squares; POPGym's ``maze_dims=(size, size)``), the agent on a
    border entrance (:func:`outer_entrances`). Actions ``0 left, 1 right, 2 up,
    3 down`` move one square; walls and the border leave the agent in place.
    The observation is the :func:`local_view`'s 9 squares, each one-hot over
    POPGym's 5 cell kinds, then the last action one-hot over 5 (4, none, at the
    start): 50 floats. POPGym's episode ends at its step counter's
    ``episode_length - 1``, so episodes are truncated after ``episode_length - 1``
    steps; every step that earns nothing else costs ``1 / episode_length``.

    The next episode's maze is built while this one runs, ``rooms_per_step``
    rooms a step: enough to finish it within the fewest steps an episode can
    last (``min_episode_steps``), so auto-reset never pays for a whole maze.
    Only a time limit in ``params`` shorter than that makes the step that
    reaches it finish the maze.

    Subclasses implement ``min_episode_steps``, ``first_state`` and ``enter``.
    """

    def __init__(self, size: int = 10, episode_length: int = 1024):
        if size < 6 or size % 2:
            raise ValueError(f"{self.name}: size is {size}; expected an even number of at least 6.")
        if episode_length < 2:
            raise ValueError(f"{self.name}: episode_length is {episode_length}; expected at least 2.")
        self.size, self.episode_length = size, episode_length
        self.rooms = size // 2
        self.step_reward = -1 / episode_length
        self.rooms_per_step = math.ceil((self.rooms**2 - 1) / min(self.min_episode_steps, episode_length - 1))

    @property
    def min_episode_steps(self) -> int:
        """The fewest steps before the episode can terminate."""
        raise NotImplementedError

    def first_state(self, grid: jax.Array, entrance: jax.Array, exit_square: jax.Array, next_maze: MazeBuild):
        """The state that starts an episode in ``grid`` (``START`` marked at ``entrance``), before any step."""
        raise NotImplementedError

    def enter(self, state: LabyrinthState, position: jax.Array) -> tuple[LabyrinthState, jax.Array, jax.Array]:
        """``(state, reward, terminated)`` of moving to ``position`` (which may be the agent's own)."""
        raise NotImplementedError

    @property
    def default_params(self) -> EnvParams:
        return EnvParams(max_steps_in_episode=self.episode_length - 1)

    @property
    def num_actions(self) -> int:
        return 4

    def observation_space(self, params=None):
        return one_hot_space(VIEW_SQUARES * CELL_KINDS + NO_ACTION + 1)

    def observe(self, state: LabyrinthState, last_action: jax.Array) -> jax.Array:
        """The observation ``[50]`` of ``state`` after ``last_action`` (``NO_ACTION`` at the start)."""
        view = jax.nn.one_hot(local_view(state.grid, state.position).reshape(VIEW_SQUARES), CELL_KINDS)
        return jnp.concatenate([view.reshape(-1), jax.nn.one_hot(last_action, NO_ACTION + 1)])

    def _begin(self, draws: jax.Array, grid: jax.Array):
        """The first observation and state of an episode in ``grid``, from ``draws`` ``[4]`` uniform in ``[0, 1)``."""
        entrance, exit_square = outer_entrances(draws[:3], self.rooms)
        grid = grid.at[entrance[0], entrance[1]].set(START)
        state = self.first_state(grid, entrance, exit_square, start_build(draws[3], self.rooms))
        return self.observe(state, NO_ACTION), state

    # Each jax.random call is a program of its own to compile, so each function here draws once.
    def reset_env(self, key, params):
        draws = jax.random.uniform(key, (self.rooms**2 + 2, 2))
        return self._begin(draws[-2:].reshape(4), hunt_and_kill(draws[:-2], self.rooms))

    def reset_after(self, key, state, params):
        return self._begin(jax.random.uniform(key, (4,)), state.next_maze.grid)

    def step_env(self, key, state, action, params):
        action = self.clip_action(action)
        state, reward, terminated = self.enter(state, moved(state.grid, state.position, action))
        state = state.replace(time=state.time + 1)
        truncating = self.is_truncated(state, params)

        # rooms_per_step rooms; and if the time limit ends the episode now, every room the maze still lacks
        # (some only when params set a limit below min_episode_steps).
        def more_rooms(carry):
            count, build = carry
            return (count < self.rooms_per_step) | (truncating & ~open_rooms(build.grid).all())

        def one_more(carry):
            count, build = carry
            draws = jax.random.uniform(jax.random.fold_in(key, count), (2,))
            return count + 1, extend(draws, build, self.rooms)

        _, next_maze = jax.lax.while_loop(more_rooms, one_more, (0, state.next_maze))
        state = state.replace(next_maze=next_maze)
        return self.observe(state, action), state, reward, terminated, {}
