"""Mamba2: the state-space duality (SSD) block of Dao & Gu (2024), arXiv:2405.21060, reset at episode starts."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

from memorax.networks.lazy import LazyModule
from memorax.networks.linear import Linear
from memorax.networks.sequence_models.causal_conv import causal_conv
from memorax.networks.sequence_models.sequence_model import Carry, SequenceModel
from memorax.networks.sizes import require_sizes


def chunked_ssd(
    x: jax.Array, dt: jax.Array, a: jax.Array, b: jax.Array, c: jax.Array, done: jax.Array, h0: jax.Array, chunk_size: int
) -> tuple[jax.Array, jax.Array]:
    r"""``(y [B, T, H, P], h_T [B, H, P, N])`` of the scalar-decay state space, per head ``h``,

    .. math::

        h_t = e^{\Delta_t a_h} h_{t-1} + \Delta_t\, x_t B_t^\top
        \ (h_{t-1} = 0 \text{ where } done_t), \quad y_t = h_t C_t,

    from ``x [B, T, H, P]``, ``dt [B, T, H]``, ``a [H]`` (negative),
    ``b``, ``c`` ``[B, T, N]``, ``done [B, T]`` and ``h0 [B, H, P, N]``.

    In chunks of ``chunk_size`` steps (the SSD algorithm): within a chunk, the
    outputs are one masked matrix product, ``y_t = Σ_{s≤t} e^{Σ_{s<r≤t} Δ_r a}
    (C_t·B_s) Δ_s x_s`` over the steps ``s`` of ``t``'s episode, plus the
    chunk's first state carried to ``t`` if no episode started in between;
    across chunks, the state is carried by a scan. The decays are summed over
    each pair's steps, never subtracted, so no exponent loses precision.
    """
    batch, steps = done.shape
    size = min(chunk_size, steps)
    chunks = -(-steps // size)

    def chunked(v: jax.Array) -> jax.Array:
        """``[B, T, ...]`` as ``[chunks, B, size, ...]``; padded steps have ``Δ = 0``: they keep the state."""
        v = jnp.pad(v, [(0, 0), (0, chunks * size - steps)] + [(0, 0)] * (v.ndim - 2))
        return jnp.moveaxis(v.reshape(batch, chunks, size, *v.shape[2:]), 1, 0)

    earlier = jnp.tril(jnp.ones((size, size), bool), -1)  # [t, s]: s < t
    causal = jnp.tril(jnp.ones((size, size), bool))

    def chunk(h: jax.Array, inputs: tuple[jax.Array, ...]) -> tuple[jax.Array, jax.Array]:
        x, dt, b, c, done = inputs
        log_decay = dt * a  # [B, Q, H]
        # between[t, s] = Σ_{s < r ≤ t} Δ_r a, summed pair by pair.
        between = jnp.cumsum(jnp.where(earlier[None, :, :, None], log_decay[:, :, None, :], 0.0), axis=1)  # [B, t, s, H]
        episode = jnp.cumsum(done, axis=1)  # episode starts up to and including each step
        same = causal & (episode[:, :, None] == episode[:, None, :])  # [B, t, s]
        weights = jnp.where(same[..., None], jnp.exp(between), 0.0) * jnp.einsum("btn,bsn->bts", c, b)[..., None]
        drive = dt[..., None] * x  # [B, Q, H, P]
        y = jnp.einsum("btsh,bshp->bthp", weights, drive)
        from_start = jnp.where((episode == 0)[..., None], jnp.exp(jnp.cumsum(log_decay, axis=1)), 0.0)  # [B, Q, H]
        y = y + jnp.einsum("btn,bhpn->bthp", c, h) * from_start[..., None]
        to_end = jnp.where((episode == episode[:, -1:])[..., None], jnp.exp(between[:, -1]), 0.0)  # [B, s, H]
        h = from_start[:, -1, :, None, None] * h + jnp.einsum("bsh,bshp,bsn->bhpn", to_end, drive, b)
        return h, y

    h, y = jax.lax.scan(chunk, h0, tuple(chunked(v) for v in (x, dt, b, c, done)))
    y = jnp.moveaxis(y, 0, 1).reshape(batch, chunks * size, *y.shape[3:])
    return y[:, :steps], h


class Mamba2(LazyModule, SequenceModel):
    r"""A Mamba-2 block with episode resets: Mamba with one scalar decay per head, computed in chunks.

    With ``E = expand * hidden_dim`` inner channels in ``H = E / head_dim``
    heads of ``P = head_dim`` channels and ``N = state_dim``:

    .. math::

        [z, x, B, C, \tilde\Delta] = W_{in} u_t, \quad
        [x, B, C] = \mathrm{SiLU}(\mathrm{conv}_{causal}([x, B, C]))_t, \quad
        \Delta_t = \mathrm{softplus}(\tilde\Delta_t + b_\Delta), \\
        h_t = e^{\Delta_t a} h_{t-1} + \Delta_t\, x_t B_t^\top \ \text{(per head)}, \quad
        y_t = h_t C_t + D x_t, \quad
        o_t = W_{out}\, \mathrm{RMSNorm}(y_t \odot \mathrm{SiLU}(z_t)),

    with ``a = -exp(A_log)``, one ``B`` and ``C`` shared by the heads (one
    group), ``A_log`` drawn so that ``-a`` is uniform in ``[1, 16]``, ``b_Δ``
    so that ``softplus(b_Δ)`` is log-uniform in ``[dt_min, dt_max]`` and the
    skip ``D`` (one per head) 1, as the authors' layer. The convolution, like
    the state, sees nothing from before an episode start. A whole sequence runs through
    :func:`~memorax.networks.sequence_models.mamba2.chunked_ssd`.

    The defaults are sized for the widths of RL agents (the paper's layers, for
    ``d_model`` of 768 and more, use ``head_dim=64`` and ``state_dim=128``).

    Shapes: inputs ``[B, T, F]``, outputs ``[B, T, hidden_dim]``; carry
    ``(conv_state [B, conv_width - 1, E + 2N], ssm_state [B, H, P, N])``.

    Args:
      hidden_dim: output width (the paper's ``d_model``).
      state_dim: ``N`` (default 32).
      head_dim: ``P``, channels per head (default 16); must divide ``expand * hidden_dim``.
      expand: inner width factor (default 2).
      conv_width: causal convolution width (default 4).
      chunk_size: steps per chunk of the whole-sequence path (default 16).
      dt_min, dt_max: range of the initial step sizes (default 0.001, 0.1).
    """

    def __init__(
        self,
        hidden_dim: int,
        *,
        state_dim: int = 32,
        head_dim: int = 16,
        expand: int = 2,
        conv_width: int = 4,
        chunk_size: int = 16,
        dt_min: float = 0.001,
        dt_max: float = 0.1,
    ):
        require_sizes(
            "Mamba2", hidden_dim=hidden_dim, state_dim=state_dim, head_dim=head_dim, expand=expand, conv_width=conv_width,
            chunk_size=chunk_size,
        )  # fmt: skip
        if (expand * hidden_dim) % head_dim:
            raise ValueError(f"Mamba2: head_dim is {head_dim}; expected a divisor of expand * hidden_dim = {expand * hidden_dim}.")
        self.hidden_dim = hidden_dim
        self.state_dim = state_dim
        self.head_dim = head_dim
        self.inner_dim = expand * hidden_dim
        self.num_heads = self.inner_dim // head_dim
        self.conv_width = conv_width
        self.chunk_size = chunk_size
        self.dt_min = dt_min
        self.dt_max = dt_max

    def build(self, in_features: int, rngs: nnx.Rngs) -> None:
        d, n, h = self.inner_dim, self.state_dim, self.num_heads
        conv_channels = d + 2 * n
        self.in_proj = Linear(in_features, d + conv_channels + h, use_bias=False, rngs=rngs)
        self.conv_kernel = nnx.Param(nnx.initializers.lecun_uniform()(rngs.params(), (self.conv_width, conv_channels)))
        self.conv_bias = nnx.Param(jnp.zeros((conv_channels,)))
        dt = jnp.exp(jax.random.uniform(rngs.params(), (h,), minval=math.log(self.dt_min), maxval=math.log(self.dt_max)))
        dt = jnp.maximum(dt, 1e-4)
        self.dt_bias = nnx.Param(dt + jnp.log(-jnp.expm1(-dt)))  # softplus(dt_bias) = dt
        self.A_log = nnx.Param(jnp.log(jax.random.uniform(rngs.params(), (h,), minval=1.0, maxval=16.0)))
        self.D = nnx.Param(jnp.ones((h,)))
        self.norm = nnx.RMSNorm(d, epsilon=1e-5, rngs=rngs)
        self.out_proj = Linear(d, self.hidden_dim, use_bias=False, rngs=rngs)

    def initialize_carry(self, batch_size: int) -> Carry:
        return (
            jnp.zeros((batch_size, self.conv_width - 1, self.inner_dim + 2 * self.state_dim)),
            jnp.zeros((batch_size, self.num_heads, self.head_dim, self.state_dim)),
        )

    def __call__(self, inputs: jax.Array, done: jax.Array, carry: Carry) -> tuple[Carry, jax.Array]:
        self.build_once(inputs)
        conv_state, ssm_state = carry
        d, n = self.inner_dim, self.state_dim
        z, xbc, dt = jnp.split(self.in_proj(inputs), [d, 2 * d + 2 * n], axis=-1)
        xbc, conv_state = causal_conv(xbc, done, conv_state, self.conv_kernel[...], self.conv_bias[...])
        x, b, c = jnp.split(nnx.silu(xbc), [d, d + n], axis=-1)
        x = x.reshape(*x.shape[:2], self.num_heads, self.head_dim)
        dt = nnx.softplus(dt + self.dt_bias[...])
        y, ssm_state = chunked_ssd(x, dt, -jnp.exp(self.A_log[...]), b, c, done, ssm_state, self.chunk_size)
        y = y + self.D[...][:, None] * x
        y = self.norm(y.reshape(*y.shape[:2], d) * nnx.silu(z))
        return (conv_state, ssm_state), self.out_proj(y)
