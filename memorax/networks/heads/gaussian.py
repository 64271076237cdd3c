"""Gaussian: a diagonal Gaussian policy over continuous actions."""

from __future__ import annotations

import distrax
import jax
import jax.numpy as jnp
from flax import nnx

from memorax.networks.lazy import LazyModule
from memorax.networks.linear import Linear
from memorax.networks.sizes import require_sizes


class Gaussian(LazyModule):
    r"""``π(a | h) = N(a; h W + b, diag(exp(2 log σ)))`` with a state-independent, learned ``log σ``.

    Shapes: inputs ``[B, T, F]``; returns a ``distrax.MultivariateNormalDiag``
    with batch shape ``[B, T]`` and event shape ``[action_dim]``.

    Args:
      action_dim: action dimensions.
      log_std_init: initial ``log σ`` (default 0).
    """

    def __init__(self, action_dim: int, *, log_std_init: float = 0.0):
        require_sizes("Gaussian", action_dim=action_dim)
        self.action_dim = action_dim
        self.log_std_init = log_std_init

    def build(self, in_features: int, rngs: nnx.Rngs) -> None:
        self.mean = Linear(
            in_features, self.action_dim, kernel_init=nnx.initializers.orthogonal(0.01), rngs=rngs
        )
        self.log_std = nnx.Param(jnp.full((self.action_dim,), self.log_std_init, jnp.float32))

    def __call__(self, inputs: jax.Array) -> distrax.MultivariateNormalDiag:
        self.build_once(inputs)
        mean = self.mean(inputs)
        return distrax.MultivariateNormalDiag(mean, jnp.broadcast_to(jnp.exp(self.log_std[...]), mean.shape))
