"""Diagnostics: the memory horizon recovers a known window, and shows where a trained GRU looks."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from tiny_run import TINY

from memorax.algorithms import PPO, PPOConfig
from memorax.cli import parse
from memorax.diagnostics import (
    baseline_accuracy,
    carries,
    hidden_state_labels,
    memory_horizon,
    probe_accuracy,
    probe_remembered_observation,
    random_rollout,
    remembered_observation,
    rollout_with_states,
)
from memorax.environments import make
from memorax.networks import MLP, FeatureExtractor, Network, SequenceModelWrapper, heads
from memorax.networks.sequence_models import GRU, SequenceModel
from memorax.networks.sequence_models.causal_conv import causal_conv
from memorax.training import train
from memorax.training.diagnose import diagnose_run, summary


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


class Marks(SequenceModel):
    """Marks each (observation, previous action) pair seen in the episode: ``c_t = max([not done_t] c_{t-1}, o_t ⊗ a_{t-1})``,
    for inputs ``[o_t, a_{t-1}]`` with ``observations`` entries of ``o``: Battleship's board, as hits and misses by cell."""

    def __init__(self, observations: int, actions: int):
        self.observations, self.actions = observations, actions

    def initialize_carry(self, batch_size: int):
        return jnp.zeros((batch_size, self.observations * self.actions))

    def __call__(self, inputs, done, carry):
        observation, action = inputs[..., : self.observations], inputs[..., self.observations :]
        pairs = (observation[..., :, None] * action[..., None, :]).reshape(*inputs.shape[:2], -1)

        def step(carry, step_inputs):
            pair, first = step_inputs
            carry = jnp.maximum(jnp.where(first[:, None], 0.0, carry), pair)
            return carry, carry

        carry, outputs = jax.lax.scan(step, carry, (jnp.swapaxes(pairs, 0, 1), jnp.swapaxes(done, 0, 1)))
        return carry, jnp.swapaxes(outputs, 0, 1)


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


class Zero(nnx.Module):
    def __call__(self, features):
        return jnp.zeros_like(features)


@pytest.mark.parametrize(
    "head, arguments, message",
    [
        (Zero(), {}, r"the outputs do not depend on the observations \(sensitivity 0.0 at every lag\)"),
        (Identity(), dict(probes=0), r"probes is 0; expected at least 1"),
        (Identity(), dict(threshold=1.5), r"threshold is 1.5; expected a relative sensitivity in \(0, 1\]"),
    ],
)
def test_the_horizon_refuses_what_gives_no_horizon(repeat_previous, head, arguments, message):
    _, _, inputs = repeat_previous
    network = Network(torso=SequenceModelWrapper(WindowSum(4, width=3)), head=head)
    with pytest.raises(ValueError, match=f"^memory_horizon: {message}"):
        memory_horizon(network, inputs, jax.random.key(1), max_lag=2, **arguments)


def test_a_tmaze_whose_episodes_are_shorter_than_the_lags_is_diagnosed_with_those_lags_unmeasured(tmp_path):
    """A 2-cell TMaze ends within 12 steps (a solved one within 3): the probes of --max-lag 16 had no step to fit and
    diagnose crashed in numpy; lags without a pair of steps in one episode read 0; the probe's chance line was 1/4,
    where guessing "corridor" is right about 0.9 of the time."""
    command = parse(["train", "--env", "memorax::TMaze", "--env-kwargs", "corridor_length=2", *TINY, "--run-dir", str(tmp_path / "run")])
    run = train(command.options)
    record = diagnose_run(run.directory, max_lag=16, num_envs=8, num_steps=32)
    horizon, probe = record["memory_horizon"]["seed 0"], record["probe"]
    longest = max(lag for lag, pairs in enumerate(horizon["pairs"]) if pairs)
    assert 1 <= longest <= 11 and horizon["horizon"] <= longest
    assert all((value is None) == (lag > longest) for lag, value in enumerate(horizon["sensitivity"]))
    assert all(accuracy[longest + 1 :] == [None] * (16 - longest) for accuracy in probe["accuracy"].values())
    assert probe["baseline"][0] > 0.5 and probe["baseline"][longest + 1 :] == [None] * (16 - longest)
    assert "no episode played was longer, to measure further" in summary(record) or horizon["horizon"] < longest
    json.loads((run.directory / "diagnostics" / "diagnostics.json").read_text())  # strict JSON: no NaN


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


@pytest.mark.optimized
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


