"""Termination versus truncation on a corridor whose value function is known exactly.

The agent walks right, earning 1 per step, from a random cell of ``0..L-1``
to the goal ``L``, where the episode terminates; a time limit truncates it
after ``K < L`` steps. Under the one possible policy the value of cell ``p``
is ``V(p) = (1 - γ^(L-p)) / (1 - γ)``: the time limit is not part of the
state, so after a truncation the future is still worth ``V`` of the final
observation. Hence, with the true ``V`` as critic, every target (λ-return
for any λ, n-step for any n) equals ``V(s_t)`` and GAE is 0, at both kinds of
boundary, and only if each is treated as the rule says.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx, struct

from memorax.algorithms import DQN, PPO, PQN, SAC, DQNConfig, PPOConfig, PQNConfig, SACConfig
from memorax.algorithms.common.returns import lambda_returns, n_step_returns, next_values
from memorax.algorithms.common.vector_env import VectorEnv
from memorax.environments.environment import Environment, EnvParams, EnvState, one_hot_space
from memorax.networks import MLP, FeatureExtractor, Network, heads

GOAL, TIME_LIMIT, GAMMA = 5, 3, 0.9


@struct.dataclass
class CorridorState(EnvState):
    position: jax.Array
    time: int


class Corridor(Environment):
    default_params = EnvParams(max_steps_in_episode=TIME_LIMIT)
    num_actions = 1

    def observation_space(self, params=None):
        return one_hot_space(GOAL + 1)

    def reset_env(self, key, params):
        state = CorridorState(position=jax.random.randint(key, (), 0, GOAL), time=0)
        return jax.nn.one_hot(state.position, GOAL + 1), state

    def step_env(self, key, state, action, params):
        state = state.replace(position=state.position + 1, time=state.time + 1)
        return jax.nn.one_hot(state.position, GOAL + 1), state, 1.0, state.position == GOAL, {}


def true_value(obs):
    """V of one-hot cells; 0 at the goal, which is terminal."""
    position = obs.argmax(-1)
    return (1 - GAMMA ** (GOAL - position)) / (1 - GAMMA)


@pytest.fixture(scope="module")
def walk():
    """12 steps in 8 corridors, time-major, with the true value of every observation involved."""
    envs = VectorEnv(Corridor(), Corridor.default_params, "test")
    env_state, inputs = envs.reset(jax.random.key(0), 8)

    def step(carry, key):
        env_state, inputs = carry
        env_state, following, reward, terminated, truncated, info = envs.step(key, env_state, jnp.zeros(8, jnp.int32))
        record = dict(
            value=true_value(inputs.obs),
            final_value=true_value(info["final_observation"]),
            reward=reward,
            terminated=terminated,
            truncated=truncated,
        )
        return (env_state, following), record

    (_, last), steps = jax.lax.scan(step, (env_state, inputs), jax.random.split(jax.random.key(1), 12))
    assert steps["terminated"].any() and steps["truncated"].any()
    return dict(steps, last_value=true_value(last.obs), ended=steps["terminated"] | steps["truncated"])


def following_values(walk, terminated=None, truncated=None):
    terminated = walk["terminated"] if terminated is None else terminated
    truncated = walk["truncated"] if truncated is None else truncated
    return next_values(walk["value"], walk["last_value"], walk["final_value"], terminated, truncated)


@pytest.mark.parametrize("lam", [0.0, 0.5, 0.95, 1.0])
def test_lambda_returns_equal_the_true_values_and_gae_is_zero(walk, lam):
    targets = lambda_returns(walk["reward"], following_values(walk), walk["ended"], GAMMA, lam)
    np.testing.assert_allclose(targets - walk["value"], 0.0, atol=1e-5)


@pytest.mark.parametrize("n", [1, 2, 3, 10])
def test_n_step_targets_equal_the_true_values(walk, n):
    targets = n_step_returns(walk["reward"], following_values(walk), walk["ended"], GAMMA, n)
    np.testing.assert_allclose(targets, walk["value"], atol=1e-5)


def test_either_wrong_rule_breaks_the_targets(walk):
    """Cutting the future at a truncation, or bootstrapping a termination from the next episode, is off by more than 0.5."""
    no = jnp.zeros_like(walk["ended"])
    as_terminations = following_values(walk, terminated=walk["ended"], truncated=no)
    through_terminations = following_values(walk, terminated=no, truncated=walk["truncated"])
    for following in (as_terminations, through_terminations):
        targets = lambda_returns(walk["reward"], following, walk["ended"], GAMMA, 0.95)
        assert np.abs(targets - walk["value"]).max() > 0.5


CELLS = jax.nn.one_hot(jnp.arange(GOAL), GOAL + 1)[:, None]  # [cells, T=1, features]


def value_network(head):
    return Network(FeatureExtractor(observation_extractor=MLP(features=(32,))), None, head)


def learned_values(network):
    output = network(CELLS, jnp.ones((GOAL, 1), bool))[1][:, 0]
    return output[..., 0] if output.ndim == 2 else output


def test_ppo_critic_learns_the_true_values():
    config = PPOConfig(num_envs=8, num_steps=16, num_minibatches=2, gamma=GAMMA, clip_value=False, total_timesteps=20_000)
    env = Corridor()
    agent = PPO(config, env, env.default_params, value_network(heads.Categorical(1)), value_network(heads.VNetwork()), optax.adam(1e-2))
    state, _ = agent.train(jax.random.key(1), agent.init(jax.random.key(0)), config.total_timesteps)
    critic = nnx.merge(agent.graphdef, state.params).critic
    np.testing.assert_allclose(learned_values(critic), true_value(CELLS[:, 0]), atol=0.1)


def test_pqn_q_values_learn_the_true_values():
    config = PQNConfig(num_envs=8, num_steps=16, num_minibatches=2, gamma=GAMMA, total_timesteps=20_000)
    env = Corridor()
    agent = PQN(config, env, env.default_params, value_network(heads.DiscreteQNetwork(1)), optax.adam(1e-2))
    state, _ = agent.train(jax.random.key(1), agent.init(jax.random.key(0)), config.total_timesteps)
    q_network = nnx.merge(agent.graphdef, state.params)
    np.testing.assert_allclose(learned_values(q_network), true_value(CELLS[:, 0]), atol=0.1)


def test_dqn_n_step_q_values_learn_the_true_values():
    """3-step double-DQN targets from replayed sequences, bootstrapped from stored final observations at truncations."""
    config = DQNConfig(
        num_envs=8, total_timesteps=20_000, buffer_size=4_000, batch_size=32, sequence_length=5, n_step=3,
        learning_starts=400, gamma=GAMMA, tau=0.05, target_update_every=1,
    )  # fmt: skip
    env = Corridor()
    agent = DQN(config, env, env.default_params, value_network(heads.DiscreteQNetwork(1)), optax.adam(1e-2))
    state, _ = agent.train(jax.random.key(1), agent.init(jax.random.key(0)), config.total_timesteps)
    q_network = nnx.merge(agent.graphdef, state.params)
    np.testing.assert_allclose(learned_values(q_network), true_value(CELLS[:, 0]), atol=0.1)


def test_sac_soft_q_values_learn_the_true_values():
    """With one action the policy's entropy is 0 and the soft value is Q: 2-step soft targets must give the true values."""
    config = SACConfig(
        num_envs=8, buffer_size=4_000, batch_size=32, sequence_length=4, n_step=2, learning_starts=400,
        gamma=GAMMA, tau=0.05,
    )  # fmt: skip
    env = Corridor()
    agent = SAC(config, env, env.default_params, value_network(heads.Categorical(1)), value_network(heads.DiscreteQNetwork(1)), optax.adam(1e-2))
    state, _ = agent.train(jax.random.key(1), agent.init(jax.random.key(0)), 20_000)
    for index in range(2):
        critic = nnx.merge(agent.critic_graphdef, jax.tree.map(lambda leaf: leaf[index], state.params["critics"]))
        np.testing.assert_allclose(learned_values(critic), true_value(CELLS[:, 0]), atol=0.1)
