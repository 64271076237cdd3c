"""S5: the simplified structured state-space layer of Smith et al. (2023), arXiv:2208.04933."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from memorax.networks.lazy import LazyModule
from memorax.networks.sequence_models.linear_recurrence import feedthrough, run_recurrence
from memorax.networks.sequence_models.sequence_model import Carry, SequenceModel
from memorax.networks.sizes import require_sizes


def hippo_legs_normal(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues and eigenvectors of the normal part of HiPPO-LegS.

    HiPPO-LegS is ``A[i, k] = -sqrt(2i+1) sqrt(2k+1)`` for ``i > k``, ``-(i+1)``
    on the diagonal; adding ``p p^T`` with ``p_i = sqrt(i + 1/2)`` leaves
    ``-1/2 I`` plus a skew-symmetric matrix, whose eigenvalues are
    ``-1/2 + i omega`` (S5, Sec. 4.1 and Gu et al. 2022).
    """
    q = np.sqrt(1 + 2 * np.arange(n))
    hippo = -(np.tril(q[:, None] * q[None, :]) - np.diag(np.arange(n)))
    p = np.sqrt(np.arange(n) + 0.5)
    normal = hippo + p[:, None] * p[None, :]
    imag, vectors = np.linalg.eigh(normal * -1j)
    real = np.full(n, np.mean(np.diagonal(normal)))
    return real + 1j * imag, vectors


class S5(LazyModule, SequenceModel):
    r"""An S5 layer: a diagonal complex SSM, HiPPO-initialised and discretised by zero-order hold.

    With ``P = state_dim`` and conjugate symmetry (``P/2`` complex states kept):

    .. math::

        \bar\Lambda = e^{\Lambda \Delta}, \quad
        \bar B = \Lambda^{-1} (\bar\Lambda - 1) \tilde B, \quad
        x_t = \bar\Lambda \odot x_{t-1} + \bar B u_t, \quad
        y_t = 2\,\mathrm{Re}(\tilde C x_t) + D u_t,

    where ``Λ`` are eigenvalues of HiPPO-LegS's normal part, ``B̃ = V^{-1} B`` and
    ``C̃ = C V`` with ``V`` its eigenvectors, and ``log Δ`` is uniform in
    ``[log dt_min, log dt_max]``. ``Re(Λ)`` is kept below ``-1e-4`` so the
    recurrence stays stable.

    Shapes: inputs ``[B, T, F]``, outputs ``[B, T, hidden_dim]``; carry
    ``[B, state_dim // 2]`` complex64. D is a vector when ``F == hidden_dim``,
    else an ``[F, hidden_dim]`` matrix.

    Args:
      hidden_dim: output width ``H``.
      state_dim: ``P``, even.
      dt_min, dt_max: range of the initial step sizes (default 0.001, 0.1).
    """

    def __init__(self, hidden_dim: int, state_dim: int, *, dt_min: float = 0.001, dt_max: float = 0.1):
        require_sizes("S5", hidden_dim=hidden_dim, state_dim=state_dim)
        if state_dim % 2:
            raise ValueError(f"S5: state_dim is {state_dim}; expected an even number (conjugate pairs).")
        self.hidden_dim = hidden_dim
        self.state_dim = state_dim
        self.dt_min = dt_min
        self.dt_max = dt_max

    def build(self, in_features: int, rngs: nnx.Rngs) -> None:
        half = self.state_dim // 2
        eigenvalues, vectors = hippo_legs_normal(self.state_dim)
        eigenvalues, vectors = eigenvalues[:half], jnp.asarray(vectors[:, :half], jnp.complex64)
        lecun = nnx.initializers.lecun_normal()
        b = lecun(rngs.params(), (self.state_dim, in_features))
        c = lecun(rngs.params(), (self.hidden_dim, self.state_dim), jnp.complex64)
        b_tilde = vectors.conj().T @ b.astype(jnp.complex64)
        c_tilde = c @ vectors
        self.lambda_re = nnx.Param(jnp.asarray(eigenvalues.real, jnp.float32))
        self.lambda_im = nnx.Param(jnp.asarray(eigenvalues.imag, jnp.float32))
        self.B = nnx.Param(jnp.stack([b_tilde.real, b_tilde.imag], -1))
        self.C = nnx.Param(jnp.stack([c_tilde.real, c_tilde.imag], -1))
        self.log_step = nnx.Param(
            jax.random.uniform(rngs.params(), (half,), minval=math.log(self.dt_min), maxval=math.log(self.dt_max))
        )
        if in_features == self.hidden_dim:
            self.D = nnx.Param(jax.random.normal(rngs.params(), (in_features,)))
        else:
            self.D = nnx.Param(lecun(rngs.params(), (in_features, self.hidden_dim)))

    def initialize_carry(self, batch_size: int) -> Carry:
        return jnp.zeros((batch_size, self.state_dim // 2), jnp.complex64)

    def discretize(self) -> tuple[jax.Array, jax.Array]:
        """Zero-order hold: ``(Λ̄ [P/2], B̄ [P/2, F])``."""
        lam = jnp.minimum(self.lambda_re[...], -1e-4) + 1j * self.lambda_im[...]
        lam_bar = jnp.exp(lam * jnp.exp(self.log_step[...]))
        b_tilde = self.B[..., 0] + 1j * self.B[..., 1]
        return lam_bar, ((lam_bar - 1) / lam)[:, None] * b_tilde

    def __call__(self, inputs: jax.Array, done: jax.Array, carry: Carry) -> tuple[Carry, jax.Array]:
        self.build_once(inputs)
        lam_bar, b_bar = self.discretize()
        drive = jnp.einsum("btf,pf->btp", inputs.astype(jnp.complex64), b_bar)
        x = run_recurrence(jnp.broadcast_to(lam_bar, drive.shape), drive, done, carry)
        c_tilde = self.C[..., 0] + 1j * self.C[..., 1]
        y = 2 * jnp.einsum("btp,hp->bth", x, c_tilde).real + feedthrough(inputs, self.D[...])
        return x[:, -1], y
