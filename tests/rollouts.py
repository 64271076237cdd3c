"""Rollouts of the built-in suite shared by the environment tests: random play and oracles."""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from memorax.environments import RecordEpisodeStatistics, TMaze, cards, make, memorax_ids
from memorax.environments.popgym import (
    Autoencode,
    Battleship,
    Concentration,
    CountRecall,
    HigherLower,
    LabyrinthEscape,
    MineSweeper,
    MultiarmedBandit,
    PositionOnlyPendulum,
    RepeatFirst,
    RepeatPrevious,
    StatelessCartPole,
)
from memorax.environments.popgym.maze import GOAL, OBSTACLE, Labyrinth, moved

MEMORAX = [f"memorax::{i}" for i in memorax_ids()]
GYMNAX = ["gymnax::CartPole-v1", "gymnax::MemoryChain-bsuite"]
NUM_ENVS = 64


def random_policy(env, params):
    space = env.action_space(params)
    return lambda key, state: (space.sample(key), jnp.array(True))


def oracle(env):
    """A policy that reads the hidden state: ``(key, state) -> (action, whether the action matters)``."""
    if isinstance(env, RepeatPrevious):
        return lambda key, s: (env.target(s), s.time + 1 >= env.k)
    if isinstance(env, (RepeatFirst, CountRecall)):
        return lambda key, s: (env.target(s), jnp.array(True))
    if isinstance(env, Autoencode):
        return lambda key, s: (env.target(s), s.time >= env.num_cards - 1)
    if isinstance(env, HigherLower):

        def higher_lower(key, s):
            current, following = cards.rank(s.decks[0, s.time]), cards.rank(s.decks[0, s.time + 1])
            return jnp.where(following > current, 0, 1), following != current

        return higher_lower
    if isinstance(env, MultiarmedBandit):
        return lambda key, s: (jnp.argmax(s.payout_probabilities), jnp.array(True))
    if isinstance(env, MineSweeper):
        return lambda key, s: (jnp.argmax(~s.mines & ~s.viewed), jnp.array(True))
    if isinstance(env, Battleship):
        return lambda key, s: (jnp.argmax(s.board & ~s.guesses), jnp.array(True))
    if isinstance(env, StatelessCartPole):
        return lambda key, s: (balance(s), jnp.array(True))
    if isinstance(env, PositionOnlyPendulum):
        return lambda key, s: (hold_up(s), jnp.array(True))
    if isinstance(env, Concentration):

        def concentration(key, s):
            kinds = env.kind(s.decks[0])
            partner = ~s.matched & (kinds == kinds[s.first]) & (jnp.arange(env.num_cards) != s.first)
            return jnp.where(s.first < 0, jnp.argmax(~s.matched), jnp.argmax(partner)), s.first >= 0

        return concentration
    if isinstance(env, Labyrinth):

        def labyrinth(key, s):  # one step along a shortest path to the nearest exit / unexplored square
            passable = s.grid != OBSTACLE
            targets = s.grid == GOAL if isinstance(env, LabyrinthEscape) else passable & ~s.explored
            far = s.grid.size

            def relax(distance):
                padded = jnp.pad(distance, 1, constant_values=far)
                near = jnp.minimum(
                    jnp.minimum(padded[:-2, 1:-1], padded[2:, 1:-1]), jnp.minimum(padded[1:-1, :-2], padded[1:-1, 2:])
                )
                return jnp.where(passable & ~targets, jnp.minimum(distance, near + 1), distance)

            # Relaxing k times makes exact every distance up to k (farther ones stay far, never the minimum), so it can
            # stop once the agent's own is exact (d): its neighbours on a shortest path, at d - 1, are too. At least
            # once, for an agent standing on a target.
            def unsettled(loop):
                i, distance = loop
                return (i < 2 * env.rooms**2 + 1) & ((i == 0) | (distance[s.position[0], s.position[1]] == far))

            def relaxed(loop):
                i, distance = loop
                return i + 1, relax(distance)

            _, distance = jax.lax.while_loop(unsettled, relaxed, (0, jnp.where(targets, 0, far)))
            moves = (moved(s.grid, s.position, action) for action in range(4))
            cost = jnp.stack([jnp.where((p == s.position).all(), far, distance[p[0], p[1]]) for p in moves])
            return jnp.argmin(cost), jnp.array(True)

        return labyrinth
    if isinstance(env, TMaze):

        def tmaze(key, s):
            at_junction = s.position == env.corridor_length
            return jnp.where(at_junction, jnp.where(s.cue == 0, 0, 2), 1), at_junction

        return tmaze
    raise NotImplementedError(type(env))


