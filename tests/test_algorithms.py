"""What every algorithm shares: the checks on its inputs, and a state whose types survive training."""

import jax
import jax.numpy as jnp
import optax
import pytest

from memorax.algorithms import DQN, PPO, PQN, SAC, DQNConfig, PPOConfig, PQNConfig, SACConfig
from memorax.algorithms.common.vector_env import VectorEnv
from memorax.environments import make
from memorax.networks import MLP, FeatureExtractor, Network, heads


def network(head):
    return Network(FeatureExtractor(observation_extractor=MLP(features=(8,))), None, head)


CARTPOLE, PENDULUM = "gymnax::CartPole-v1", "gymnax::Pendulum-v1"
CASES = {
    "ppo": (CARTPOLE, lambda env: PPO(PPOConfig(), *env, network(heads.Categorical(3)), network(heads.VNetwork()), optax.adam(1e-3)),
            r"PPO: the actor's head Categorical has action_dim 3; the action space .* has 2 actions"),
    "pqn": (CARTPOLE, lambda env: PQN(PQNConfig(), *env, network(heads.DiscreteQNetwork(4)), optax.adam(1e-3)),
            r"PQN: the network's head DiscreteQNetwork has action_dim 4; the action space .* has 2 actions"),
    "dqn": (CARTPOLE, lambda env: DQN(DQNConfig(), *env, network(heads.DiscreteQNetwork(1)), optax.adam(1e-3)),
            r"DQN: the network's head DiscreteQNetwork has action_dim 1; the action space .* has 2 actions"),
    "sac": (PENDULUM, lambda env: SAC(SACConfig(), *env, network(heads.SquashedGaussian(2)), network(heads.ContinuousQNetwork()), optax.adam(1e-3)),
            r"SAC: the actor's head SquashedGaussian has action_dim 2; the action space .* has 1 dimensions"),
}  # fmt: skip


@pytest.mark.parametrize("algorithm", list(CASES))
def test_a_head_sized_for_another_action_space_is_refused(algorithm):
    env_id, build, message = CASES[algorithm]
    with pytest.raises(ValueError, match=message):
        build(make(env_id))


def types(tree):
    return jax.tree.map(lambda leaf: (leaf.dtype, leaf.shape, leaf.weak_type), tree)


@pytest.mark.parametrize("env_id", [PENDULUM, CARTPOLE, "memorax::RepeatPrevious-Easy"])
def test_reset_gives_the_state_types_a_step_returns(env_id):
    """Otherwise ``train`` compiles again on its second call, when the state comes from a step (Pendulum's ``last_u``)."""
    envs = VectorEnv(*make(env_id), "test")
    env_state, _ = envs.reset(jax.random.key(0), 2)
    action = jnp.zeros((2, *envs.action_shape), jnp.float32 if envs.action_shape else jnp.int32)
    stepped, *_ = jax.jit(envs.step)(jax.random.key(1), env_state, action)
    assert types(env_state) == types(stepped)


def test_evaluate_names_a_wrong_argument():
    """num_episodes=0 raised a ZeroDivisionError inside the trace, and ε outside [0, 1] played another policy."""
    agent = PQN(PQNConfig(num_envs=4, num_steps=4, num_minibatches=1), *make(CARTPOLE), network(heads.DiscreteQNetwork(2)), optax.adam(1e-3))
    keys = jax.random.split(jax.random.key(0), 2)
    state, states = agent.init(keys[0]), jax.vmap(agent.init)(keys)
    for arguments, message in (
        (dict(num_episodes=0), r"PQN.evaluate: num_episodes is 0; expected a positive integer"),
        (dict(num_episodes=2.5), r"PQN.evaluate: num_episodes is 2.5; expected a positive integer"),
        (dict(epsilon=1.7), r"PQN.evaluate: epsilon is 1.7; expected a value in \[0, 1\]"),
    ):
        with pytest.raises(ValueError, match=message):
            agent.evaluate(keys[1], state, **arguments)
    with pytest.raises(ValueError, match=r"PQN.evaluate: num_episodes is -3; expected a positive integer"):
        agent.evaluate_seeds(keys, states, num_episodes=-3)
    ppo = PPO(PPOConfig(num_envs=4, num_steps=4, num_minibatches=1), *make(CARTPOLE), network(heads.Categorical(2)),
              network(heads.VNetwork()), optax.adam(1e-3))  # fmt: skip
    with pytest.raises(ValueError, match=r"PPO.evaluate: deterministic is 2; expected True or False"):
        ppo.evaluate(keys[1], ppo.init(keys[0]), deterministic=2)
