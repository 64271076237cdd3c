"""Every environment under jit and vmap; the built-in suite against scripted oracles and random play."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from memorax.environments import RecordEpisodeStatistics, TMaze, make, memorax_ids
from memorax.environments import cards
from memorax.environments.popgym import (
    Autoencode,
    Battleship,
    CountRecall,
    HigherLower,
    MineSweeper,
    MultiarmedBandit,
    RepeatFirst,
    RepeatPrevious,
    StatelessCartPole,
)

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
            current, following = cards.rank(s.deck[s.time]), cards.rank(s.deck[s.time + 1])
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
    if isinstance(env, TMaze):

        def tmaze(key, s):
            at_junction = s.position == env.corridor_length
            return jnp.where(at_junction, jnp.where(s.cue == 0, 0, 2), 1), at_junction

        return tmaze
    raise NotImplementedError(type(env))


def balance(state):
    """A linear controller on CartPole's full state (push right when the pole falls right)."""
    return jnp.asarray(state.theta + 0.5 * state.theta_dot + 0.05 * state.x + 0.1 * state.x_dot > 0, jnp.int32)


@functools.lru_cache(maxsize=None)
def rollout(env_id, policy_name, seed=0, num_envs=NUM_ENVS):
    """Runs ``num_envs`` environments for one episode limit plus one step; returns numpy arrays."""
    env, params = make(env_id)
    wrapped = RecordEpisodeStatistics(env)
    policy = oracle(env) if policy_name == "oracle" else random_policy(env, params)
    steps = int(params.max_steps_in_episode) + 1

    @jax.jit
    def run(key):
        reset_key, run_key = jax.random.split(key)
        obs, state = jax.vmap(wrapped.reset, (0, None))(jax.random.split(reset_key, num_envs), params)

        def step(carry, key):
            obs, state = carry
            act_key, step_key = jax.random.split(key)
            action, matters = jax.vmap(policy)(jax.random.split(act_key, num_envs), state.env_state)
            next_obs, state, reward, terminated, truncated, info = jax.vmap(wrapped.step, (0, 0, 0, None))(
                jax.random.split(step_key, num_envs), state, action, params
            )
            out = dict(obs=obs, action=action, matters=matters, reward=reward, terminated=terminated, truncated=truncated)
            return (next_obs, state), {**out, **{f"episode_{k}": v for k, v in info["episode"].items()}}

        _, trajectory = jax.lax.scan(step, (obs, state), jax.random.split(run_key, steps))
        return trajectory

    return jax.tree.map(np.asarray, run(jax.random.key(seed)))


def finished_returns(trajectory):
    return trajectory["episode_return"][trajectory["episode_done"]]


@pytest.mark.parametrize("env_id", MEMORAX + GYMNAX)
def test_jit_vmap_spaces_auto_reset_and_determinism(env_id):
    env, params = make(env_id)
    trajectory = rollout(env_id, "random")
    space = env.observation_space(params)
    obs = trajectory["obs"]
    assert obs.shape[2:] == tuple(space.shape)
    assert np.all(obs >= np.asarray(space.low) - 1e-6) and np.all(obs <= np.asarray(space.high) + 1e-6)
    assert np.all(np.isfinite(trajectory["reward"]))
    assert trajectory["episode_done"].any(axis=0).all(), "every environment ends an episode within its limit"
    # After an episode ends, the next one starts from a fresh reset: its length counter restarts.
    done = trajectory["episode_done"]
    lengths = trajectory["episode_length"]
    assert np.all(lengths[1:][done[:-1]] == 1)
    again = rollout.__wrapped__(env_id, "random")
    jax.tree.map(np.testing.assert_array_equal, trajectory, again)


RETURN_BOUNDS = {"Battleship": None, "StatelessCartPole": (0.0, 1.0), "NoisyStatelessCartPole": (0.0, 1.0)}


@pytest.mark.parametrize("env_id", MEMORAX)
def test_episode_returns_within_bounds(env_id):
    env, _ = make(env_id)
    task = env_id.removeprefix("memorax::").split("-")[0]
    low, high = RETURN_BOUNDS.get(task, (-1.0, 1.0)) or (-env.num_actions / (env.num_actions - env.needed_hits), 1.0)
    for policy in ("random", "oracle"):
        returns = finished_returns(rollout(env_id, policy))
        assert returns.size and np.all(returns >= low - 1e-5) and np.all(returns <= high + 1e-5), (policy, returns.min(), returns.max())


@pytest.mark.parametrize("env_id", [i for i in MEMORAX if "MultiarmedBandit" not in i and "HigherLower" not in i])
def test_oracle_reaches_the_maximum_return(env_id):
    returns = finished_returns(rollout(env_id, "oracle"))
    assert returns.size >= NUM_ENVS
    np.testing.assert_allclose(returns, 1.0, atol=1e-4)


@pytest.mark.parametrize("level", ["Easy", "Hard"])
def test_higher_lower_oracle_is_never_wrong(level):
    trajectory = rollout(f"memorax::HigherLower-{level}", "oracle")
    assert trajectory["reward"].min() == 0.0
    assert finished_returns(trajectory).mean() > 0.9


