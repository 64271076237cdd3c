"""FFN: the position-wise feed-forward block of a transformer."""

from __future__ import annotations

from collections.abc import Callable

import jax
from flax import nnx

from memorax.networks.lazy import LazyModule
from memorax.networks.linear import Linear
from memorax.networks.sizes import require_sizes


class FFN(LazyModule):
    r"""``y = act(x W_1 + b_1) W_2 + b_2``, back to the input width so it fits a residual.

    Feed-forward: applied to each step independently, it carries nothing.

    Shapes: inputs ``[B, T, F]``, outputs ``[B, T, F]``.

    Args:
      hidden_dim: width of the inner layer.
      activation: default GELU.
    """

    def __init__(self, hidden_dim: int, *, activation: Callable[[jax.Array], jax.Array] = nnx.gelu):
        require_sizes("FFN", hidden_dim=hidden_dim)
        self.hidden_dim = hidden_dim
        self.activation = activation

    def build(self, in_features: int, rngs: nnx.Rngs) -> None:
        self.up = Linear(in_features, self.hidden_dim, rngs=rngs)
        self.down = Linear(self.hidden_dim, in_features, rngs=rngs)

    def __call__(self, inputs: jax.Array) -> jax.Array:
        self.build_once(inputs)
        return self.down(self.activation(self.up(inputs)))
