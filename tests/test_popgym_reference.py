"""The built-in suite against POPGym 1.0.7 (numpy), driven by the same hidden state and actions."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnax.environments.classic_control import cartpole, pendulum
from popgym.envs.autoencode import AutoencodeEasy
from popgym.envs.battleship import BattleshipEasy
from popgym.envs.count_recall import CountRecallEasy, CountRecallHard
from popgym.envs.higher_lower import HigherLowerEasy
from popgym.envs.minesweeper import MineSweeperEasy
from popgym.envs.multiarmed_bandit import MultiarmedBanditEasy
from popgym.envs.noisy_position_only_cartpole import NoisyPositionOnlyCartPoleEasy
from popgym.envs.noisy_position_only_pendulum import NoisyPositionOnlyPendulumEasy
from popgym.envs.position_only_cartpole import PositionOnlyCartPoleEasy
from popgym.envs.position_only_pendulum import PositionOnlyPendulumEasy, PositionOnlyPendulumHard
from popgym.envs.repeat_first import RepeatFirstEasy
from popgym.envs.repeat_previous import RepeatPreviousEasy, RepeatPreviousMedium
from popgym.envs.velocity_only_cartpole import VelocityOnlyCartPoleEasy, VelocityOnlyCartPoleHard
from rollouts import finished_returns, rollout

from memorax.environments import make
from memorax.environments.popgym.battleship import BattleshipState
from memorax.environments.popgym.multiarmed_bandit import MultiarmedBanditState


def dealt(deck):
    """POPGym deals from the end of its shuffled index array."""
    return jnp.asarray(deck.idx[::-1].copy())


def argmax_parts(sizes):
    """Decodes a concatenated one-hot observation into POPGym's integers."""

    def decode(obs):
        parts = np.split(np.asarray(obs), np.cumsum(sizes)[:-1])
        values = [int(p.argmax()) for p in parts]
        return values[0] if len(values) == 1 else values

    return decode


def as_list(obs):
    return obs.tolist() if isinstance(obs, np.ndarray) else list(obs) if isinstance(obs, tuple) else obs


CASES = {
    "RepeatPrevious-Easy": (RepeatPreviousEasy, lambda env, p: env.state_for(dealt(p.deck)), argmax_parts([4])),
    "RepeatPrevious-Medium": (RepeatPreviousMedium, lambda env, p: env.state_for(dealt(p.deck)), argmax_parts([4])),
    "RepeatFirst-Easy": (RepeatFirstEasy, lambda env, p: env.state_for(dealt(p.deck)), argmax_parts([4])),
    "CountRecall-Easy": (
        CountRecallEasy,
        lambda env, p: env.state_for(dealt(p.value_deck), dealt(p.query_deck)),
        argmax_parts([2, 2]),
    ),
    "CountRecall-Hard": (
        CountRecallHard,
        lambda env, p: env.state_for(dealt(p.value_deck), dealt(p.query_deck)),
        argmax_parts([13, 13]),
    ),
    "Autoencode-Easy": (AutoencodeEasy, lambda env, p: env.state_for(dealt(p.deck)), argmax_parts([2, 4])),
    "HigherLower-Easy": (HigherLowerEasy, lambda env, p: env.state_for(dealt(p.deck)), argmax_parts([13])),
    "MineSweeper-Easy": (MineSweeperEasy, None, argmax_parts([3])),
    "Battleship-Easy": (
        BattleshipEasy,
        lambda env, p: BattleshipState(
            board=jnp.asarray(p.board.reshape(-1) == 1), guesses=jnp.zeros(64, bool), hits=jnp.array(0), time=0
        ),
        argmax_parts([2]),
    ),
    "MultiarmedBandit-Easy": (MultiarmedBanditEasy, None, argmax_parts([2])),
    "StatelessCartPole-Easy": (PositionOnlyCartPoleEasy, None, None),
    "VelocityOnlyCartPole-Easy": (VelocityOnlyCartPoleEasy, None, None),
    "VelocityOnlyCartPole-Hard": (VelocityOnlyCartPoleHard, None, None),
    "PositionOnlyPendulum-Easy": (PositionOnlyPendulumEasy, None, None),
    "PositionOnlyPendulum-Hard": (PositionOnlyPendulumHard, None, None),
}


def random_action(env, params, rng):
    """A uniformly random action; torques from beyond the box, to check both clip them alike."""
    if "Pendulum" in env.name:
        return rng.uniform(-2.5, 2.5, size=(1,)).astype(np.float32)
    return int(rng.integers(env.num_actions))


def popgym_action(env_id, action):
    if env_id.startswith("MineSweeper"):
        return np.array(divmod(action, 4))
    if env_id.startswith("Battleship"):
        return list(divmod(action, 8))
    return action


