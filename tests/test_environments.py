"""Every environment under jit and vmap; the built-in suite against scripted oracles and random play."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from rollouts import GYMNAX, MEMORAX, NUM_ENVS, balance, finished_returns, hold_up, rollout, rollout_player, rollout_program

from memorax.environments import make
from memorax.environments.popgym import (
    Autoencode,
    CountRecall,
    HigherLower,
    MultiarmedBandit,
    RepeatFirst,
    RepeatPrevious,
)


def labyrinths_optimized(env_ids: list[str]) -> list:
    """``env_ids``, the labyrinths marked ``optimized`` (see conftest.py): their oracle plans a path at every step.

    A rollout program is compiled once per module, by the first test that plays it, at that test's level.
    """
    return [pytest.param(env_id, marks=pytest.mark.optimized) if "Labyrinth" in env_id else env_id for env_id in env_ids]


@pytest.mark.parametrize("env_id", labyrinths_optimized(MEMORAX + GYMNAX))
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
    # No randomness outside the key: traced afresh, the program is the one compiled for the rollout (no draw at
    # trace time; that trace is jit's cached one), and run again with the same key it gives the same trajectory
    # (no draw at run time).
    args = (jax.random.key(0), jnp.array(False))
    traced = [program.trace(*args).jaxpr for program in (rollout_program(env_id), rollout_player(env_id).program)]
    assert str(traced[0]) == str(traced[1])
    jax.tree.map(np.testing.assert_array_equal, traced[0].consts, traced[1].consts)
    jax.tree.map(np.testing.assert_array_equal, trajectory, rollout_player(env_id)(jax.random.key(0), "random"))


RETURN_BOUNDS = {"PositionOnlyPendulum": (-1.0, 1.0), "NoisyPositionOnlyPendulum": (-1.0, 1.0), "Battleship": None, "StatelessCartPole": (0.0, 1.0), "NoisyStatelessCartPole": (0.0, 1.0), "VelocityOnlyCartPole": (0.0, 1.0)}


@pytest.mark.parametrize("env_id", labyrinths_optimized(MEMORAX))
def test_episode_returns_within_bounds(env_id):
    env, _ = make(env_id)
    task = env_id.removeprefix("memorax::").split("-")[0]
    low, high = RETURN_BOUNDS.get(task, (-1.0, 1.0)) or (-env.num_actions / (env.num_actions - env.needed_hits), 1.0)
    for policy in ("random", "oracle"):
        returns = finished_returns(rollout(env_id, policy))
        assert returns.size and np.all(returns >= low - 1e-5) and np.all(returns <= high + 1e-5), (policy, returns.min(), returns.max())


# A pendulum that starts hanging cannot earn the maximum (0 cost at every step): no oracle reaches it.
# Labyrinths pay 1 less a cost per step: tests/test_popgym_labyrinths.py checks their oracles' exact maxima.
@pytest.mark.parametrize(
    "env_id", [i for i in MEMORAX if not any(task in i for task in ("MultiarmedBandit", "HigherLower", "Pendulum", "Labyrinth"))]
)
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


# Tasks without a closed form are compared with POPGym's own random returns in test_popgym_reference.py.
@pytest.mark.parametrize("env_id", [i for i in MEMORAX if expected_random_return(make(i)[0]) is not None])
def test_random_policy_is_near_the_expected_random_return(env_id):
    env, _ = make(env_id)
    expected = expected_random_return(env)
    returns = finished_returns(rollout(env_id, "random"))
    assert abs(returns.mean() - expected) < 4 * returns.std() / np.sqrt(returns.size) + 1e-3, (returns.mean(), expected)


@pytest.mark.parametrize("env_id", [i for i in MEMORAX if "CartPole" not in i and "Pendulum" not in i])
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


@pytest.mark.parametrize("env_id", ["memorax::PositionOnlyPendulum-Easy", "memorax::NoisyPositionOnlyPendulum-Easy"])
def test_position_only_pendulum_hides_what_the_controller_needs(env_id):
    """Same [cos θ, sin θ], opposite angular velocities: the controller that holds the pendulum up pushes opposite ways."""
    env, params = make(env_id)
    _, state = env.reset(jax.random.key(0), params)
    turning_left = state.replace(theta=jnp.array(0.1), theta_dot=jnp.array(1.5))
    turning_right = turning_left.replace(theta_dot=jnp.array(-1.5))
    key = jax.random.key(1)
    assert np.allclose(env.observe(key, turning_left), env.observe(key, turning_right))
    assert float(hold_up(turning_left)[0]) * float(hold_up(turning_right)[0]) < 0


def test_tmaze_cue_only_at_the_first_step():
    env, params = make("memorax::TMaze", corridor_length=3)
    assert env.corridor_length == 3 and params.max_steps_in_episode == 16
    obs, state = env.reset(jax.random.key(0), params)
    assert obs[state.cue] == 1
    for _ in range(3):
        obs, state, *_ = env.step(jax.random.key(1), state, 1, params)
        assert obs[2 if state.position < 3 else 3] == 1


def test_unknown_namespace_and_ids_list_the_valid_choices():
    with pytest.raises(ValueError, match=r"namespace in \['gymnax', 'memorax', 'popgym_arcade', 'pobax', 'navix', 'xminigrid', 'craftax', 'brax'\]"):
        make("RepeatPrevious-Easy")
    with pytest.raises(ValueError, match=r"RepeatPrevious has no difficulty 'Impossible'; valid ids: RepeatPrevious-Easy"):
        make("memorax::RepeatPrevious-Impossible")
    with pytest.raises(ValueError, match=r"unknown memorax environment 'Pong'.*TMaze"):
        make("memorax::Pong")
    with pytest.raises(ValueError, match=r"unknown gymnax environment 'Nope'.*CartPole-v1"):
        make("gymnax::Nope")
    with pytest.raises(ValueError, match=r"unknown navix environment 'Nope'; valid ids: .*Navix-Empty-5x5-v0"):
        make("navix::Nope")


@pytest.mark.parametrize(
    "env_id, arguments, message",
    [
        ("memorax::TMaze", dict(corridor_length=2.5), r"memorax::TMaze's corridor_length is 2.5; expected an integer"),
        ("memorax::TMaze", dict(corridor_length=True), r"corridor_length is True; expected an integer"),
        ("memorax::Battleship-Easy", dict(ship_sizes=(2, 3.5)), r"ship_sizes is \(2, 3.5\); expected a tuple of integers"),
        ("memorax::CountRecall-Easy", dict(deck_type=3), r"deck_type is 3; expected a string"),
    ],
)
def test_an_argument_of_another_type_than_the_environment_declares_is_named(env_id, arguments, message):
    """TMaze(corridor_length=2.5) was built, and failed only when train traced its step."""
    with pytest.raises(ValueError, match=message):
        make(env_id, **arguments)
    make("memorax::StatelessCartPole-Easy", noise_std=1)  # an int is a float
    make("memorax::StatelessCartPole-Easy", max_steps=jnp.int32(100), noise_std=np.float32(0.1))  # NumPy's and JAX's scalars
    make("memorax::Battleship-Easy", ship_sizes=np.array([2, 3]))


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


@pytest.mark.parametrize(
    "env_id, limit, steps",
    [("memorax::RepeatPrevious-Easy", None, 51), ("memorax::RepeatPrevious-Easy", 5, 5), ("memorax::Concentration-Easy", 5, 5)],
)
def test_card_games_start_each_episode_with_a_fresh_uniform_shuffle(env_id, limit, steps):
    """The deck built one Fisher-Yates swap per step is a uniform permutation, new every episode, even after
    an episode truncated by a time limit before its swaps were done; a game's own length only terminates."""
    from scipy.stats import chisquare

    env, params = make(env_id)
    params = params if limit is None else params.replace(max_steps_in_episode=limit)
    num_envs = 2048

    @jax.jit
    def decks_after_first_episode(key):
        obs, state = jax.vmap(env.reset, (0, None))(jax.random.split(key, num_envs), params)

        def step(state, key):
            _, state, _, terminated, truncated, _ = jax.vmap(env.step, (0, 0, 0, None))(
                jax.random.split(key, num_envs), state, jnp.zeros(num_envs, int), params
            )
            return state, (terminated, truncated)

        first = state.decks[:, 0]
        state, ends = jax.lax.scan(step, state, jax.random.split(key, steps))
        return first, state, ends

    first, state, (terminated, truncated) = decks_after_first_episode(jax.random.key(3))
    np.testing.assert_array_equal(np.asarray(truncated).any(axis=1), np.arange(steps) == steps - 1 if limit else False)
    if env_id.endswith("RepeatPrevious-Easy"):
        np.testing.assert_array_equal(np.asarray(terminated).all(axis=1), np.arange(steps) == steps - 1 if not limit else False)
    second = np.asarray(state.decks[:, 0])
    assert np.all(np.asarray(state.time) == 0)
    assert np.all(np.sort(second, axis=1) == np.arange(52))
    assert not np.any(np.all(second == np.asarray(first), axis=1))
    # A uniform permutation has one fixed point on average (Sattolo's cyclic shuffle has none).
    assert abs(np.mean(np.sum(second == np.arange(52), axis=1)) - 1) < 0.1
    for position in (0, 1, 25, 50, 51):
        counts = np.bincount(second[:, position], minlength=52)
        assert chisquare(counts).pvalue > 1e-4, position
