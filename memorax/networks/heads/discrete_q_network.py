"""DiscreteQNetwork: one action value per discrete action."""

from __future__ import annotations

import jax
from flax import nnx

from memorax.networks.lazy import LazyModule
from memorax.networks.linear import Linear
from memorax.networks.sizes import require_sizes


class DiscreteQNetwork(LazyModule):
    r"""``Q(h, ·) = h W + b``.

    Shapes: inputs ``[B, T, F]``, outputs ``[B, T, action_dim]``.

    Args:
      action_dim: number of actions.
    """

    def __init__(self, action_dim: int):
        require_sizes("DiscreteQNetwork", action_dim=action_dim)
        self.action_dim = action_dim

    def build(self, in_features: int, rngs: nnx.Rngs) -> None:
        self.q = Linear(in_features, self.action_dim, rngs=rngs)

    def __call__(self, inputs: jax.Array) -> jax.Array:
        self.build_once(inputs)
        return self.q(inputs)
