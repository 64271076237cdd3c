"""Wrappers: what each does to observations, under jit and vmap, final observations included."""

import jax
import numpy as np
import pytest
from rollouts import play, random_policy

from memorax.environments import (
    FlickerObservation,
    MaskObservation,
    NoisyObservation,
    NormalizeObservation,
    RecordEpisodeStatistics,
    make,
)

NUM_ENVS, STEPS = 32, 300


def run(env, params, seed=0):
    """Random actions for STEPS steps in NUM_ENVS environments; returns (obs, terminated|truncated, info)."""
    trajectory = play(env, params, random_policy(env, params), jax.random.key(seed), NUM_ENVS, STEPS)
    return trajectory["next_obs"], trajectory["terminated"] | trajectory["truncated"], trajectory["info"]


@pytest.fixture(scope="module")
def cartpole():
    return make("gymnax::CartPole-v1")


def test_mask_observation_keeps_the_chosen_entries(cartpole):
    env, params = cartpole
    full = run(env, params)
    masked = run(MaskObservation(env, indices=(0, 2)), params)
    np.testing.assert_array_equal(masked[0], full[0][..., [0, 2]])
    np.testing.assert_array_equal(masked[2]["final_observation"], full[2]["final_observation"][..., [0, 2]])
    space = MaskObservation(env, indices=(0, 2)).observation_space(params)
    assert space.shape == (2,)
    np.testing.assert_allclose(space.high, [4.8, 0.41887903], rtol=1e-6)


def test_mask_observation_rejects_indices_out_of_range(cartpole):
    env, _ = cartpole
    with pytest.raises(ValueError, match=r"MaskObservation: indices \[0, 7\] do not select from observations of size 4"):
        MaskObservation(env, indices=(0, 7))


def test_noisy_observation_adds_noise_of_the_given_std(cartpole):
    env, params = cartpole
    clean, noisy = run(env, params), run(NoisyObservation(env, std=0.3), params)
    # The same key splits drive the wrapped environment, so the dynamics are identical.
    noise = noisy[0] - clean[0]
    assert abs(noise.std() - 0.3) < 0.01 and abs(noise.mean()) < 0.01


def test_flicker_observation_blanks_with_probability_p():
    env, params = make("memorax::RepeatFirst-Easy")
    obs = run(FlickerObservation(env, p=0.25), params)[0]
    blank = np.all(obs == 0, axis=-1)
    assert abs(blank.mean() - 0.25) < 0.02
    assert np.all(obs[~blank].sum(axis=-1) == 1)


def test_normalize_observation_standardises_over_time(cartpole):
    env, params = cartpole
    obs = run(NormalizeObservation(env), params)[0]
    late = obs[STEPS // 2 :].reshape(-1, 4)
    np.testing.assert_allclose(late.mean(axis=0), 0, atol=0.3)
    np.testing.assert_allclose(late.std(axis=0), 1, atol=0.3)


def test_record_episode_statistics_and_resets_follow_gymnax_flags():
    """CartPole with a 20-step limit ends episodes both ways (sometimes at once) under random play."""
    env, params = make("gymnax::CartPole-v1")
    params = params.replace(max_steps_in_episode=20)
    _, done, info = run(RecordEpisodeStatistics(env), params)
    terminated, truncated, episode, final = info["terminated"], info["truncated"], info["episode"], info["final_observation"]
    assert terminated.any() and (truncated & ~terminated).any()
    np.testing.assert_array_equal(done, terminated | truncated)
    np.testing.assert_array_equal(episode["done"], done)
    # A truncation is exactly the time limit; a termination exactly CartPole's failure, read off the final observation.
    np.testing.assert_array_equal(truncated, episode["length"] == 20)
    failed = (np.abs(final[..., 0]) > 2.4) | (np.abs(final[..., 2]) > 12 * 2 * np.pi / 360)
    np.testing.assert_array_equal(terminated, failed)
    # CartPole pays 1 per step: an episode's return equals its length, and lengths are the gaps between ends.
    np.testing.assert_array_equal(episode["return"][done], episode["length"][done])
    for env_index in range(NUM_ENVS):
        ends = np.flatnonzero(done[:, env_index])
        np.testing.assert_array_equal(episode["length"][ends[1:], env_index], np.diff(ends))


def test_auto_reset_starts_fresh_and_keeps_the_final_observation():
    env, params = make("gymnax::CartPole-v1")
    obs, done, info = run(env, params)
    final = info["final_observation"]
    assert done.any()
    np.testing.assert_array_equal(final[~done], obs[~done])
    assert np.all(np.abs(obs[done]) <= 0.05), "CartPole resets uniformly within ±0.05"
    assert np.all(np.abs(final[done]).max(-1) > 0.05)


def test_wrappers_compose(cartpole):
    env, params = cartpole
    stacked = RecordEpisodeStatistics(FlickerObservation(NoisyObservation(MaskObservation(env, (0, 2)), 0.1), 0.1))
    obs, _, info = run(stacked, params)
    assert obs.shape == (STEPS, NUM_ENVS, 2) and "episode" in info
    assert stacked.observation_space(params).shape == (2,)
    assert stacked.num_actions == 2


def test_stacked_noise_wrappers_draw_independent_noise(cartpole):
    env, params = cartpole
    clean = run(env, params)[0]
    once = run(NoisyObservation(env, std=0.3), params)[0] - clean
    twice = run(NoisyObservation(NoisyObservation(env, std=0.3), std=0.3), params)[0] - clean
    assert abs(twice.std() - 0.3 * np.sqrt(2)) < 0.01
    assert abs(np.corrcoef(once.ravel(), (twice - once).ravel())[0, 1]) < 0.02
