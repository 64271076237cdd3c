"""DQN and R2D2: CartPole, a memory task only a recurrent Q-network solves, burn-in, value rescaling, the replay."""

import unittest.mock

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from memory_proof import trained_return

from memorax.algorithms import DQN, DQNConfig
from memorax.algorithms.common.sequences import carry_staleness, sequence_values, unroll
from memorax.algorithms.common.vector_env import StepInputs, call_on_step
from memorax.algorithms.dqn import importance_weights, rescale, unrescale
from memorax.buffers import SequenceReplay
from memorax.environments import make
from memorax.networks import MLP, RNN, FeatureExtractor, Network, SequenceModelWrapper, heads


def q_network(num_actions, gru=False):
    """A GRU Q-network, or an MLP one."""
    body = SequenceModelWrapper(RNN(nnx.GRUCell(64, 64, rngs=nnx.Rngs(0)))) if gru else None
    encoder = MLP(features=(64,) if gru else (120, 84))
    return Network(FeatureExtractor(observation_extractor=encoder), body, heads.DiscreteQNetwork(num_actions))


@pytest.mark.optimized
def test_mlp_solves_cartpole():
    """Double DQN with 3-step targets and Polyak-averaged targets."""
    env, params = make("gymnax::CartPole-v1")
    config = DQNConfig(
        num_envs=8, total_timesteps=200_000, learning_starts=5_000, n_step=3, sequence_length=4,
        epsilon_decay=0.3, tau=0.01, target_update_every=1,
    )  # fmt: skip
    agent = DQN(config, env, params, q_network(2), optax.adam(2.5e-4))
    state, _ = agent.train(jax.random.key(1), agent.init(jax.random.key(0)), config.total_timesteps)
    assert agent.evaluate(jax.random.key(2), state, num_episodes=32)["mean_return"] >= 400


R2D2 = DQNConfig(
    num_envs=16, total_timesteps=50_000, buffer_size=50_000, batch_size=32, sequence_length=24, burn_in=4, stride=12,
    learning_starts=2_000, target_update_every=100, gamma=0.9, epsilon_decay=0.3,
)  # fmt: skip


@pytest.mark.optimized
def test_r2d2_gru_remembers():
    """RepeatPrevious-Easy: stored carries, burn-in and sequence replay let a GRU reach 0.9 of the maximum 1 (memoryless: -0.5)."""
    env, params = make("memorax::RepeatPrevious-Easy")
    agent = DQN(R2D2, env, params, q_network(env.num_actions, gru=True), optax.adam(1e-3))
    assert trained_return(agent, R2D2.total_timesteps) >= 0.9


def test_same_seed_same_metrics():
    env, params = make("memorax::RepeatPrevious-Easy")
    config = DQNConfig(num_envs=4, sequence_length=6, burn_in=2, learning_starts=64, batch_size=8, buffer_size=1_000)

    agent = DQN(config, env, params, q_network(env.num_actions, gru=True), optax.adam(1e-3))

    def run(seed):
        return agent.train(jax.random.key(seed + 1), agent.init(jax.random.key(seed)), 256)[1]

    first, second, other = run(0), run(0), run(3)
    jax.tree.map(np.testing.assert_array_equal, first, second)
    assert np.isfinite(first["loss"][-10:]).all() and not np.array_equal(first["loss"], other["loss"])
    staleness = first["carry_staleness"][np.isfinite(first["carry_staleness"])]
    # The first update replays carries stored with the parameters it starts from; later ones, carries of older parameters.
    assert staleness[0] < 1e-5 and staleness[-10:].min() > 100 * max(staleness[0], 1e-7)