@pytest.mark.parametrize("env_id", list(CASES))
def test_same_hidden_state_and_actions_give_same_rewards(env_id):
    env, params = make(f"memorax::{env_id}")
    make_reference, state_of, decode = CASES[env_id]
    step = jax.jit(env.step_env)
    rng = np.random.default_rng(0)
    for seed in range(3):
        reference = make_reference()
        reference.reset(seed=seed)
        if env_id.startswith("MineSweeper"):
            state = env.state_for(jnp.asarray(reference.hidden_grid.reshape(-1) == 1))
        elif env_id.startswith("MultiarmedBandit"):
            # Payout probabilities of 0 and 1 make both implementations' coin flips agree.
            reference.bandits = (rng.random(env.num_bandits) < 0.5).astype(np.float32)
            state = MultiarmedBanditState(payout_probabilities=jnp.asarray(reference.bandits), time=0)
        elif "Pendulum" in env_id:
            theta, theta_dot = (float(v) for v in reference.state)
            state = pendulum.EnvState(theta=theta, theta_dot=theta_dot, last_u=0.0, time=0)
        elif "CartPole" in env_id:
            x, x_dot, theta, theta_dot = (float(v) for v in reference.state)
            state = cartpole.EnvState(x=x, x_dot=x_dot, theta=theta, theta_dot=theta_dot, time=0)
        else:
            state = state_of(env, reference)
        for t in range(int(params.max_steps_in_episode)):
            if "Pendulum" in env_id:  # float64 there, float32 here: a chaotic pendulum would drift apart, so re-align it
                state = state.replace(theta=float(reference.state[0]), theta_dot=float(reference.state[1]))
            action = random_action(env, params, rng)
            ref_obs, ref_reward, ref_terminated, ref_truncated, _ = reference.step(popgym_action(env_id, action))
            obs, state, reward, terminated, _ = step(jax.random.key(t), state, action, params)
            assert float(reward) == pytest.approx(ref_reward, abs=1e-6), (seed, t)
            assert bool(terminated) == ref_terminated, (seed, t)
            if decode is None:
                np.testing.assert_allclose(obs, ref_obs, atol=1e-4)
            else:
                assert decode(obs) == as_list(ref_obs), (seed, t)
            truncated = bool(env.is_truncated(state, params))
            assert truncated == ref_truncated or (terminated and truncated), (seed, t)
            if ref_terminated or ref_truncated:
                break
        else:
            pytest.fail("the reference episode did not end within the episode limit")


RANDOM_RETURN_CASES = {
    "MineSweeper-Easy": MineSweeperEasy,
    "Battleship-Easy": BattleshipEasy,
    "StatelessCartPole-Easy": PositionOnlyCartPoleEasy,
    "NoisyStatelessCartPole-Easy": NoisyPositionOnlyCartPoleEasy,
    "VelocityOnlyCartPole-Easy": VelocityOnlyCartPoleEasy,
    "PositionOnlyPendulum-Easy": PositionOnlyPendulumEasy,
    "NoisyPositionOnlyPendulum-Easy": NoisyPositionOnlyPendulumEasy,
}


@pytest.mark.parametrize("env_id", list(RANDOM_RETURN_CASES))
def test_random_returns_match_popgym(env_id):
    """Mean returns of random play agree within 4 standard errors."""
    ours = finished_returns(rollout(f"memorax::{env_id}", "random"))
    env, _ = make(f"memorax::{env_id}")
    reference = RANDOM_RETURN_CASES[env_id]()
    rng = np.random.default_rng(1)
    theirs = []
    for seed in range(200):
        reference.reset(seed=seed)
        total, over = 0.0, False
        while not over:
            _, reward, terminated, truncated, _ = reference.step(popgym_action(env_id, random_action(env, None, rng)))
            total, over = total + reward, terminated or truncated
        theirs.append(total)
    theirs = np.array(theirs)
    error = np.sqrt(ours.var() / ours.size + theirs.var() / theirs.size)
    assert abs(ours.mean() - theirs.mean()) < 4 * error + 1e-3, (ours.mean(), theirs.mean())


def test_battleship_boards_follow_popgym_placement():
    """How often each cell holds a ship agrees with POPGym's redraw-until-it-fits placement."""
    env, params = make("memorax::Battleship-Easy")
    boards = jax.vmap(lambda k: env.reset(k, params)[1].board)(jax.random.split(jax.random.key(0), 4000))
    ours = np.asarray(boards).mean(axis=0)
    reference = BattleshipEasy()

    def reference_board(seed):
        reference.reset(seed=seed)
        return reference.board.reshape(-1)

    theirs = np.mean([reference_board(seed) for seed in range(2000)], axis=0)
    assert np.all(np.asarray(boards).sum(axis=1) == 12)
    error = np.sqrt(ours * (1 - ours) / 4000 + theirs * (1 - theirs) / 2000)
    assert np.all(np.abs(ours - theirs) < 4.5 * error + 1e-3)
    # The edges are where the two would differ first: corners hold fewer ships than the centre.
    assert ours[0] < ours[27]


def test_velocity_only_cartpole_starts_from_the_positions_as_popgym_does_and_popgym_names_work():
    """POPGym 1.0.7's VelocityOnlyCartPole.reset returns [x, θ], its steps [ẋ, θ̇]; PositionOnlyCartPole is StatelessCartPole."""
    env, params = make("memorax::VelocityOnlyCartPole-Medium")
    obs, state = env.reset(jax.random.key(0), params)
    np.testing.assert_array_equal(obs, [state.x, state.theta])
    obs, state, *_ = env.step(jax.random.key(1), state, 1, params)
    np.testing.assert_array_equal(obs, [state.x_dot, state.theta_dot])
    assert int(params.max_steps_in_episode) == 400
    reference = VelocityOnlyCartPoleEasy()
    first, _ = reference.reset(seed=0)
    np.testing.assert_allclose(first, np.asarray(reference.state)[[0, 2]], rtol=1e-6)
    for popgym_name, name in [("PositionOnlyCartPole-Hard", "StatelessCartPole-Hard"), ("NoisyPositionOnlyCartPole-Easy", "NoisyStatelessCartPole-Easy")]:
        alias, alias_params = make(f"memorax::{popgym_name}")
        original, original_params = make(f"memorax::{name}")
        assert (type(alias), alias.noise_std, alias_params) == (type(original), original.noise_std, original_params)
