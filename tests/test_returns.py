"""Advantages and bootstraps at both kinds of episode end, against hand-derived values."""

import jax.numpy as jnp
import numpy as np

from memorax.algorithms.common.returns import lambda_returns, next_values

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
