"""LabyrinthEscape and LabyrinthExplore against POPGym 1.0.7 driven by the same maze; their mazes and oracles.

Each level compiles one program, :func:`player`: a batch of episodes under jit, vmap and scan, from given
states and actions; one level compiles a vmapped reset too (:func:`mazes`). The reference episodes are played
in POPGym first (the policies read POPGym's state), then replayed in ours with the same actions.
"""

import functools
import warnings
from collections import deque

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnax.environments.environment import EnvParams
from popgym.envs.labyrinth_escape import LabyrinthEscape as PopGymLabyrinthEscape
from popgym.envs.labyrinth_escape import LabyrinthEscapeEasy, LabyrinthEscapeHard
from popgym.envs.labyrinth_explore import LabyrinthExploreEasy, LabyrinthExploreMedium

from memorax.environments.popgym.labyrinth_escape import LabyrinthEscape
from memorax.environments.popgym.labyrinth_explore import LabyrinthExplore
from memorax.environments.popgym.maze import FREE, GOAL, MOVES, NO_ACTION, OBSTACLE, START, start_build

CASES = {
    "Escape-Easy": (LabyrinthEscape, 10, LabyrinthEscapeEasy),
    "Escape-Hard": (LabyrinthEscape, 18, LabyrinthEscapeHard),
    "Explore-Easy": (LabyrinthExplore, 10, LabyrinthExploreEasy),
    "Explore-Medium": (LabyrinthExplore, 14, LabyrinthExploreMedium),
}
BATCH = 4
NUM_MAZES = 512


@functools.lru_cache(maxsize=None)
def task(case):
    cls, size, _ = CASES[case]
    return cls(size=size)


def reference_env(case):
    with warnings.catch_warnings():  # POPGym warns that mazes can be solved without memory.
        warnings.simplefilter("ignore", DeprecationWarning)
        return CASES[case][2]()


@functools.lru_cache(maxsize=None)
def player(case):
    """``(states [BATCH], actions [BATCH, T], params) -> trajectory``: numpy arrays ``[BATCH, T, ...]`` of every step's
    ``obs``, ``final_observation``, ``reward``, ``terminated``, ``truncated`` and the returned state's ``grid``,
    ``position`` and ``time``; ``T = episode_length - 1``, the longest episode."""
    env = task(case)

    def play_one(key, state, actions, params):
        def step(state, inputs):
            t, action = inputs
            obs, state, reward, terminated, truncated, info = env.step(
                jax.random.fold_in(key, t), state, action, params
            )
            out = dict(obs=obs, final_observation=info["final_observation"], reward=reward, terminated=terminated)
            return state, dict(out, truncated=truncated, grid=state.grid, position=state.position, time=state.time)

        return jax.lax.scan(step, state, (jnp.arange(actions.shape[0]), actions))[1]

    play = jax.jit(jax.vmap(play_one, (0, 0, 0, None)))

    def run(states, actions, params=env.default_params):
        padded = np.zeros((BATCH, env.episode_length - 1), np.int32)
        for index, episode in enumerate(actions):
            padded[index, : len(episode)] = episode
        keys = jax.random.split(jax.random.key(0), BATCH)
        return jax.tree.map(np.asarray, play(keys, states, jnp.asarray(padded), params))

    return run


@functools.lru_cache(maxsize=None)
def mazes(case):
    """``NUM_MAZES`` first observations and states of ``case`` from one vmapped reset, as numpy arrays."""
    env = task(case)
    keys = jax.random.split(jax.random.key(0), NUM_MAZES)
    obs, state = jax.jit(jax.vmap(env.reset, (0, None)))(keys, env.default_params)
    return np.asarray(obs), jax.tree.map(np.asarray, state)


def stack(states):
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *states)


def distances(grid, sources):
    """Steps from the nearest of ``sources`` to every passable square (-1 where unreachable): breadth-first."""
    distance = np.full(grid.shape, -1)
    queue = deque()
    for source in sources:
        distance[tuple(source)] = 0
        queue.append(tuple(source))
    while queue:
        row, col = queue.popleft()
        for step_row, step_col in MOVES:
            there = (row + step_row, col + step_col)
            inside = 0 <= there[0] < grid.shape[0] and 0 <= there[1] < grid.shape[1]
            if inside and grid[there] != OBSTACLE and distance[there] < 0:
                distance[there] = distance[row, col] + 1
                queue.append(there)
    return distance


