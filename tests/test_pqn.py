"""PQN: it learns CartPole, a GRU Q-network remembers where an MLP cannot, and replay reproduces acting."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from memory_proof import trained_return

from memorax.algorithms import PQN, PQNConfig
from memorax.environments import make
from memorax.networks import MLP, RNN, FeatureExtractor, Network, SequenceModelWrapper, heads


def q_network(num_actions, torso=None):
    """LayerNorm MLPs, as PQN needs; ``torso`` is None (a wide MLP) or "gru"."""
    body = None
    if torso == "gru":
        body = SequenceModelWrapper(RNN(nnx.GRUCell(64, 64, rngs=nnx.Rngs(0))))
    encoder = MLP(features=(128, 128) if torso is None else (64,), layer_norm=True)
    return Network(FeatureExtractor(observation_extractor=encoder), body, heads.DiscreteQNetwork(num_actions))


@pytest.mark.optimized
def test_mlp_solves_cartpole():
    env, params = make("gymnax::CartPole-v1")
    config = PQNConfig(total_timesteps=500_000)
    agent = PQN(config, env, params, q_network(2), optax.radam(3e-4))
    state, _ = agent.train(jax.random.key(1), agent.init(jax.random.key(0)), config.total_timesteps)
    assert agent.evaluate(jax.random.key(2), state, num_episodes=32)["mean_return"] >= 450


@pytest.fixture(scope="module")
def repeat_previous():
    return make("memorax::RepeatPrevious-Easy")


@pytest.mark.optimized
def test_gru_remembers(repeat_previous):
    """RepeatPrevious-Easy: greedy play with the GRU reaches 0.9 of the maximum return 1, where no memoryless policy beats -0.5."""
    env, params = repeat_previous
    config = PQNConfig(total_timesteps=300_000, gamma=0.9)
    agent = PQN(config, env, params, q_network(env.num_actions, "gru"), optax.radam(1e-3))
    assert trained_return(agent, config.total_timesteps) >= 0.9


SHORT = PQNConfig(num_envs=8, num_steps=64, num_minibatches=2, total_timesteps=4 * 512, epsilon_decay=0.5)


@pytest.fixture(scope="module")
def short_run(repeat_previous):
    """``run(seed)``: four updates of a GRU agent; one agent for every call, so one compilation."""
    env, params = repeat_previous
    agent = PQN(SHORT, env, params, q_network(env.num_actions, "gru"), optax.radam(1e-3))

    def run(seed=0):
        return agent.train(jax.random.key(seed + 1), agent.init(jax.random.key(seed)), SHORT.total_timesteps)

    return run


@pytest.fixture(scope="module")
def short_metrics(short_run):
    return short_run()[1]


def test_same_seed_same_metrics(short_run, short_metrics):
    _, again = short_run()
    jax.tree.map(np.testing.assert_array_equal, short_metrics, again)
    _, other = short_run(seed=5)
    assert not np.array_equal(short_metrics["loss"], other["loss"])


def test_replay_reproduces_the_q_values_of_acting(short_metrics):
    """Episodes of 51 steps end inside 64-step rollouts: the replayed memory must reset where acting's did."""
    assert short_metrics["episodes"].sum() > 0
    np.testing.assert_array_less(np.asarray(short_metrics["first_q_deviation"]), 1e-5)


def test_epsilon_decays_linearly_then_stays(short_metrics):
    """ε is 1 at the start, falls linearly over epsilon_decay * total_timesteps = 1024 steps, then stays at 0.05."""
    np.testing.assert_allclose(short_metrics["epsilon"], [1.0, 1.0 - 0.95 * 512 / 1024, 0.05, 0.05], rtol=1e-6)


def test_a_head_that_gives_no_value_per_action_is_named(repeat_previous):
    env, params = repeat_previous
    network = Network(FeatureExtractor(observation_extractor=MLP(features=(16,))), None, heads.Categorical(env.num_actions))
    message = r"^PQN: the network's head Categorical gives Categorical on one step; expected values \[batch, time, actions\], \[1, 1, 4\]"
    with pytest.raises(ValueError, match=message):
        PQN(PQNConfig(num_envs=4, num_steps=4, num_minibatches=1), env, params, network, optax.radam(1e-3))


def test_steps_past_two_to_the_31_neither_wrap_nor_restart_epsilon():
    """PQN's default rollout is 2048 steps: as an int32, 2²⁰ updates' steps were -2³¹, and ε back at 1."""
    config = PQNConfig(total_timesteps=3_000_000_000)
    updates = jnp.int32(2**20)
    assert float(config.env_steps(updates)) == 2**31 and float(config.env_steps(updates + 1)) == 2**31 + 2048
    np.testing.assert_allclose(config.epsilon(config.env_steps(updates)), 0.05)


def test_epsilon_decays_over_more_than_two_to_the_31_steps_as_optax_decays_it_over_fewer():
    """optax takes the schedule's length as an int32: 4·10⁹ steps of decay overflowed in jit."""
    long = PQNConfig(total_timesteps=20_000_000_000, epsilon_decay=0.2, epsilon_start=1.0, epsilon_finish=0.0)
    np.testing.assert_allclose(jax.jit(long.epsilon)(jnp.float32(2e9)), 0.5)
    short = PQNConfig(total_timesteps=1_000_000, epsilon_decay=0.25)
    steps = jnp.arange(0, 400_000, 997, dtype=jnp.int32)
    reference = optax.linear_schedule(short.epsilon_start, short.epsilon_finish, 250_000)(steps)
    np.testing.assert_allclose(short.epsilon(steps), reference, rtol=1e-6)


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("num_envs", 32.0, r"PQNConfig.num_envs is 32.0; expected an integer"),
        ("max_grad_norm", float("nan"), r"PQNConfig.max_grad_norm is nan; expected a positive value"),
        ("num_minibatches", 5, r"PQNConfig.num_envs \(32\) must be divisible by num_minibatches \(5\)"),
        ("q_lambda", 1.5, r"PQNConfig.q_lambda is 1.5; expected a value in \[0, 1\]"),
        ("epsilon_decay", 0.0, r"PQNConfig.epsilon_decay is 0.0; expected a value in \(0, 1\]"),
    ],
)
def test_config_names_the_wrong_field(field, value, message):
    with pytest.raises(ValueError, match=message):
        PQNConfig(**{field: value})


def test_continuous_actions_are_refused():
    env, params = make("gymnax::Pendulum-v1")
    with pytest.raises(ValueError, match=r"PQN: the action space is .*; expected Discrete"):
        PQN(PQNConfig(), env, params, q_network(1), optax.radam(1e-3))
