"""Advantages and bootstraps at both kinds of episode end, against hand-derived values."""

import jax.numpy as jnp
import numpy as np
import pytest

from memorax.algorithms.common.returns import lambda_returns, n_step_returns, next_values

# Four steps: step 1 is truncated (its final observation is worth 2.0), step 2 terminates.
REWARDS = jnp.array([1.0, 1.0, 1.0, 1.0])
VALUES = jnp.array([0.5, 0.6, 0.7, 0.8])
LAST_VALUE = jnp.array(0.9)
FINAL_VALUES = jnp.array([0.0, 2.0, 0.0, 0.0])
TERMINATED = jnp.array([False, False, True, False])
TRUNCATED = jnp.array([False, True, False, False])


def test_next_values_bootstrap_through_truncation_not_termination():
    following = next_values(VALUES, LAST_VALUE, FINAL_VALUES, TERMINATED, TRUNCATED)
    np.testing.assert_allclose(following, [0.6, 2.0, 0.0, 0.9])


def test_gae_by_hand():
    gamma, lam = 0.9, 0.5
    following = next_values(VALUES, LAST_VALUE, FINAL_VALUES, TERMINATED, TRUNCATED)
    advantages = lambda_returns(REWARDS, following, TERMINATED | TRUNCATED, gamma, lam) - VALUES
    # GAE from its definition, deltas: 1 + .9*.6 - .5 = 1.04; 1 + .9*2 - .6 = 2.2; 1 + 0 - .7 = .3; 1 + .9*.9 - .8 = 1.01
    # A3 = 1.01; A2 = .3 (episode ends); A1 = 2.2 (episode ends); A0 = 1.04 + .45 * 2.2 = 2.03
    np.testing.assert_allclose(advantages, [2.03, 2.2, 0.3, 1.01], rtol=1e-6)


def test_lambda_one_gives_discounted_returns():
    gamma = 0.9
    following = next_values(VALUES, LAST_VALUE, FINAL_VALUES, TERMINATED, TRUNCATED)
    targets = lambda_returns(REWARDS, following, TERMINATED | TRUNCATED, gamma, 1.0)
    returns = [1 + gamma * 1 + gamma**2 * 2.0, 1 + gamma * 2.0, 1.0, 1 + gamma * 0.9]
    np.testing.assert_allclose(targets, returns, rtol=1e-6)


def test_lambda_zero_gives_one_step_targets():
    following = next_values(VALUES, LAST_VALUE, FINAL_VALUES, TERMINATED, TRUNCATED)
    targets = lambda_returns(REWARDS, following, TERMINATED | TRUNCATED, 0.9, 0.0)
    np.testing.assert_allclose(targets, REWARDS + 0.9 * following, rtol=1e-6)


def test_n_step_targets_by_hand():
    following = next_values(VALUES, LAST_VALUE, FINAL_VALUES, TERMINATED, TRUNCATED)  # [0.6, 2.0, 0.0, 0.9]
    ended = TERMINATED | TRUNCATED
    one_step = n_step_returns(REWARDS, following, ended, 0.9, 1)
    np.testing.assert_allclose(one_step, [1.54, 2.8, 1.0, 1.81], rtol=1e-6)
    # Step 0 adds step 1's reward and its truncation bootstrap; every other step is cut by an end (or the sequence's).
    two_step = n_step_returns(REWARDS, following, ended, 0.9, 2)
    np.testing.assert_allclose(two_step, [1 + 0.9 * 2.8, 2.8, 1.0, 1.81], rtol=1e-6)
    np.testing.assert_allclose(n_step_returns(REWARDS, following, ended, 0.9, 5), two_step, rtol=1e-6)


def test_n_step_needs_a_positive_n():
    with pytest.raises(ValueError, match="n is 0; expected at least 1"):
        n_step_returns(REWARDS, VALUES, TERMINATED, 0.9, 0)