def after(grid, position, action):
    """Where ``action`` leads from ``position``, walls aside (clipped to the grid as POPGym clips)."""
    return tuple(np.clip(np.asarray(position) + MOVES[action], 0, grid.shape[0] - 1))


def step_towards(grid, position, distance):
    """The action onto the neighbour nearest to the squares that ``distance`` measures from."""
    return min(
        range(4),
        key=lambda a: np.inf if grid[after(grid, position, a)] == OBSTACLE else distance[after(grid, position, a)],
    )


def assert_episode_start(env, grid, position):
    """``grid`` starts an episode at ``position``: a perfect maze (the rooms, all open, joined by rooms^2 - 1 open
    walls into one connected tree) with the entrance in the border, facing a room, and for Escape the exit
    facing a room on the opposite side."""
    last, rooms = env.size, env.rooms
    entrance = tuple(position)
    assert grid.shape == (last + 1, last + 1) and grid[entrance] == START
    exits = [tuple(square) for square in np.argwhere(grid == GOAL)]
    assert len(exits) == (1 if isinstance(env, LabyrinthEscape) else 0)
    for square in [entrance, *exits]:
        across = [axis for axis in range(2) if square[axis] in (0, last)]
        assert len(across) == 1 and square[1 - across[0]] % 2 == 1
    if exits:
        assert {entrance[across[0]], exits[0][across[0]]} == {0, last}
    border = np.ones(grid.shape, bool)
    border[1:-1, 1:-1] = False
    assert np.sum(border & (grid != OBSTACLE)) == 1 + len(exits)
    inner = grid[1:-1, 1:-1]
    assert np.all(grid[1::2, 1::2] == FREE) and np.all(grid[::2, ::2] == OBSTACLE)
    assert np.all(np.isin(inner, (FREE, OBSTACLE))) and np.sum(inner == FREE) - rooms**2 == rooms**2 - 1
    assert np.all(distances(np.pad(inner, 1, constant_values=OBSTACLE), [(1, 1)])[1::2, 1::2] >= 0)


def decode(obs):
    """Our one-hot observation as POPGym's 10 integers: the view's 9 squares, then the last action."""
    parts = np.asarray(obs).reshape(10, 5)
    assert np.all(parts.sum(axis=1) == 1)
    return parts.argmax(axis=1).tolist()


def play_popgym(reference, seed, policy, rng):
    """One POPGym episode: its actions, observations, rewards, terminated and truncated flags.

    ``guided``: 70% of the steps towards the exit (Escape) or the nearest unexplored square (Explore), the rest
    random; it ends by termination. ``blocked``: the same, but never onto the exit or onto the square farthest
    from the entrance (so it ends by truncation after 1023 steps).
    """
    first_obs, _ = reference.reset(seed=seed)
    grid = reference.maze.grid
    blocked = None
    if policy == "blocked":
        depth = distances(grid, [reference.maze.start])
        blocked = tuple(np.argwhere(depth == depth.max())[0])
    episode = dict(actions=[], obs=[first_obs.tolist()], reward=[], terminated=[], truncated=[])
    over = False
    while not over:
        if isinstance(reference, PopGymLabyrinthEscape):
            heading = [] if policy == "blocked" else np.argwhere(grid == GOAL)
        else:
            unexplored = np.argwhere((grid != OBSTACLE) & (reference.explored == 0))
            heading = [square for square in unexplored if tuple(square) != blocked]
        if len(heading) and rng.random() < 0.7:
            action = step_towards(grid, reference.position, distances(grid, heading))
        else:
            action = int(rng.integers(4))
        if policy == "blocked" and (
            grid[after(grid, reference.position, action)] == GOAL or after(grid, reference.position, action) == blocked
        ):
            action ^= 1  # the opposite direction
        obs, reward, terminated, truncated, _ = reference.step(action)
        over = terminated or truncated
        for name, value in zip(
            ("actions", "obs", "reward", "terminated", "truncated"),
            (action, obs.tolist(), reward, terminated, truncated),
        ):
            episode[name].append(value)
    return episode


