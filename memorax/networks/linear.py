"""A dense layer over any leading axes, as one 2-D matrix product."""

from __future__ import annotations

import jax
from flax import nnx


class Linear(nnx.Linear):
    """``nnx.Linear`` (``y = x W + b``, ``x [..., in_features]``, ``y [..., out_features]``) with the leading axes
    flattened into one before the product.

    The values and parameters are ``nnx.Linear``'s. XLA's CPU backend forms the
    kernel's gradient of a ``[B, T, F]`` input up to 3x more slowly than of
    the same input as ``[B·T, F]`` (measured at ``[16, 1024, 64]``); every
    dense layer of memorax's networks is this one.
    """

    def __call__(self, inputs: jax.Array) -> jax.Array:
        outputs = super().__call__(inputs.reshape(-1, inputs.shape[-1]))
        return outputs.reshape(*inputs.shape[:-1], outputs.shape[-1])
