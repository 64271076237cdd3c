"""DeltaNet and Gated DeltaNet: linear attention with the delta rule (Schlag et al. 2021, arXiv:2102.11174; Yang et al. 2024,
arXiv:2406.06484) and its gated form (Yang, Kautz and Hatamizadeh 2024, arXiv:2412.06464), whose memory resets at episode starts."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from memorax.networks.lazy import LazyModule
from memorax.networks.linear import Linear
from memorax.networks.sequence_models.sequence_model import Carry, SequenceModel


def l2_normalize(x: jax.Array, eps: float = 1e-6) -> jax.Array:
    return x * jax.lax.rsqrt(jnp.sum(x * x, axis=-1, keepdims=True) + eps)


class DeltaNet(LazyModule, SequenceModel):
    r"""Multi-head linear attention whose memory is written by the delta rule: each key overwrites what it held.

    Per head, with ``q, k`` through SiLU and then L2-normalised, ``v`` through
    SiLU, and ``β_t = σ(w_β^\top x_t)``:

    .. math::

        S_t = S_{t-1} \big(I - \beta_t k_t k_t^\top\big) + \beta_t v_t k_t^\top, \quad
        o_t = W_o \big[\mathrm{RMSNorm}(S_t q_t / \sqrt{d})\big]_{heads},

    so writing ``v`` at key ``k`` first removes the value ``S_{t-1} k`` stored
    there (with ``β`` as the step size). ``S`` is ``[head_dim, head_dim]`` per
    head and set to 0 at an episode start. Sequences run step by step
    (``jax.lax.scan``); the papers' chunked parallel form is not implemented.
    Unlike flash-linear-attention's layer there is no short convolution before
    the projections.

    Shapes: inputs ``[B, T, F]``, outputs ``[B, T, features or F]``; carry
    ``[B, heads, head_dim, head_dim]`` (``S`` with values along the second-last axis).

    Args:
      num_heads: number of heads.
      head_dim: width of each head's queries, keys and values.
      features: output width (default: the input width).
    """

    def __init__(self, num_heads: int, head_dim: int, *, features: int | None = None):
        self.num_heads = num_heads
        self.head_dim = head_dim
        self.features = features

    def build(self, in_features: int, rngs: nnx.Rngs) -> None:
        width = self.num_heads * self.head_dim
        self.query_key_value = Linear(in_features, 3 * width, use_bias=False, rngs=rngs)
        self.beta_proj = Linear(in_features, self.num_heads, use_bias=False, rngs=rngs)
        self.norm = nnx.RMSNorm(self.head_dim, rngs=rngs)
        self.out_proj = Linear(width, self.features or in_features, use_bias=False, rngs=rngs)

    def initialize_carry(self, batch_size: int) -> Carry:
        return jnp.zeros((batch_size, self.num_heads, self.head_dim, self.head_dim))

    def decay(self, inputs: jax.Array) -> jax.Array:
        """The factor ``α_t`` on the memory before each write, ``[B, T, heads]``: 1 for DeltaNet."""
        return jnp.ones((*inputs.shape[:2], self.num_heads))

    def output(self, read: jax.Array, inputs: jax.Array) -> jax.Array:
        """The heads' reads ``[B, T, heads, head_dim]`` to outputs ``[B, T, features]``."""
        return self.out_proj(self.norm(read).reshape(*inputs.shape[:2], -1))

    def __call__(self, inputs: jax.Array, done: jax.Array, carry: Carry) -> tuple[Carry, jax.Array]:
        self.build_once(inputs)
        batch, steps = inputs.shape[:2]
        heads = jax.nn.silu(self.query_key_value(inputs)).reshape(batch, steps, 3, self.num_heads, self.head_dim)
        queries = l2_normalize(heads[:, :, 0]) / jnp.sqrt(self.head_dim)
        keys, values = l2_normalize(heads[:, :, 1]), heads[:, :, 2]
        beta = jax.nn.sigmoid(self.beta_proj(inputs))
        state, read = delta_rule(queries, keys, values, beta, self.decay(inputs), done, carry)
        return state, self.output(read, inputs)


class GatedDeltaNet(DeltaNet):
    r"""DeltaNet with a decaying memory and a gated output (Yang, Kautz and Hatamizadeh 2024).

    .. math::

        S_t = \alpha_t S_{t-1} \big(I - \beta_t k_t k_t^\top\big) + \beta_t v_t k_t^\top, \quad
        \alpha_t = \exp\!\big(-e^{A}\, \mathrm{softplus}(w_\alpha^\top x_t + b_\alpha)\big),

        o_t = W_o \big[\mathrm{RMSNorm}(S_t q_t / \sqrt{d}) \odot \mathrm{SiLU}(W_g x_t)\big]_{heads},

    with one ``α`` per head, as Mamba-2's decay; ``A`` starts as ``log U(1, 16)``
    and ``b_α`` so that ``softplus(b_α)`` is log-uniform in ``[0.001, 0.1]``.
    Shapes and arguments as :class:`DeltaNet`.
    """

    def build(self, in_features: int, rngs: nnx.Rngs) -> None:
        super().build(in_features, rngs)
        self.alpha_proj = Linear(in_features, self.num_heads, use_bias=False, rngs=rngs)
        self.gate_proj = Linear(in_features, self.num_heads * self.head_dim, use_bias=False, rngs=rngs)
        self.a_log = nnx.Param(jnp.log(jax.random.uniform(rngs.params(), (self.num_heads,), minval=1, maxval=16)))
        step = jnp.exp(jax.random.uniform(rngs.params(), (self.num_heads,), minval=jnp.log(1e-3), maxval=jnp.log(0.1)))
        self.alpha_bias = nnx.Param(step + jnp.log(-jnp.expm1(-step)))  # softplus^{-1}(step)

    def decay(self, inputs: jax.Array) -> jax.Array:
        rate = jnp.exp(self.a_log[...]) * jax.nn.softplus(self.alpha_proj(inputs) + self.alpha_bias[...])
        return jnp.exp(-rate)

    def output(self, read: jax.Array, inputs: jax.Array) -> jax.Array:
        gate = jax.nn.silu(self.gate_proj(inputs)).reshape(read.shape)
        return self.out_proj((self.norm(read) * gate).reshape(*inputs.shape[:2], -1))


def delta_rule(
    queries: jax.Array, keys: jax.Array, values: jax.Array, beta: jax.Array, alpha: jax.Array, done: jax.Array, state: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """The last ``S`` and every read ``S_t q_t`` of ``S_t = α_t S_{t-1}(I - β_t k_t k_tᵀ) + β_t v_t k_tᵀ``, ``S`` zeroed where ``done``.

    ``queries, keys, values [B, T, heads, d]``, ``beta, alpha [B, T, heads]``,
    ``done [B, T]``, ``state [B, heads, d_v, d_k]``; reads ``[B, T, heads, d_v]``.
    """

    def step(state, inputs):
        q, k, v, b, a, reset = inputs
        state = jnp.where(reset[:, None, None, None], 0.0, state) * a[..., None, None]
        stored = jnp.einsum("bhvk,bhk->bhv", state, k)
        state = state + jnp.einsum("bhv,bhk->bhvk", b[..., None] * (v - stored), k)
        return state, jnp.einsum("bhvk,bhk->bhv", state, q)

    sequences = (queries, keys, values, beta, alpha, done)
    state, reads = jax.lax.scan(step, state, jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), sequences))
    return state, jnp.swapaxes(reads, 0, 1)