def hold_up(state):
    """A PD controller on the pendulum's full state towards upright, ``[-2, 2]``: it holds the pendulum up once there."""
    angle = (state.theta + jnp.pi) % (2 * jnp.pi) - jnp.pi
    return jnp.clip(-10.0 * angle - 2.0 * state.theta_dot, -2.0, 2.0)[None]


def balance(state):
    """A linear controller on CartPole's full state (push right when the pole falls right)."""
    return jnp.asarray(state.theta + 0.5 * state.theta_dot + 0.05 * state.x + 0.1 * state.x_dot > 0, jnp.int32)


def player(env, params, policy, num_envs, steps):
    """A jitted ``(key, *args) -> trajectory``: ``num_envs`` environments stepped ``steps`` times by ``policy(key, state, *args) -> (action, matters)``.

    Trajectories are time-major numpy arrays: the observation acted on
    (``obs``), the one returned (``next_obs``), ``action``, ``matters``,
    ``reward``, ``terminated``, ``truncated`` and ``info``.
    """

    @jax.jit
    def run(key, *args):
        reset_key, run_key = jax.random.split(key)
        obs, state = jax.vmap(env.reset, (0, None))(jax.random.split(reset_key, num_envs), params)

        def step(carry, key):
            obs, state = carry
            act_key, step_key = jax.random.split(key)
            action, matters = jax.vmap(lambda key, state: policy(key, state, *args))(jax.random.split(act_key, num_envs), state)
            next_obs, state, reward, terminated, truncated, info = jax.vmap(env.step, (0, 0, 0, None))(
                jax.random.split(step_key, num_envs), state, action, params
            )
            out = dict(obs=obs, next_obs=next_obs, action=action, matters=matters, reward=reward)
            return (next_obs, state), dict(out, terminated=terminated, truncated=truncated, info=info)

        return jax.lax.scan(step, (obs, state), jax.random.split(run_key, steps))[1]

    return run


def play(env, params, policy, key, num_envs, steps):
    """One trajectory of :func:`player`, as numpy arrays."""
    return jax.tree.map(np.asarray, player(env, params, policy, num_envs, steps)(key))


def rollout_program(env_id, num_envs=NUM_ENVS):
    """The jitted ``(key, use_oracle) -> trajectory`` of ``num_envs`` environments for one episode limit plus one step.

    One compilation serves both policies, the random one and the oracle: which one acts is an argument, and a
    ``lax.cond`` on it (unbatched, so it stays a branch under vmap) runs only that one: the labyrinths' oracle
    plans a path at every step, eight times the cost of stepping at random.
    """
    env, params = make(env_id)
    random = random_policy(env, params)
    scripted = oracle(env) if env_id.startswith("memorax::") else random
    dtype = env.action_space(params).dtype

    def acting(policy):
        def act(key, state):
            action, matters = policy(key, state.env_state)
            return jnp.asarray(action, dtype), jnp.asarray(matters, bool)

        return act

    def policy(key, state, use_oracle):
        return jax.lax.cond(use_oracle, acting(scripted), acting(random), key, state)

    steps = int(params.max_steps_in_episode) + 1
    return player(RecordEpisodeStatistics(env), params, policy, num_envs, steps)


@functools.lru_cache(maxsize=None)
def rollout_player(env_id, num_envs=NUM_ENVS):
    """A compiled ``(key, policy_name) -> trajectory`` of :func:`rollout_program`, for ``"random"`` or ``"oracle"``.

    Trajectories are numpy arrays and carry the episode statistics as ``episode_*``; ``.program`` is the jitted
    :func:`rollout_program`.
    """
    run = rollout_program(env_id, num_envs)

    def trajectory(key, policy_name):
        trajectory = jax.tree.map(np.asarray, run(key, jnp.array(policy_name == "oracle")))
        episode = trajectory.pop("info")["episode"]
        return {**trajectory, **{f"episode_{k}": v for k, v in episode.items()}}

    trajectory.program = run
    return trajectory


@functools.lru_cache(maxsize=None)
def rollout(env_id, policy_name, seed=0, num_envs=NUM_ENVS):
    """The trajectory of :func:`rollout_player` for ``policy_name`` and ``seed``."""
    return rollout_player(env_id, num_envs)(jax.random.key(seed), policy_name)


def finished_returns(trajectory):
    return trajectory["episode_return"][trajectory["episode_done"]]
