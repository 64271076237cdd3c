"""SAC: Pendulum with an MLP, discrete actions on CartPole, the checks on its inputs and its determinism."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from gymnax.environments import spaces

from memorax.algorithms import SAC, SACConfig
from memorax.environments import make
from memorax.environments.wrappers.wrapper import Wrapper
from memorax.networks import MLP, RNN, FeatureExtractor, Network, SequenceModelWrapper, heads


def mlp_network(head, features=(64, 64)):
    return Network(FeatureExtractor(observation_extractor=MLP(features=features)), None, head)


@pytest.mark.optimized
def test_mlp_sac_swings_up_pendulum():
    """Twin critics over [h, a], a squashed Gaussian actor and a tuned α; a random policy scores about -1200."""
    env, params = make("gymnax::Pendulum-v1")
    config = SACConfig(num_envs=4, learning_starts=1_000, updates_per_train=4)
    critic = mlp_network(heads.ContinuousQNetwork(features=(64,)), features=(64,))
    agent = SAC(config, env, params, mlp_network(heads.SquashedGaussian(1)), critic, optax.adam(1e-3))
    state, metrics = agent.train(jax.random.key(1), agent.init(jax.random.key(0)), 10_000)
    assert agent.evaluate(jax.random.key(2), state, num_episodes=32)["mean_return"] > -400
    assert np.isnan(metrics["critic_loss"][0]) and np.isfinite(metrics["critic_loss"][-1])


@pytest.mark.optimized
def test_discrete_sac_balances_cartpole():
    """Categorical actor, DiscreteQNetwork critics: exact expectations over the actions. A random policy lasts about 22 steps."""
    env, params = make("gymnax::CartPole-v1")
    config = SACConfig(num_envs=4, learning_starts=1_000, updates_per_train=2, batch_size=128)
    agent = SAC(config, env, params, mlp_network(heads.Categorical(2)), mlp_network(heads.DiscreteQNetwork(2)), optax.adam(1e-3))
    state, metrics = agent.train(jax.random.key(1), agent.init(jax.random.key(0)), 40_000)
    assert agent.evaluate(jax.random.key(2), state, num_episodes=32)["mean_return"] >= 150
    # α steers the policy's entropy to its default target, 0.5 log 2.
    np.testing.assert_allclose(np.nanmean(metrics["entropy"][-2_000:]), 0.5 * np.log(2), atol=0.1)


def gru_network(head, seed):
    return Network(
        FeatureExtractor(observation_extractor=MLP(features=(16,))),
        SequenceModelWrapper(RNN(nnx.GRUCell(16, 16, rngs=nnx.Rngs(seed)))),
        head,
    )


def test_same_seed_same_metrics():
    env, params = make("gymnax::Pendulum-v1")
    config = SACConfig(num_envs=4, sequence_length=6, burn_in=2, n_step=2, learning_starts=64, batch_size=8, buffer_size=1_000)
    critic = gru_network(heads.ContinuousQNetwork(features=(16,)), seed=1)
    agent = SAC(config, env, params, gru_network(heads.SquashedGaussian(1), seed=0), critic, optax.adam(1e-3))

    def run(seed):
        return agent.train(jax.random.key(seed + 1), agent.init(jax.random.key(seed)), 256)[1]

    first, second, other = run(0), run(0), run(3)
    jax.tree.map(np.testing.assert_array_equal, first, second)
    assert np.isfinite(first["critic_loss"][-10:]).all() and not np.array_equal(first["critic_loss"], other["critic_loss"])
    for name in ("actor_carry_staleness", "critic_carry_staleness"):
        staleness = first[name][np.isfinite(first[name])]
        # The first update replays carries stored with the parameters it starts from; later ones, carries of older parameters.
        assert staleness[0] < 1e-5 and staleness[-10:].min() > 100 * max(staleness[0], 1e-7), name


def test_heads_must_match_the_action_space():
    env, params = make("gymnax::Pendulum-v1")
    with pytest.raises(ValueError, match=r"SAC: the critic's head is DiscreteQNetwork; expected ContinuousQNetwork"):
        SAC(SACConfig(), env, params, mlp_network(heads.SquashedGaussian(1)), mlp_network(heads.DiscreteQNetwork(2)), optax.adam(1e-3))
    env, params = make("gymnax::CartPole-v1")
    with pytest.raises(ValueError, match=r"SAC: the actor's head is SquashedGaussian; expected Categorical"):
        SAC(SACConfig(), env, params, mlp_network(heads.SquashedGaussian(1)), mlp_network(heads.DiscreteQNetwork(2)), optax.adam(1e-3))


def test_actor_and_critic_may_not_share_modules():
    env, params = make("gymnax::CartPole-v1")
    shared = FeatureExtractor(observation_extractor=MLP(features=(8,)))
    actor, critic = Network(shared, None, heads.Categorical(2)), Network(shared, None, heads.DiscreteQNetwork(2))
    with pytest.raises(ValueError, match="SAC: the actor and the critic share modules"):
        SAC(SACConfig(), env, params, actor, critic, optax.adam(1e-3))


@pytest.mark.parametrize(
    "fields, message",
    [
        (dict(sequence_length=5, burn_in=3, n_step=2), r"SACConfig.sequence_length \(5\) must exceed burn_in \(3\) \+ n_step \(2\)"),
        (dict(learning_starts=10), r"SACConfig.learning_starts \(10\) must be at least num_envs \* sequence_length \(16\)"),
        (dict(initial_alpha=0.0), r"SACConfig.initial_alpha is 0.0; expected a positive value"),
        (dict(tau=1.5), r"SACConfig.tau is 1.5; expected a value in \(0, 1\]"),
        (dict(target_entropy=float("nan")), r"SACConfig.target_entropy is nan; expected a finite value or None"),
        (dict(updates_per_train=1.5), r"SACConfig.updates_per_train is 1.5; expected an integer"),
    ],
)
def test_config_names_the_wrong_field(fields, message):
    with pytest.raises(ValueError, match=message):
        SACConfig(**fields)


class UnboundedActions(Wrapper):
    def action_space(self, params=None):
        return spaces.Box(-jnp.inf, jnp.inf, self.env.action_space(params).shape, jnp.float32)


def test_an_unbounded_action_space_is_refused():
    """Actions squashed into [low, high] were NaN, and so was every loss after."""
    env, params = make("gymnax::Pendulum-v1")
    with pytest.raises(ValueError, match=r"SAC: the action space is .*, unbounded; .* both must be finite"):
        SAC(SACConfig(), UnboundedActions(env), params, mlp_network(heads.SquashedGaussian(1)), mlp_network(heads.ContinuousQNetwork()), optax.adam(1e-3))


@pytest.mark.parametrize(
    "env_id, actor, critic, target, message",
    [
        ("gymnax::CartPole-v1", heads.Categorical(2), heads.DiscreteQNetwork(2), 0.7, r"expected below 0.6931, .* over 2 actions"),
        ("gymnax::Pendulum-v1", heads.SquashedGaussian(1), heads.ContinuousQNetwork(), 0.7, r"expected below 0.6931, .* over \[-1, 1\]\^1"),
    ],
)
def test_a_target_entropy_no_policy_reaches_is_refused(env_id, actor, critic, target, message):
    """The temperature α grew without end, 1 to 4·10⁷ in 600 updates on CartPole with a target of 1."""
    env, params = make(env_id)
    with pytest.raises(ValueError, match=rf"SACConfig.target_entropy is {target}; {message}"):
        SAC(SACConfig(target_entropy=target), env, params, mlp_network(actor), mlp_network(critic), optax.adam(1e-3))