@pytest.mark.parametrize("case", list(CASES))
def test_same_maze_and_actions_give_popgym_observations_rewards_and_ends(case):
    """Two seeds of two policies: observations, rewards, terminated and truncated agree at every step, through
    the end of the episode (by termination, and by truncation after 1023 steps); auto-reset starts a new maze."""
    env, reference = task(case), reference_env(case)
    rng = np.random.default_rng(1)
    states, episodes = [], []
    for seed in range(2):
        for policy in ("guided", "blocked"):
            episode = play_popgym(reference, seed, policy, rng)
            assert (
                episode["terminated"][-1]
                if policy == "guided"
                else (episode["truncated"][-1] and len(episode["actions"]) == 1023)
            )
            reference.reset(seed=seed)
            maze = reference.maze
            grid = jnp.asarray(maze.grid, jnp.int8)
            state = env.first_state(
                grid, jnp.asarray(maze.start), jnp.asarray(maze.end), start_build(jnp.float32(0.5), env.rooms)
            )
            assert decode(env.observe(state, NO_ACTION)) == episode["obs"][0]
            states.append(state)
            episodes.append(episode)
    trajectory = player(case)(stack(states), [episode["actions"] for episode in episodes])
    for index, episode in enumerate(episodes):
        steps = len(episode["actions"])
        np.testing.assert_allclose(trajectory["reward"][index, :steps], episode["reward"], atol=1e-6)
        np.testing.assert_array_equal(trajectory["terminated"][index, :steps], episode["terminated"])
        np.testing.assert_array_equal(trajectory["truncated"][index, :steps], episode["truncated"])
        assert [decode(obs) for obs in trajectory["final_observation"][index, :steps]] == episode["obs"][1:]
        assert trajectory["time"][index, steps - 1] == 0
        assert_episode_start(env, trajectory["grid"][index, steps - 1], trajectory["position"][index, steps - 1])
        assert decode(trajectory["obs"][index, steps - 1])[-1] == NO_ACTION


def test_every_reset_maze_is_perfect_with_popgym_entrances():
    """512 resets: perfect mazes, POPGym's entrances and exits, the first observation, a new maze per key."""
    env = task("Escape-Easy")
    obs, state = mazes("Escape-Easy")
    for index in range(NUM_MAZES):
        assert_episode_start(env, state.grid[index], state.position[index])
        assert state.time[index] == 0 and decode(obs[index])[-1] == NO_ACTION
    np.testing.assert_array_equal(obs[0], env.observe(jax.tree.map(lambda leaf: leaf[0], state), NO_ACTION))
    assert len({grid.tobytes() for grid in state.grid}) > 0.99 * NUM_MAZES


def maze_statistics(grid, entrance, exit_square):
    """Dead-end rooms (one open side) and the length of the path from the entrance to the exit."""
    open_sides = sum(
        (side != OBSTACLE).astype(int) for side in (grid[:-2, 1:-1], grid[2:, 1:-1], grid[1:-1, :-2], grid[1:-1, 2:])
    )
    return np.sum(open_sides[::2, ::2] == 1), distances(grid, [exit_square])[tuple(entrance)]


def test_mazes_follow_mazelib_hunt_and_kill():
    """Mean dead ends and entrance-to-exit path lengths of our Easy mazes agree with POPGym's within 4.5 standard
    errors (randomized Prim's, which grows from a uniform open room at every step, fails it: more dead ends)."""
    _, state = mazes("Escape-Easy")
    ours = np.array(
        [
            maze_statistics(grid, entrance, np.argwhere(grid == GOAL)[0])
            for grid, entrance in zip(state.grid, state.position)
        ],
        float,
    )
    reference = reference_env("Escape-Easy")
    theirs = []
    for seed in range(300):
        reference.reset(seed=seed)
        theirs.append(maze_statistics(reference.maze.grid, reference.maze.start, reference.maze.end))
    theirs = np.array(theirs, float)
    error = np.sqrt(ours.var(axis=0) / len(ours) + theirs.var(axis=0) / len(theirs))
    assert np.all(np.abs(ours.mean(axis=0) - theirs.mean(axis=0)) < 4.5 * error), (
        ours.mean(axis=0),
        theirs.mean(axis=0),
    )


def escape_walk(grid, entrance):
    """Actions along the shortest path to the exit."""
    distance = distances(grid, np.argwhere(grid == GOAL))
    position, actions = tuple(entrance), []
    while grid[position] != GOAL:
        actions.append(step_towards(grid, position, distance))
        position = after(grid, position, actions[-1])
    return actions