@pytest.mark.parametrize("level, num_bandits", [("Easy", 10), ("Hard", 30)])
def test_bandit_oracle_earns_the_expected_maximum(level, num_bandits):
    """Pulling the best of K uniform arms pays 2 E[max p] - 1 = (K - 1) / (K + 1) in expectation."""
    returns = finished_returns(rollout(f"memorax::MultiarmedBandit-{level}", "oracle"))
    expected = (num_bandits - 1) / (num_bandits + 1)
    assert abs(returns.mean() - expected) < 4 * returns.std() / np.sqrt(returns.size) + 0.01


def expected_random_return(env):
    """Analytic expected return of uniformly random actions, where it has a closed form."""
    if isinstance(env, (RepeatPrevious, RepeatFirst, Autoencode)):
        return 2 / 4 - 1  # right with probability 1/4 at every scored step
    if isinstance(env, CountRecall):
        return 2 / env.num_actions - 1
    if isinstance(env, (HigherLower, MultiarmedBandit)):
        return 0.0
    return None


@pytest.mark.parametrize("env_id", MEMORAX)
def test_random_policy_is_near_the_expected_random_return(env_id):
    env, _ = make(env_id)
    expected = expected_random_return(env)
    if expected is None:
        pytest.skip("no closed form: tests/test_popgym_reference.py compares with POPGym's own random returns")
    returns = finished_returns(rollout(env_id, "random"))
    assert abs(returns.mean() - expected) < 4 * returns.std() / np.sqrt(returns.size) + 1e-3, (returns.mean(), expected)


@pytest.mark.parametrize("env_id", [i for i in MEMORAX if "CartPole" not in i])
def test_optimal_action_is_not_a_function_of_the_observation(env_id):
    """Two steps with the same observation where the oracle's (mattering) actions differ."""
    trajectory = rollout(env_id, "oracle")
    matters = trajectory["matters"]
    obs = trajectory["obs"][matters].reshape(int(matters.sum()), -1)
    actions = trajectory["action"][matters]
    seen = {}
    for o, a in zip(map(bytes, np.round(obs, 6)), actions):
        seen.setdefault(o, set()).add(int(a))
    assert any(len(a) > 1 for a in seen.values())


@pytest.mark.parametrize("env_id", ["memorax::StatelessCartPole-Easy", "memorax::NoisyStatelessCartPole-Easy"])
def test_stateless_cartpole_hides_what_the_controller_needs(env_id):
    """Same [x, θ], opposite velocities: the balancing controller pushes opposite ways."""
    env, params = make(env_id)
    _, state = env.reset(jax.random.key(0), params)
    falling_right = state.replace(x=0.0, theta=0.0, x_dot=0.0, theta_dot=0.5)
    falling_left = falling_right.replace(theta_dot=-0.5)
    key = jax.random.key(1)
    assert np.allclose(env.observe(key, falling_right, None, params), env.observe(key, falling_left, None, params))
    assert balance(falling_right) != balance(falling_left)


def test_tmaze_cue_only_at_the_first_step():
    env, params = make("memorax::TMaze", corridor_length=3)
    assert env.corridor_length == 3 and params.max_steps_in_episode == 16
    obs, state = env.reset(jax.random.key(0), params)
    assert obs[state.cue] == 1
    for _ in range(3):
        obs, state, *_ = env.step(jax.random.key(1), state, 1, params)
        assert obs[2 if state.position < 3 else 3] == 1


def test_unknown_namespace_and_ids_list_the_valid_choices():
    with pytest.raises(ValueError, match=r"namespace in \['gymnax', 'memorax'\]"):
        make("RepeatPrevious-Easy")
    with pytest.raises(ValueError, match=r"RepeatPrevious has no difficulty 'Impossible'; valid ids: RepeatPrevious-Easy"):
        make("memorax::RepeatPrevious-Impossible")
    with pytest.raises(ValueError, match=r"unknown memorax environment 'Pong'.*TMaze"):
        make("memorax::Pong")
    with pytest.raises(ValueError, match=r"unknown gymnax environment 'Nope'.*CartPole-v1"):
        make("gymnax::Nope")


def test_action_outside_the_space_is_refused_eagerly_and_clipped_under_jit():
    env, params = make("memorax::RepeatFirst-Easy")
    _, state = env.reset(jax.random.key(0), params)
    with pytest.raises(ValueError, match=r"RepeatFirst: action 4 is outside the action space Discrete\(4\)"):
        env.step(jax.random.key(1), state, 4, params)
    with pytest.raises(ValueError, match=r"action 1.5 is outside"):
        env.step(jax.random.key(1), state, 1.5, params)
    step = jax.jit(env.step)
    np.testing.assert_array_equal(step(jax.random.key(1), state, 7, params)[2], step(jax.random.key(1), state, 3, params)[2])
    np.testing.assert_array_equal(step(jax.random.key(1), state, -2, params)[2], step(jax.random.key(1), state, 0, params)[2])
