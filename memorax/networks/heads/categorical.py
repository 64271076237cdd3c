"""Categorical: a policy over discrete actions."""

from __future__ import annotations

import distrax
import jax
from flax import nnx

from memorax.networks.lazy import LazyModule
from memorax.networks.linear import Linear
from memorax.networks.sizes import require_sizes


class Categorical(LazyModule):
    r"""``π(a | h) = softmax(h W + b)_a``.

    Shapes: inputs ``[B, T, F]``; returns a ``distrax.Categorical`` with batch
    shape ``[B, T]`` over ``action_dim`` actions.

    Args:
      action_dim: number of actions.
      kernel_init: default orthogonal with gain 0.01, so the initial policy is
        near uniform.
    """

    def __init__(self, action_dim: int, *, kernel_init: nnx.Initializer = nnx.initializers.orthogonal(0.01)):
        require_sizes("Categorical", action_dim=action_dim)
        self.action_dim = action_dim
        self.kernel_init = kernel_init

    def build(self, in_features: int, rngs: nnx.Rngs) -> None:
        self.logits = Linear(in_features, self.action_dim, kernel_init=self.kernel_init, rngs=rngs)

    def __call__(self, inputs: jax.Array) -> distrax.Categorical:
        self.build_once(inputs)
        return distrax.Categorical(logits=self.logits(inputs))
