"""LRU: the linear recurrent unit of Orvieto et al. (2023), arXiv:2303.06349."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from memorax.networks.sequence_models.diagonal_recurrence import DiagonalRecurrence
from memorax.networks.sequence_models.linear_recurrence import feedthrough
from memorax.networks.sizes import require_sizes


class LRU(DiagonalRecurrence):
    r"""A linear recurrent unit: a complex diagonal recurrence with ring init and normalisation.

    .. math::

        \lambda = \exp(-e^{\nu} + i e^{\theta}), \quad
        h_t = \lambda \odot h_{t-1} + e^{\gamma} \odot (B u_t), \quad
        y_t = \mathrm{Re}(C h_t) + D u_t,

    with ``|λ|`` uniform on the ring ``[r_min, r_max]`` (by area), phase uniform
    in ``[0, max_phase]``, and ``e^γ = sqrt(1 - |λ|^2)`` at init so that the
    state keeps unit variance for white-noise inputs.

    Shapes: inputs ``[B, T, F]``, outputs ``[B, T, hidden_dim]``; carry
    ``[B, state_dim]`` complex64. D is a vector when ``F == hidden_dim``, else an
    ``[F, hidden_dim]`` matrix.

    Args:
      hidden_dim: output width.
      state_dim: number of complex states (default ``hidden_dim``).
      r_min, r_max: ring of initial eigenvalue moduli (default 0.9, 0.999).
      max_phase: largest initial eigenvalue phase (default 2π).
    """

    def __init__(
        self,
        hidden_dim: int,
        *,
        state_dim: int | None = None,
        r_min: float = 0.9,
        r_max: float = 0.999,
        max_phase: float = 6.283,
    ):
        require_sizes("LRU", hidden_dim=hidden_dim, state_dim=state_dim)
        self.hidden_dim = hidden_dim
        self.state_dim = state_dim or hidden_dim
        self.r_min = r_min
        self.r_max = r_max
        self.max_phase = max_phase
        self.state_shape = (self.state_dim,)
        self.state_dtype = jnp.complex64

    def build(self, in_features: int, rngs: nnx.Rngs) -> None:
        p, h = self.state_dim, self.hidden_dim
        u1, u2 = jax.random.uniform(rngs.params(), (2, p))
        nu = -0.5 * jnp.log(u1 * (self.r_max**2 - self.r_min**2) + self.r_min**2)
        theta = self.max_phase * u2
        self.nu_log = nnx.Param(jnp.log(nu))
        self.theta_log = nnx.Param(jnp.log(theta))
        self.gamma_log = nnx.Param(0.5 * jnp.log(1 - jnp.exp(-2 * nu)))
        self.B = nnx.Param(jax.random.normal(rngs.params(), (p, in_features, 2)) / jnp.sqrt(2 * in_features))
        self.C = nnx.Param(jax.random.normal(rngs.params(), (h, p, 2)) / jnp.sqrt(p))
        if in_features == h:
            self.D = nnx.Param(jax.random.normal(rngs.params(), (in_features,)))
        else:
            self.D = nnx.Param(nnx.initializers.lecun_normal()(rngs.params(), (in_features, h)))

    def decay_and_input(self, inputs: jax.Array) -> tuple[jax.Array, jax.Array]:
        lam = jnp.exp(-jnp.exp(self.nu_log[...]) + 1j * jnp.exp(self.theta_log[...]))
        b = (self.B[..., 0] + 1j * self.B[..., 1]) * jnp.exp(self.gamma_log[...])[:, None]
        drive = jnp.einsum("btf,pf->btp", inputs.astype(jnp.complex64), b)
        return jnp.broadcast_to(lam, drive.shape), drive

    def readout(self, h: jax.Array, inputs: jax.Array) -> jax.Array:
        c = self.C[..., 0] + 1j * self.C[..., 1]
        return jnp.einsum("btp,hp->bth", h, c).real + feedthrough(inputs, self.D[...])
