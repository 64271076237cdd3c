"""SquashedGaussian: a tanh-squashed Gaussian policy for actions in [-1, 1]."""

from __future__ import annotations

import distrax
import jax
import jax.numpy as jnp
from flax import nnx

from memorax.networks.lazy import LazyModule
from memorax.networks.linear import Linear
from memorax.networks.sizes import require_sizes


class ClippedTanh(distrax.Tanh):
    """``distrax.Tanh`` whose inverse first clips ``y`` into ``[-(1 - ε), 1 - ε]``, ε = ``finfo(y.dtype).epsneg``.

    ``1 - ε`` is the largest number below 1 in ``y``'s dtype (``1 - 2^-24`` in
    float32, where ``atanh(1 - ε) ≈ 8.66``), so ``atanh`` stays finite at
    ``y = ±1``: a sample whose ``tanh`` rounded to ±1 gets the log-probability
    of the nearest representable action inside the bounds, not ``-inf`` or NaN.
    The forward map (``sample``, ``sample_and_log_prob``) is ``Tanh``'s.
    """

    def inverse_and_log_det(self, y: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``x = atanh(clip(y))`` and ``log|d x / d y|`` there; shapes of ``y``."""
        bound = 1 - jnp.finfo(jnp.result_type(y)).epsneg
        return super().inverse_and_log_det(jnp.clip(y, -bound, bound))

    def same_as(self, other: distrax.Bijector) -> bool:
        return type(other) is ClippedTanh


class SquashedGaussian(LazyModule):
    r"""``a = tanh(u)``, ``u ~ N(μ(h), diag σ(h)^2)``, as in SAC (Haarnoja et al. 2018).

    ``log π(a) = log N(u) - Σ_i log(1 - tanh(u_i)^2)``, with the Jacobian term
    computed as ``2 (log 2 - u - softplus(-2u))`` (distrax's ``Tanh``), which
    stays finite near the bounds. ``log_prob(a)`` clips ``a`` into
    ``[-(1 - ε), 1 - ε]`` first (``ClippedTanh``; ``1 - ε`` is the largest
    float32 below 1, ``1 - 2^-24``), so it is finite at ``a = ±1`` exactly,
    which ``tanh`` of a large ``u`` rounds to in float32. Near the bounds the
    rounding loses ``u``, so ``log_prob`` of a stored action there is that of
    the rounded action, not the sample's (``sample_and_log_prob``, which SAC
    uses, is exact). ``log σ`` is squashed into
    ``[log_std_min, log_std_max]`` by a tanh.

    Shapes: inputs ``[B, T, F]``; returns a ``distrax.Transformed`` with batch
    shape ``[B, T]`` and event shape ``[action_dim]``. Its ``mode()`` is not
    defined by distrax; use ``jnp.tanh(dist.distribution.mean())`` for the
    deterministic action.

    Args:
      action_dim: action dimensions.
      log_std_min, log_std_max: bounds of ``log σ`` (default -5, 2).
    """

    def __init__(self, action_dim: int, *, log_std_min: float = -5.0, log_std_max: float = 2.0):
        require_sizes("SquashedGaussian", action_dim=action_dim)
        self.action_dim = action_dim
        self.log_std_min = log_std_min
        self.log_std_max = log_std_max

    def build(self, in_features: int, rngs: nnx.Rngs) -> None:
        self.mean = Linear(in_features, self.action_dim, rngs=rngs)
        self.log_std = Linear(in_features, self.action_dim, rngs=rngs)

    def __call__(self, inputs: jax.Array) -> distrax.Transformed:
        self.build_once(inputs)
        unit = jnp.tanh(self.log_std(inputs))
        log_std = self.log_std_min + 0.5 * (self.log_std_max - self.log_std_min) * (unit + 1)
        base = distrax.MultivariateNormalDiag(self.mean(inputs), jnp.exp(log_std))
        return distrax.Transformed(base, distrax.Block(ClippedTanh(), ndims=1))