def explore_walk(grid, entrance):
    """Actions of a depth-first walk over every square that enters the deepest branch last and stays there."""
    depth = distances(grid, [entrance])

    def children(square):
        return [after(grid, square, a) for a in range(4) if depth[after(grid, square, a)] == depth[square] + 1]

    @functools.lru_cache(maxsize=None)
    def height(square):
        return 1 + max((height(child) for child in children(square)), default=0)

    path = [tuple(entrance)]

    def visit(square, stays):
        branches = sorted(children(square), key=height)
        for index, child in enumerate(branches):
            path.append(child)
            last = stays and index == len(branches) - 1
            visit(child, last)
            if not last:
                path.append(square)

    visit(tuple(entrance), True)
    return [next(a for a in range(4) if after(grid, here, a) == there) for here, there in zip(path, path[1:])]


@pytest.mark.parametrize("case", list(CASES))
def test_oracle_reaches_the_maximum_return_and_the_next_maze_is_ready(case):
    """Escape: 1 - L / 1024 along the shortest path of L steps. Explore: 1 - (F - D) / 1024 for the walk of
    2F - D steps, F free squares, D the farthest square's distance. Both terminate at their last step, and
    auto-reset starts a perfect maze built while the (shortest possible) episode ran."""
    env = task(case)
    reference = reference_env(case)
    states, walks, best = [], [], []
    for seed in range(BATCH):
        reference.reset(seed=seed)
        maze = reference.maze
        grid = jnp.asarray(maze.grid, jnp.int8)
        states.append(
            env.first_state(
                grid, jnp.asarray(maze.start), jnp.asarray(maze.end), start_build(jnp.float32(seed / BATCH), env.rooms)
            )
        )
        if isinstance(env, LabyrinthEscape):
            walks.append(escape_walk(maze.grid, maze.start))
            best.append(1 - len(walks[-1]) / env.episode_length)
        else:
            walks.append(explore_walk(maze.grid, maze.start))
            free, farthest = np.sum(maze.grid == FREE), distances(maze.grid, [maze.start]).max()
            assert len(walks[-1]) == 2 * free - farthest
            best.append(1 - (free - farthest) / env.episode_length)
    trajectory = player(case)(stack(states), walks)
    for index, walk in enumerate(walks):
        steps = len(walk)
        assert trajectory["reward"][index, :steps].sum() == pytest.approx(best[index], abs=1e-5)
        assert np.array_equal(np.nonzero(trajectory["terminated"][index, :steps])[0], [steps - 1])
        assert not trajectory["truncated"][index, :steps].any()
        assert_episode_start(env, trajectory["grid"][index, steps - 1], trajectory["position"][index, steps - 1])


def test_a_time_limit_shorter_than_the_maze_build_still_starts_perfect_mazes():
    """Under jit, vmap and scan with a time limit of 7 steps (the next maze needs 8 steps at 3 rooms a step):
    random play truncates every 7th step, never terminates, and every auto-reset starts a new perfect maze."""
    env = task("Escape-Easy")
    assert env.rooms_per_step * 7 < env.rooms**2 - 1
    _, state = mazes("Escape-Easy")
    rng = np.random.default_rng(0)
    actions = rng.integers(0, 4, (BATCH, env.episode_length - 1))
    trajectory = player("Escape-Easy")(
        jax.tree.map(lambda leaf: leaf[:BATCH], state), actions, EnvParams(max_steps_in_episode=7)
    )
    steps = env.episode_length - 1
    assert trajectory["obs"].shape == (BATCH, steps, 50) and trajectory["obs"].dtype == np.float32
    ends = np.zeros((BATCH, steps), bool)
    ends[:, 6::7] = True
    np.testing.assert_array_equal(trajectory["truncated"], ends)
    assert not trajectory["terminated"].any()
    for index, t in zip(*np.nonzero(ends)):
        assert_episode_start(env, trajectory["grid"][index, t], trajectory["position"][index, t])
    grids = trajectory["grid"][ends]
    assert len({grid.tobytes() for grid in grids}) > 0.99 * len(grids)


@pytest.mark.parametrize("cls", [LabyrinthEscape, LabyrinthExplore])
def test_bad_sizes_and_actions_are_refused(cls):
    for size in (9, 4):
        with pytest.raises(ValueError, match=f"{cls.__name__}: size is {size}; expected an even number of at least 6"):
            cls(size=size)
    with pytest.raises(ValueError, match="episode_length is 1; expected at least 2"):
        cls(episode_length=1)
    with pytest.raises(ValueError, match="Discrete\\(4\\)"):
        cls().check_action(np.asarray(4))
