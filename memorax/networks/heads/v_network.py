"""VNetwork: a state-value estimate."""

from __future__ import annotations

import jax
from flax import nnx

from memorax.networks.lazy import LazyModule
from memorax.networks.linear import Linear


class VNetwork(LazyModule):
    r"""``V(h) = h w + b``, with orthogonal init of gain 1.

    Shapes: inputs ``[B, T, F]``, outputs ``[B, T]``.
    """

    def build(self, in_features: int, rngs: nnx.Rngs) -> None:
        self.v = Linear(in_features, 1, kernel_init=nnx.initializers.orthogonal(1.0), rngs=rngs)

    def __call__(self, inputs: jax.Array) -> jax.Array:
        self.build_once(inputs)
        return self.v(inputs)[..., 0]