@pytest.fixture(scope="module")
def gru():
    network = Network(FeatureExtractor(observation_extractor=MLP(features=(8,))), SequenceModelWrapper(RNN(nnx.GRUCell(8, 8, rngs=nnx.Rngs(0)))), heads.DiscreteQNetwork(3))
    obs = jax.random.normal(jax.random.key(0), (2, 7, 5))
    done = jnp.zeros((2, 7), bool).at[:, 0].set(True).at[1, 5].set(True)
    network.init(0, obs, done)
    carry = jax.tree.map(lambda x: x + 0.3, network.initialize_carry(2))  # a stored, non-initial carry
    return network, StepInputs(obs, done, jnp.zeros((2, 7, 3)), jnp.zeros((2, 7))), carry


def test_burn_in_advances_the_stored_carry(gru):
    """The trained steps are the network's outputs on the whole sequence from the stored carry, minus the burn-in steps."""
    network, inputs, carry = gru
    _, whole = network(inputs.obs, inputs.done, carry)
    warm_carry, trained = unroll(network, inputs, carry, burn_in=3)
    np.testing.assert_allclose(trained, whole[:, 3:], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(warm_carry, network(inputs.obs[:, :3], inputs.done[:, :3], carry)[0], rtol=1e-5, atol=1e-6)
    assert carry_staleness(warm_carry, warm_carry) == 0 and carry_staleness(warm_carry, carry) > 0.1
    _, from_scratch = network(inputs.obs[:, 3:], inputs.done[:, 3:], None)
    assert not np.allclose(whole[:, 3:], from_scratch, atol=1e-3)


def test_no_gradient_flows_into_burn_in(gru):
    network, inputs, carry = gru

    def trained_output(obs):
        return unroll(network, inputs.replace(obs=obs), carry, burn_in=3)[1].sum()

    gradient = jax.grad(trained_output)(inputs.obs)
    assert np.all(gradient[:, :3] == 0)
    assert np.all(np.abs(gradient[:, 3:]).sum(-1) > 0)


@pytest.mark.parametrize(
    "truncated_at", [(), ((1, 2), (0, 4)), ((0, 1), (0, 4), (1, 6))], ids=["none", "one-per-sequence", "two-and-the-last-step"]
)
def test_sequence_values_value_final_observations_with_the_memory_of_their_episode(gru, truncated_at):
    """Whole-sequence passes give what acting step by step gives: every step's value, and at a truncated step t the
    final observation's value read with the carry after step t (0 at the other steps)."""
    network, inputs, carry = gru
    final = inputs.replace(obs=-inputs.obs, done=jnp.zeros_like(inputs.done))
    truncated = jnp.zeros((2, 7), bool)
    for b, t in truncated_at:
        truncated = truncated.at[b, t].set(True)

    expected_values, expected_finals, step_carry = [], [], carry
    for t in range(7):
        step_carry, q = call_on_step(network, step_carry, jax.tree.map(lambda leaf: leaf[:, t], inputs))
        _, q_final = call_on_step(network, step_carry, jax.tree.map(lambda leaf: leaf[:, t], final))
        expected_values.append(q[:, 0].max(-1))
        expected_finals.append(jnp.where(truncated[:, t], q_final[:, 0].max(-1), 0))

    value_of = lambda carry, inputs, key: unroll(network, inputs, carry)[1].max(-1)  # noqa: E731
    values, final_values = jax.jit(sequence_values, static_argnums=0)(value_of, carry, inputs, final, truncated, jax.random.key(0))
    np.testing.assert_allclose(values, jnp.stack(expected_values), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(final_values, jnp.stack(expected_finals), rtol=1e-5, atol=1e-6)
    assert np.count_nonzero(final_values) == len(truncated_at)


def test_value_rescaling_inverts():
    x = jnp.array([-1e4, -30.0, -1.0, -1e-3, 0.0, 1e-3, 0.5, 7.0, 1e4])
    np.testing.assert_allclose(unrescale(rescale(x)), x, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(rescale(jnp.array(3.0)), 1.0 + 3e-3, rtol=1e-6)  # sqrt(4) - 1 + 0.001 * 3


def test_replay_samples_consecutive_steps_of_one_environment_from_stride_starts():
    replay = SequenceReplay(num_envs=3, capacity=300, sequence_length=4, batch_size=64, stride=2)
    state = replay.init({"env": jnp.zeros((), jnp.int32), "time": jnp.zeros((), jnp.int32)})
    with pytest.raises(ValueError, match=r"holds 0 steps per environment; sampling needs at least sequence_length \(4\)"):
        replay.sample(state, jax.random.key(0))
    for t in range(10):
        state = replay.add(state, {"env": jnp.arange(3), "time": jnp.full(3, t)})
    sample = replay.sample(state, jax.random.key(1)).experience
    assert sample["time"].shape == (64, 4)
    assert np.all(sample["env"] == sample["env"][:, :1])
    assert np.all(np.diff(sample["time"], axis=1) == 1) and np.all(sample["time"][:, 0] % 2 == 0)


def test_a_replay_too_small_for_a_stride_start_after_it_wraps_is_refused():
    # 4 steps, sequences of 4 from even steps: after 5 adds only the start at step 1 lies before the write head.
    with pytest.raises(ValueError, match=r"holds 4 steps per environment.*at least sequence_length \+ stride - 1 \(5\)"):
        SequenceReplay(num_envs=1, capacity=4, sequence_length=4, batch_size=8, stride=2)
    replay = SequenceReplay(num_envs=1, capacity=6, sequence_length=4, batch_size=64, stride=2)
    state = replay.init({"time": jnp.zeros((), jnp.int32)})
    for t in range(9):
        state = replay.add(state, {"time": jnp.full(1, t)})
        if t >= 3:
            sample = replay.sample(state, jax.random.key(t))
            assert np.all(np.diff(sample.experience["time"], axis=1) == 1) and np.all(np.isfinite(sample.probabilities))


def test_a_replay_too_large_for_the_device_is_refused_before_it_is_allocated():
    """50,000 steps of an attention carry (keys and values of 128 steps x 4 heads x 16, 64 KiB) would take 3.1 GiB:
    the error names the buffer, the bytes per step and the part that takes them, before anything is allocated."""
    attention_cache = (jax.ShapeDtypeStruct((128, 4, 16), jnp.float32), jax.ShapeDtypeStruct((128, 4, 16), jnp.float32))
    step = {"obs": jax.ShapeDtypeStruct((4,), jnp.float32), "carry": attention_cache}
    replay = SequenceReplay(num_envs=8, capacity=50_000, sequence_length=24, batch_size=32, stride=12)
    memory = 50_000 * 64 * 1024 * 5  # the buffer would be a fifth of this device
    with unittest.mock.patch("memorax.buffers.sequence_replay.device_memory", return_value=memory):
        with pytest.raises(ValueError, match=r"49,920 steps \(buffer_size\) of 64.0 KiB each would take 3.0 GiB.*\['carry'\] \(64.0 KiB\)"):
            replay.check_memory(step)
        SequenceReplay(num_envs=8, capacity=20_000, sequence_length=24, batch_size=32, stride=12).check_memory(step)


def test_prioritised_replay_samples_in_proportion_to_priority_to_the_alpha():
    replay = SequenceReplay(num_envs=1, capacity=8, sequence_length=1, batch_size=4000, priority_exponent=0.5)
    state = replay.init({"time": jnp.zeros((), jnp.int32)})
    for t in range(4):
        state = replay.add(state, {"time": jnp.full(1, t)})
    state = replay.set_priorities(state, jnp.arange(4), jnp.array([1.0, 4.0, 9.0, 16.0]))
    counts = np.bincount(np.asarray(replay.sample(state, jax.random.key(0)).experience["time"][:, 0]), minlength=4)
    np.testing.assert_allclose(counts / counts.sum(), np.array([1, 2, 3, 4]) / 10, atol=0.03)


def test_prioritised_replay_never_trains_on_a_sequence_it_does_not_hold_whole():
    """flashbax's sum tree drifts from its leaves over thousands of priority updates (float32 differences), and
    samples then land on sequences of priority 0: past the capacity, or across the write head. Such a sample gets
    weight 0 (not 0/0) and keeps priority 0, so it never comes back. Given a priority, it was sampled from then on."""
    num_envs, length, stride, batch = 3, 4, 2, 16
    replay = SequenceReplay(num_envs, 30, length, batch, stride, priority_exponent=0.6)
    state = replay.init({"time": jnp.zeros((), jnp.int32)})
    for t in range(length):
        state = replay.add(state, {"time": jnp.full(num_envs, t)})

    def update(carry, key):
        state, t = carry
        state = replay.add(state, {"time": jnp.full(num_envs, t)})
        sample_key, priority_key = jax.random.split(key)
        sample = replay.sample(state, sample_key)
        whole = jnp.all(jnp.diff(sample.experience["time"], axis=1) == 1, axis=1)
        weights = importance_weights(sample.probabilities, 0.6)
        state = replay.set_priorities(state, sample.indices, jnp.abs(jax.random.normal(priority_key, (batch,))))
        return (state, t + 1), (whole, sample.probabilities, weights)

    updates = jax.jit(lambda state, keys: jax.lax.scan(update, (state, jnp.int32(length)), keys)[1])
    whole, probabilities, weights = map(np.asarray, updates(state, jax.random.split(jax.random.key(0), 8_000)))
    assert np.all(np.isfinite(weights)) and np.all((weights > 0) == (probabilities > 0))
    assert np.all(whole[probabilities > 0])
    assert 0 < np.sum(~whole) < 10  # the drift did land samples on such sequences, and only as rarely as it does
    np.testing.assert_allclose(importance_weights(jnp.array([0.0, 0.1, 0.4]), 0.5), [0.0, 1.0, 0.5])


@pytest.mark.parametrize(
    "fields, message",
    [
        (dict(priority_exponent=1.5), r"DQNConfig.priority_exponent is 1.5; expected a value in \[0, 1\]"),
        (dict(sequence_length=5, burn_in=3, n_step=2), r"DQNConfig.sequence_length \(5\) must exceed burn_in \(3\) \+ n_step \(2\)"),
        (dict(learning_starts=10), r"DQNConfig.learning_starts \(10\) must be at least num_envs \* sequence_length \(16\)"),
        (dict(tau=0.0), r"DQNConfig.tau is 0.0; expected a value in \(0, 1\]"),
        (dict(sequence_length=4, stride=5), r"DQNConfig.stride \(5\) must not exceed sequence_length \(4\)"),
        (dict(batch_size=32.0), r"DQNConfig.batch_size is 32.0; expected an integer"),
        (
            dict(num_envs=8, buffer_size=95, sequence_length=8, stride=4, learning_starts=64),
            r"DQNConfig.buffer_size \(95\) holds 8 steps per environment .* at least sequence_length \+ stride - 1 \(11\)",
        ),
    ],
)
def test_config_names_the_wrong_field(fields, message):
    with pytest.raises(ValueError, match=message):
        DQNConfig(**fields)


def test_carry_staleness_counts_the_floating_leaves_of_an_attention_cache_and_not_its_flags():
    """SelfAttention's carry holds keys and values with a bool validity flag per slot (and, with learned positions, an
    integer count): only the keys and values drift with the parameters. Each stored entry 2 against 1 recomputed: 1.0."""
    recomputed = (jnp.ones((2, 3, 4)), jnp.ones((2, 3, 4)), jnp.zeros((2, 3), bool), jnp.zeros(2, jnp.int32))
    stored = (2 * jnp.ones((2, 3, 4)), 2 * jnp.ones((2, 3, 4)), jnp.ones((2, 3), bool), jnp.ones(2, jnp.int32))
    assert float(carry_staleness(recomputed, stored)) == pytest.approx(1.0)
