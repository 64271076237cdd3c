"""Heads: shapes, log-probabilities against direct formulas, squashing at the bounds."""

import distrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from memorax.networks import heads, init

B, T, F, A = 4, 3, 8, 2
FEATURES = jax.random.normal(jax.random.key(0), (B, T, F))


def built(head, **kwargs):
    init(head, 0, FEATURES, **kwargs)
    return head


def test_categorical_log_prob_is_log_softmax():
    head = built(heads.Categorical(action_dim=4))
    dist = head(FEATURES)
    assert dist.batch_shape == (B, T)
    logits = FEATURES @ head.logits.kernel[...] + head.logits.bias[...]
    actions = jax.random.randint(jax.random.key(1), (B, T), 0, 4)
    expected = jnp.take_along_axis(jax.nn.log_softmax(logits), actions[..., None], -1)[..., 0]
    np.testing.assert_allclose(dist.log_prob(actions), expected, rtol=1e-5, atol=1e-6)


def test_discrete_q_network_shape():
    head = built(heads.DiscreteQNetwork(action_dim=4))
    q = head(FEATURES)
    assert q.shape == (B, T, 4)
    np.testing.assert_allclose(q, FEATURES @ head.q.kernel[...] + head.q.bias[...], rtol=1e-5)


def test_gaussian_log_prob_is_normal_density():
    head = built(heads.Gaussian(action_dim=A, log_std_init=-0.5))
    dist = head(FEATURES)
    assert dist.batch_shape == (B, T) and dist.event_shape == (A,)
    mean = FEATURES @ head.mean.kernel[...] + head.mean.bias[...]
    std = jnp.exp(-0.5)
    action = jax.random.normal(jax.random.key(2), (B, T, A))
    expected = jnp.sum(-0.5 * ((action - mean) / std) ** 2 - jnp.log(std) - 0.5 * jnp.log(2 * jnp.pi), -1)
    np.testing.assert_allclose(dist.log_prob(action), expected, rtol=1e-5, atol=1e-5)


def test_squashed_gaussian_log_prob_includes_tanh_jacobian():
    head = built(heads.SquashedGaussian(action_dim=A))
    dist = head(FEATURES)
    assert dist.batch_shape == (B, T) and dist.event_shape == (A,)
    action = jnp.tanh(jax.random.normal(jax.random.key(3), (B, T, A)))
    base = dist.distribution
    pre_tanh = jnp.arctanh(action)
    expected = base.log_prob(pre_tanh) - jnp.sum(jnp.log(1 - action**2), -1)
    np.testing.assert_allclose(dist.log_prob(action), expected, rtol=1e-4, atol=1e-4)


def test_squashed_gaussian_samples_in_bounds_and_finite_at_edges():
    head = built(heads.SquashedGaussian(action_dim=A))
    dist = head(FEATURES * 50)  # large features push means and log-stds to extremes
    samples, log_prob = dist.sample_and_log_prob(seed=jax.random.key(4), sample_shape=(256,))
    assert samples.shape == (256, B, T, A)
    assert jnp.all(jnp.abs(samples) <= 1.0)
    assert jnp.all(jnp.isfinite(log_prob))
    for edge in (0.999999, -0.999999):
        assert jnp.all(jnp.isfinite(head(FEATURES).log_prob(jnp.full((B, T, A), edge))))


def test_continuous_q_network_uses_the_action():
    action = jnp.zeros((B, T, A))
    head = built(heads.ContinuousQNetwork(), action=action)
    q = head(FEATURES, action=action)
    assert q.shape == (B, T)
    assert not np.allclose(q, head(FEATURES, action=action + 1.0))


def test_continuous_q_network_reads_the_action_through_its_hidden_layers():
    action = jax.random.normal(jax.random.key(2), (B, T, A))
    head = built(heads.ContinuousQNetwork(features=(16,)), action=action)
    hidden = jax.nn.relu(jnp.concatenate([FEATURES, action], -1) @ head.hidden.layers[0].kernel[...] + head.hidden.layers[0].bias[...])
    np.testing.assert_allclose(head(FEATURES, action=action), (hidden @ head.q.kernel[...] + head.q.bias[...])[..., 0], rtol=1e-5)
    linear = built(heads.ContinuousQNetwork(features=()), action=action)
    x = jnp.concatenate([FEATURES, action], -1)
    np.testing.assert_allclose(linear(FEATURES, action=action), (x @ linear.q.kernel[...] + linear.q.bias[...])[..., 0], rtol=1e-5)


def test_continuous_q_network_rejects_a_wrong_action_shape():
    action = jnp.zeros((B, T, A))
    head = built(heads.ContinuousQNetwork(), action=action)
    with pytest.raises(ValueError, match=r"ContinuousQNetwork: action has shape \(4, 2\)"):
        head(FEATURES, action=jnp.zeros((B, A)))


def test_v_network_shape():
    head = built(heads.VNetwork())
    v = head(FEATURES)
    assert v.shape == (B, T)
    np.testing.assert_allclose(v, (FEATURES @ head.v.kernel[...] + head.v.bias[...])[..., 0], rtol=1e-5)


def test_squashed_gaussian_log_prob_is_finite_at_exactly_one_and_plain_inside():
    """Actions of exactly ±1 (tanh of a large mean in float32) are valued as the nearest float32 inside the bounds."""
    dist = built(heads.SquashedGaussian(action_dim=A))(FEATURES)
    inside = np.nextafter(np.float32(1), np.float32(0))  # the largest float32 below 1
    for edge in (1.0, -1.0):
        at_edge = dist.log_prob(jnp.full((B, T, A), edge, jnp.float32))
        assert jnp.all(jnp.isfinite(at_edge))
        np.testing.assert_array_equal(at_edge, dist.log_prob(jnp.full((B, T, A), np.sign(edge) * inside, jnp.float32)))
    plain = distrax.Transformed(dist.distribution, distrax.Block(distrax.Tanh(), ndims=1))
    action = jnp.tanh(jax.random.normal(jax.random.key(5), (B, T, A)))
    np.testing.assert_array_equal(dist.log_prob(action), plain.log_prob(action))
