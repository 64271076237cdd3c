"""Diagnostics: the memory horizon recovers a known window, and shows where a trained GRU looks."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from memorax.algorithms import PPO, PPOConfig
from memorax.diagnostics import (
    hidden_state_labels,
    memory_horizon,
    probe_remembered_observation,
    random_rollout,
    random_rollout_with_states,
    remembered_observation,
)
from memorax.environments import make
from memorax.networks import MLP, FeatureExtractor, Network, SequenceModelWrapper, heads
from memorax.networks.sequence_models import GRU, SequenceModel
from memorax.networks.sequence_models.causal_conv import causal_conv


class WindowSum(SequenceModel):
    """``y_t = o_{t-width+1} + ... + o_t`` over the episode's steps: a memory of exactly ``width - 1`` steps."""

    def __init__(self, features: int, width: int):
        self.features = features
        self.width = width

    def initialize_carry(self, batch_size: int):
        return jnp.zeros((batch_size, self.width - 1, self.features))

    def __call__(self, inputs, done, carry):
        outputs, carry = causal_conv(inputs, done, carry, jnp.ones((self.width, self.features)), jnp.zeros(self.features))
        return carry, outputs


class Identity(nnx.Module):
    def __call__(self, features):
        return features


@pytest.fixture(scope="module")
def repeat_previous():
    env, params = make("memorax::RepeatPrevious-Easy")
    return env, params, random_rollout(env, params, jax.random.key(0), num_envs=8, num_steps=64)


def test_the_horizon_of_a_moving_window_is_its_width(repeat_previous):
    """Each output sums the last 3 one-hot cards: ∂y_t/∂o_{t-k} is the 4x4 identity (Frobenius norm 2) for k < 3, else 0."""
    _, _, inputs = repeat_previous
    assert inputs.obs.shape == (8, 64, 4) and bool(inputs.done[:, 0].all()) and int(inputs.done.sum()) == 16  # 52-card episodes
    network = Network(torso=SequenceModelWrapper(WindowSum(4, width=3)), head=Identity())
    result = memory_horizon(network, inputs, jax.random.key(1), max_lag=6, probes=16)
    np.testing.assert_allclose(result.sensitivity[:3], 2.0, rtol=0.1)  # Hutchinson's estimate over 16 directions
    np.testing.assert_array_equal(result.sensitivity[3:], 0.0)
    assert result.horizon == 2
    # Pairs (t - k, t) in one episode: 8 sequences of a 52-step and a 12-step episode.
    np.testing.assert_array_equal(result.pairs, [8 * (52 - k + 12 - k) for k in range(7)])


@pytest.fixture(scope="module")
def trained(repeat_previous):
    """``{torso: (agent, trained state)}`` for a GRU and an MLP trained by PPO on RepeatPrevious-Easy."""
    env, params, _ = repeat_previous
    network = lambda torso, head: Network(FeatureExtractor(observation_extractor=MLP(features=(64,))), torso, head)
    config = PPOConfig(num_envs=32, num_steps=64, total_timesteps=150_000, ent_coef=0.0, gamma=0.9)
    agents = {}
    for torso in ("gru", "mlp"):
        make_torso = (lambda: GRU(64)) if torso == "gru" else (lambda: MLP(features=(64,)))
        actor = network(SequenceModelWrapper(make_torso()), heads.Categorical(env.num_actions))
        critic = network(SequenceModelWrapper(make_torso()), heads.VNetwork())
        agent = PPO(config, env, params, actor, critic, optax.adam(3e-3))
        state, _ = agent.train(jax.random.key(1), agent.init(jax.random.key(0)), config.total_timesteps)
        agents[torso] = agent, state
    return agents


def test_a_trained_gru_looks_back_to_the_card_it_must_repeat_and_an_mlp_does_not(repeat_previous, trained):
    """RepeatPrevious-Easy asks for the suit shown 3 steps back: after PPO, the GRU's policy is most sensitive there."""
    _, _, inputs = repeat_previous
    for torso, (agent, state) in trained.items():
        result = memory_horizon(agent.model(state.params).actor, inputs, jax.random.key(2), max_lag=8)
        if torso == "gru":
            assert result.peak == 3, result.relative
        else:
            assert result.peak == 0 and result.horizon == 0
            np.testing.assert_array_equal(result.sensitivity[1:], 0.0)


def test_a_linear_probe_reads_the_card_to_repeat_from_the_trained_grus_carry(repeat_previous, trained):
    """Held-out accuracy of reading the suit shown 3 steps back from the carry (chance: 0.25). Measured: 1.0 after
    training; 0.62 from an untrained GRU's carry, whose fading memory of recent inputs holds some of it."""
    _, _, inputs = repeat_previous
    agent, state = trained["gru"]
    before = probe_remembered_observation(agent.model(agent.init(jax.random.key(5)).params).actor, inputs, lag=3)
    after = probe_remembered_observation(agent.model(state.params).actor, inputs, lag=3)
    assert after >= 0.95 and before <= 0.8, (before, after)
    agent, state = trained["mlp"]
    assert probe_remembered_observation(agent.model(state.params).actor, inputs, lag=3) <= 0.3  # no carry: the majority suit


def test_the_hidden_state_of_repeat_previous_is_the_observation_three_steps_back_and_tmaze_its_cue():
    env, params = make("memorax::RepeatPrevious-Easy")
    inputs, states = random_rollout_with_states(env, params, jax.random.key(3), num_envs=4, num_steps=60)
    labels, mask = hidden_state_labels(env, states)
    seen, seen_mask = remembered_observation(inputs, lag=3)
    assert mask.sum() == 4 * (52 - 3 + 8 - 3) and np.array_equal(mask, seen_mask)  # from the 4th card of each episode
    np.testing.assert_array_equal(labels[mask], seen[mask])
    env, params = make("memorax::TMaze")
    inputs, states = random_rollout_with_states(env, params, jax.random.key(4), num_envs=4, num_steps=30)
    labels, mask = hidden_state_labels(env, states)
    first = np.asarray(inputs.done)
    np.testing.assert_array_equal(labels[first], np.argmax(np.asarray(inputs.obs)[first][:, :2], axis=-1))  # the cue shown
    assert mask.all() and hidden_state_labels(make("memorax::MineSweeper-Easy")[0], None) is None
