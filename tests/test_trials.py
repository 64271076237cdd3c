"""Trials for meta-RL (RL², Duan et al. 2016): a recurrent PPO agent learns, within each trial of the two-armed
bandit, which arm pays; an agent without memory cannot."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from memorax.algorithms import PPO, PPOConfig
from memorax.algorithms.common.vector_env import VectorEnv, call_on_step
from memorax.environments import Trials, TwoArmedBandit
from memorax.networks import MLP, RNN, FeatureExtractor, Network, heads

EPISODES_PER_TRIAL = 10
ENV = Trials(TwoArmedBandit(), EPISODES_PER_TRIAL)
PARAMS = ENV.default_params
CONFIG = PPOConfig(num_envs=64, num_steps=20, total_timesteps=200_000, gamma=0.9)


def networks(memory: bool) -> tuple[Network, Network]:
    """Actor and critic sharing their feature extractor and torso.

    With memory: a GRU reading the observation, the previous action and the previous reward. Without: an MLP on
    the observation alone (the previous action and reward are themselves a one-step memory, enough to win-stay,
    lose-shift).
    """
    if memory:
        features = FeatureExtractor(MLP(features=(8,)), action_extractor=MLP(features=(8,)), reward_extractor=MLP(features=(8,)))
        torso = RNN(nnx.GRUCell(24, 32, rngs=nnx.Rngs(0)))
    else:
        features, torso = FeatureExtractor(MLP(features=(32,))), None
    return Network(features, torso, heads.Categorical(2)), Network(features, torso, heads.VNetwork())


def returns_by_episode(agent: PPO, state, key: jax.Array, num_trials: int = 1024) -> np.ndarray:
    """The mean return of each episode of a trial ``[EPISODES_PER_TRIAL]``, over ``num_trials`` trials of greedy play."""
    envs = agent.envs

    @jax.jit
    def play(params, key):
        actor = agent.model(params).actor

        def step(carry, key):
            env_state, inputs, memory, in_first_trial = carry
            memory, policy = call_on_step(actor, memory, inputs)
            env_state, inputs, reward, terminated, truncated, info = envs.step(key, env_state, policy.mode()[:, 0])
            episode = jax.nn.one_hot(info["episode_in_trial"], EPISODES_PER_TRIAL)
            return (env_state, inputs, memory, in_first_trial & ~(terminated | truncated)), (in_first_trial * reward) @ episode

        reset_key, run_key = jax.random.split(key)
        env_state, inputs = envs.reset(reset_key, num_trials)
        start = (env_state, inputs, actor.initialize_carry(num_trials), jnp.ones(num_trials, bool))
        _, returns = jax.lax.scan(step, start, jax.random.split(run_key, int(PARAMS.max_steps_in_episode)))
        return returns.sum(0) / num_trials

    return np.asarray(play(state.params, key))


@pytest.fixture(scope="module")
def returns():
    """Returns by episode of a trial, for the agent with memory and the one without, trained with the same keys."""
    by_agent = {}
    for memory in (True, False):
        agent = PPO(CONFIG, ENV, PARAMS, *networks(memory), optax.adam(3e-3))
        state, _ = agent.train(jax.random.key(1), agent.init(jax.random.key(0)), CONFIG.total_timesteps)
        by_agent["gru" if memory else "mlp"] = returns_by_episode(agent, state, jax.random.key(2))
    return by_agent


@pytest.mark.optimized
def test_memory_learns_the_better_arm_within_a_trial(returns):
    """The first pull of a trial is a coin flip (E = 0.5); later pulls of the GRU agent exploit what the first paid,
    towards E[max(p, 1 - p)] = 0.75, above anything an agent without memory can earn."""
    gru, mlp = returns["gru"], returns["mlp"]
    later = slice(EPISODES_PER_TRIAL // 2, None)
    assert abs(gru[0] - 0.5) < 0.07, gru
    assert gru[later].mean() > gru[0] + 0.15, gru
    assert gru[later].mean() > mlp[later].mean() + 0.15, (gru, mlp)


@pytest.mark.optimized
def test_without_memory_every_pull_is_a_coin_flip(returns):
    """Either arm pays 0.5 on average over tasks, so a policy that cannot remember the task's rewards earns 0.5
    at every episode of a trial, the first as the last."""
    mlp = returns["mlp"]
    later = slice(EPISODES_PER_TRIAL // 2, None)
    assert abs(mlp[0] - 0.5) < 0.07 and abs(mlp[later].mean() - 0.5) < 0.05, mlp


def test_previous_action_and_reward_carry_across_the_episodes_of_a_trial():
    """PPO's inputs: the previous action and reward, and no done flag, after an episode that ends inside a trial;
    zeros and done where a trial ends, so memory resets only between trials."""
    trials = Trials(TwoArmedBandit(), 3)
    envs = VectorEnv(trials, trials.default_params, "PPO")
    env_state, inputs = envs.reset(jax.random.key(0), 8)
    step = jax.jit(envs.step)
    for t in range(7):
        action = jnp.full(8, t % 2)
        env_state, inputs, reward, terminated, truncated, info = step(jax.random.key(t), env_state, action)
        trial_end = t % 3 == 2
        assert bool(info["episode_end"].all()) and bool((terminated == trial_end).all()) and not truncated.any()
        assert bool((inputs.done == trial_end).all())
        expected_action = jnp.zeros((8, 2)) if trial_end else jax.nn.one_hot(action, 2)
        np.testing.assert_array_equal(inputs.prev_action, expected_action)
        np.testing.assert_array_equal(inputs.prev_reward, 0.0 if trial_end else reward)


def test_two_armed_bandit_pays_its_arms_and_draws_dependent_arms():
    env = TwoArmedBandit()
    params = env.default_params
    keys = jax.random.split(jax.random.key(0), 4000)
    _, state = env.reset(keys[0], params)
    step = jax.jit(jax.vmap(lambda key, action: env.step(key, state, action, params), (0, None)))
    for arm, probability in enumerate((0.75, 0.25)):
        _, _, reward, terminated, truncated, _ = step(keys, arm)
        assert abs(float(reward.mean()) - probability) < 0.03 and bool(terminated.all()) and not truncated.any()
    arms = jax.jit(jax.vmap(lambda key: env.sample_task(key, params).arm_probabilities))(keys)
    np.testing.assert_allclose(arms.sum(-1), 1.0, rtol=1e-6)
    assert abs(float(arms[:, 0].mean()) - 0.5) < 0.02 and abs(float(arms[:, 0].std()) - np.sqrt(1 / 12)) < 0.02
