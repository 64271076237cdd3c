"""The CNN's convolution: the values and gradients of ``lax.conv_general_dilated``, written so XLA:CPU runs them fast in loops."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax import lax

from memorax.networks import CNN, init
from memorax.networks.cnn import NHWC, convolve


@pytest.mark.parametrize(
    "shape, kernel_size, stride, padding",
    [
        ((2, 37, 30, 3), (8, 8), (4, 4), "VALID"),
        ((2, 13, 14, 6), (4, 4), (2, 2), "SAME"),
        ((2, 11, 10, 2), (3, 3), (2, 2), ((1, 2), (0, 3))),
        ((2, 9, 9, 4), (3, 3), (1, 1), "VALID"),
        ((2, 12, 17, 3), (3, 5), (2, 3), "VALID"),
    ],
)
def test_convolve_and_its_gradient_equal_lax(shape, kernel_size, stride, padding):
    """Sizes the strides leave rows and columns over in (37 = 7 x 4 + 8 + 1), SAME and explicit padding, unequal axes."""
    inputs = jax.random.normal(jax.random.key(0), shape)
    kernel = jax.random.normal(jax.random.key(1), (*kernel_size, shape[-1], 5))

    def reference(x, k):
        return lax.conv_general_dilated(x, k, stride, padding, dimension_numbers=NHWC)

    expected, expected_vjp = jax.vjp(reference, inputs, kernel)
    actual, actual_vjp = jax.vjp(lambda x, k: convolve(x, k, stride, padding), inputs, kernel)
    np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-5)
    grad = jax.random.normal(jax.random.key(2), expected.shape)
    for ours, theirs in zip(actual_vjp(grad), expected_vjp(grad), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-5)


def test_convolve_refuses_what_it_does_not_compute():
    inputs, kernel = jnp.ones((1, 9, 9, 2)), jnp.ones((3, 3, 2, 4))
    with pytest.raises(ValueError, match=r"rhs_dilation \(2, 2\).*expected \[N, H, W, C\] inputs, NHWC, dilations of 1"):
        convolve(inputs, kernel, (1, 1), "VALID", rhs_dilation=(2, 2))
    with pytest.raises(ValueError, match="feature_group_count 2"):
        convolve(inputs, jnp.ones((3, 3, 1, 4)), (1, 1), "VALID", feature_group_count=2)
    with pytest.raises(ValueError, match=r"inputs of shape \(9, 9, 2\)"):
        convolve(inputs[0], kernel, (1, 1), "VALID")


def test_the_cnns_gradient_inside_a_scan_equals_lax():
    """As PPO takes it: a gradient per minibatch in a ``lax.scan``, images ``[batch, time, H, W, C]``."""
    images = jax.random.uniform(jax.random.key(3), (2, 3, 2, 19, 17, 3))
    ours, reference = (CNN(features=(4, 8), kernel_sizes=(4, 3), strides=(2, 1)) for _ in range(2))
    for cnn in (ours, reference):
        init(cnn, 0, images[0])
    for conv in reference.convs:
        conv.conv_general_dilated = lax.conv_general_dilated

    def gradients(cnn):
        graphdef, params = nnx.split(cnn)

        def loss(params, batch):
            return jnp.sum(jnp.sin(nnx.merge(graphdef, params)(batch)))

        def each_minibatch(params):
            return jax.lax.scan(lambda _, batch: (None, jax.grad(loss)(params, batch)), None, images)[1]

        return jax.jit(each_minibatch)(params)

    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), gradients(ours), gradients(reference))