@pytest.mark.optimized
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
    inputs, states = rollout_with_states(env, params, jax.random.key(3), num_envs=4, num_steps=60)
    labels, mask = hidden_state_labels(env, states)
    seen, seen_mask = remembered_observation(inputs, lag=3)
    assert mask.sum() == 4 * (52 - 3 + 8 - 3) and np.array_equal(mask, seen_mask)  # from the 4th card of each episode
    np.testing.assert_array_equal(labels[mask], seen[mask])
    env, params = make("memorax::TMaze")
    inputs, states = rollout_with_states(env, params, jax.random.key(4), num_envs=4, num_steps=30)
    labels, mask = hidden_state_labels(env, states)
    first = np.asarray(inputs.done)
    np.testing.assert_array_equal(labels[first], np.argmax(np.asarray(inputs.obs)[first][:, :2], axis=-1))  # the cue shown
    assert mask.all() and hidden_state_labels(make("memorax::HigherLower-Easy")[0], None) is None


def test_the_boards_of_minesweeper_and_battleship_change_at_the_cell_clicked_as_the_observation_says():
    env, params = make("memorax::MineSweeper-Easy")
    inputs, states = rollout_with_states(env, params, jax.random.key(5), num_envs=8, num_steps=40)
    labels, mask = hidden_state_labels(env, states)
    first, clicked = np.asarray(inputs.done), np.argmax(np.asarray(inputs.prev_action), axis=-1)
    assert labels.shape == (8, 40, 16) and mask.all() and first[:, 1:].any()
    assert not labels[first].any() and set(np.unique(labels)) == {0, 1}  # nothing cleared at the start; no mine shown
    later = ~first[:, 1:]
    changed = labels[:, 1:] != labels[:, :-1]
    np.testing.assert_array_equal(changed[later].sum(-1) <= 1, True)  # a click clears at most one new cell ...
    cell = clicked[:, 1:][later]
    np.testing.assert_array_equal(labels[:, 1:][later][np.arange(cell.size), cell], 1)  # ... the one clicked

    env, params = make("memorax::Battleship-Easy")
    inputs, states = rollout_with_states(env, params, jax.random.key(6), num_envs=8, num_steps=70)
    labels, _ = hidden_state_labels(env, states)
    first, fired = np.asarray(inputs.done), np.argmax(np.asarray(inputs.prev_action), axis=-1)
    hit = np.argmax(np.asarray(inputs.obs), axis=-1) == 1
    assert labels.shape == (8, 70, 64) and not labels[first].any() and first[:, 64].all()  # 64 shots truncate
    later = ~first[:, 1:]
    cell = fired[:, 1:][later]
    shown = labels[:, 1:][later][np.arange(cell.size), cell]
    np.testing.assert_array_equal(shown[hit[:, 1:][later]], 2)  # a hit marks a ship cell
    assert set(np.unique(shown)) == {1, 2}  # a miss marks water, or a ship cell hit before
    unchanged = np.delete(labels[:, 1:][later] == labels[:, :-1][later], cell + 64 * np.arange(cell.size))
    assert unchanged.all()


def test_a_probe_reads_battleships_board_from_a_memory_of_shots_and_not_from_a_memoryless_network():
    """Marks of (hit or miss, cell fired at) hold the board; a network without a carry holds nothing: the best constant guess."""
    env, params = make("memorax::Battleship-Easy")
    inputs, states = rollout_with_states(env, params, jax.random.key(7), num_envs=32, num_steps=64)
    labels, mask = hidden_state_labels(env, states)
    extractor = lambda: FeatureExtractor(observation_extractor=Identity(), action_extractor=Identity())
    marks = Network(extractor(), SequenceModelWrapper(Marks(2, 64)), Identity())
    memoryless = Network(extractor(), SequenceModelWrapper(MLP(features=(16,))), Identity())
    memoryless.init(0, inputs.obs, inputs.done, inputs.prev_action)
    baseline = baseline_accuracy(labels, mask)
    remembered = probe_accuracy(carries(marks, inputs), labels, mask)
    forgotten = probe_accuracy(carries(memoryless, inputs), labels, mask)
    assert 0.5 < baseline < 0.8 and forgotten == baseline and remembered > 0.95, (baseline, forgotten, remembered)


@pytest.mark.optimized
def test_a_rollout_played_by_the_trained_gru_names_the_card_three_steps_back(repeat_previous, trained):
    env, params, _ = repeat_previous
    agent, state = trained["gru"]
    inputs, _ = rollout_with_states(env, params, jax.random.key(8), num_envs=8, num_steps=64, policy=agent.model(state.params).actor)
    reward = np.asarray(inputs.prev_reward)[~np.asarray(inputs.done)]
    reward = reward[reward != 0]  # the first three steps of an episode are not scored
    assert reward.size > 300 and np.mean(reward > 0) > 0.9  # the suit named was the one asked for
