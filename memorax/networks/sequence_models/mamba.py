"""Mamba: the selective state-space block of Gu & Dao (2023), arXiv:2312.00752."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

from memorax.networks.lazy import LazyModule
from memorax.networks.linear import Linear
from memorax.networks.sequence_models.causal_conv import causal_conv
from memorax.networks.sequence_models.selective_scan import selective_scan
from memorax.networks.sequence_models.sequence_model import Carry, SequenceModel
from memorax.networks.sizes import require_sizes


def _inverse_softplus(y: jax.Array) -> jax.Array:
    return y + jnp.log(-jnp.expm1(-y))


class Mamba(LazyModule, SequenceModel):
    r"""A Mamba block with episode resets.

    With ``D = expand * hidden_dim`` inner channels and ``N = state_dim``:

    .. math::

        [x, z] = W_{in} u_t, \quad
        x = \mathrm{SiLU}(\mathrm{conv}_{causal}(x)_t), \\
        \Delta_t = \mathrm{softplus}(W_\Delta W_r x + b_\Delta), \quad
        B_t = W_B x, \quad C_t = W_C x, \\
        h_t = \exp(\Delta_t A) \odot h_{t-1} + (\Delta_t x) B_t^\top, \quad
        y_t = (h_t C_t + D \odot x) \odot \mathrm{SiLU}(z), \quad
        o_t = W_{out} y_t,

    with ``A = -exp(A_log)`` (S4D-real init ``A_log[d, n] = log(n + 1)``) and
    ``b_Δ`` chosen so that ``softplus(b_Δ)`` is log-uniform in ``[dt_min, dt_max]``.
    The causal depthwise convolution has width ``conv_width``; like the state,
    it sees nothing from before an episode start. The state runs through
    :func:`~memorax.networks.sequence_models.selective_scan.selective_scan`,
    in chunks, never holding ``[B, T, D, N]``.

    Shapes: inputs ``[B, T, F]`` (any F), outputs ``[B, T, hidden_dim]``; the
    carry is ``(conv_state [B, conv_width - 1, D], ssm_state [B, D, N])``.

    Args:
      hidden_dim: output width (the paper's ``d_model``).
      state_dim: ``N``, state size per channel (default 16).
      expand: inner width factor (default 2).
      conv_width: causal convolution width (default 4).
      dt_min, dt_max: range of the initial step sizes (default 0.001, 0.1).
    """

    def __init__(
        self,
        hidden_dim: int,
        *,
        state_dim: int = 16,
        expand: int = 2,
        conv_width: int = 4,
        dt_min: float = 0.001,
        dt_max: float = 0.1,
    ):
        require_sizes("Mamba", hidden_dim=hidden_dim, state_dim=state_dim, expand=expand, conv_width=conv_width)
        self.hidden_dim = hidden_dim
        self.state_dim = state_dim
        self.inner_dim = expand * hidden_dim
        self.conv_width = conv_width
        self.dt_rank = math.ceil(hidden_dim / 16)
        self.dt_min = dt_min
        self.dt_max = dt_max

    def build(self, in_features: int, rngs: nnx.Rngs) -> None:
        d, n, r = self.inner_dim, self.state_dim, self.dt_rank
        self.in_proj = Linear(in_features, 2 * d, use_bias=False, rngs=rngs)
        self.conv_kernel = nnx.Param(
            nnx.initializers.lecun_uniform()(rngs.params(), (self.conv_width, d))
        )
        self.conv_bias = nnx.Param(jnp.zeros((d,)))
        self.x_proj = Linear(d, r + 2 * n, use_bias=False, rngs=rngs)
        dt = jnp.exp(
            jax.random.uniform(rngs.params(), (d,), minval=math.log(self.dt_min), maxval=math.log(self.dt_max))
        )
        self.dt_proj = Linear(
            r,
            d,
            kernel_init=lambda key, shape, dtype: jax.random.uniform(key, shape, dtype, -(r**-0.5), r**-0.5),
            bias_init=lambda *_: _inverse_softplus(jnp.maximum(dt, 1e-4)),
            rngs=rngs,
        )
        self.A_log = nnx.Param(jnp.log(jnp.broadcast_to(jnp.arange(1, n + 1, dtype=jnp.float32), (d, n))))
        self.D = nnx.Param(jnp.ones((d,)))
        self.out_proj = Linear(d, self.hidden_dim, use_bias=False, rngs=rngs)

    def initialize_carry(self, batch_size: int) -> Carry:
        return (
            jnp.zeros((batch_size, self.conv_width - 1, self.inner_dim)),
            jnp.zeros((batch_size, self.inner_dim, self.state_dim)),
        )

    def __call__(self, inputs: jax.Array, done: jax.Array, carry: Carry) -> tuple[Carry, jax.Array]:
        self.build_once(inputs)
        conv_state, ssm_state = carry
        x, z = jnp.split(self.in_proj(inputs), 2, axis=-1)
        x, conv_state = causal_conv(x, done, conv_state, self.conv_kernel[...], self.conv_bias[...])
        x = nnx.silu(x)
        dt, b, c = jnp.split(self.x_proj(x), [self.dt_rank, self.dt_rank + self.state_dim], axis=-1)
        dt = nnx.softplus(self.dt_proj(dt))
        y, ssm_state = selective_scan(dt, x, b, c, -jnp.exp(self.A_log[...]), done, ssm_state)
        y = (y + self.D * x) * nnx.silu(z)
        return (conv_state, ssm_state), self.out_proj(y)
