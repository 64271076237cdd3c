"""DeltaNet and Gated DeltaNet: linear attention with the delta rule (Schlag et al. 2021, arXiv:2102.11174; Yang et al. 2024,
arXiv:2406.06484) and its gated form (Yang, Kautz and Hatamizadeh 2024, arXiv:2412.06464), whose memory resets at episode starts."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from memorax.networks.lazy import LazyModule
from memorax.networks.linear import Linear
from memorax.networks.sequence_models.causal_conv import causal_conv
from memorax.networks.sequence_models.sequence_model import Carry, SequenceModel
from memorax.networks.sizes import require_sizes


def l2_normalize(x: jax.Array, eps: float = 1e-6) -> jax.Array:
    return x * jax.lax.rsqrt(jnp.sum(x * x, axis=-1, keepdims=True) + eps)


class DeltaNet(LazyModule, SequenceModel):
    r"""Multi-head linear attention whose memory is written by the delta rule: each key overwrites what it held.

    Per head, with ``q, k, v = \mathrm{SiLU}(\mathrm{conv}_{causal}(W_{q,k,v} x))_t``,
    ``q`` and ``k`` then L2-normalised, and ``β_t = σ(w_β^\top x_t)``:

    .. math::

        S_t = S_{t-1} \big(I - \beta_t k_t k_t^\top\big) + \beta_t v_t k_t^\top, \quad
        o_t = W_o \big[\mathrm{RMSNorm}(S_t q_t / \sqrt{d})\big]_{heads},

    so writing ``v`` at key ``k`` first removes the value ``S_{t-1} k`` stored
    there (with ``β`` as the step size). ``S`` is ``[head_dim, head_dim]`` per
    head and set to 0 at an episode start. A whole sequence is computed in
    chunks (:func:`~memorax.networks.sequence_models.delta_net.chunked_delta_rule`):
    a unit lower-triangular system and products within a chunk, one product
    per chunk across them.

    The short causal convolution (width 4, no bias, restarted at episode
    starts) is flash-linear-attention's, which its DeltaNet and Gated DeltaNet
    layers apply by default: it lets keys and queries see the last few steps,
    which the memory itself cannot order. ``conv_width=None`` leaves the
    papers' bare layer, ``q, k, v = \mathrm{SiLU}(W_{q,k,v} x_t)``; in PPO with
    the POPGym preset it stayed near 0.2 on RepeatPrevious-Easy, where every
    other memory model reached 1.0.

    Shapes: inputs ``[B, T, F]``, outputs ``[B, T, features or F]``; carry
    ``(memory [B, heads, head_dim, head_dim], conv_state [B, conv_width - 1, 3 heads head_dim])``
    (``S`` with values along the second-last axis; the convolution's last inputs).

    Args:
      num_heads: number of heads.
      head_dim: width of each head's queries, keys and values.
      features: output width (default: the input width).
      conv_width: steps the convolution before queries, keys and values sees (default 4), or None for none.
      chunk_size: steps per chunk of the whole-sequence path (default 16); any value gives the same outputs.
    """

    def __init__(
        self, num_heads: int, head_dim: int, *, features: int | None = None, conv_width: int | None = 4, chunk_size: int = 16
    ):
        require_sizes(
            type(self).__name__, num_heads=num_heads, head_dim=head_dim, features=features, conv_width=conv_width, chunk_size=chunk_size
        )
        self.num_heads = num_heads
        self.head_dim = head_dim
        self.features = features
        self.conv_width = conv_width
        self.chunk_size = chunk_size

    def build(self, in_features: int, rngs: nnx.Rngs) -> None:
        width = self.num_heads * self.head_dim
        self.query_key_value = Linear(in_features, 3 * width, use_bias=False, rngs=rngs)
        if self.conv_width:  # PyTorch's Conv1d default, U(±1/√width) for a depthwise kernel
            uniform = nnx.initializers.variance_scaling(1 / 3, "fan_in", "uniform")
            self.conv_kernel = nnx.Param(uniform(rngs.params(), (self.conv_width, 3 * width)))
        self.beta_proj = Linear(in_features, self.num_heads, use_bias=False, rngs=rngs)
        self.norm = nnx.RMSNorm(self.head_dim, rngs=rngs)
        self.out_proj = Linear(width, self.features or in_features, use_bias=False, rngs=rngs)

    def initialize_carry(self, batch_size: int) -> Carry:
        memory = jnp.zeros((batch_size, self.num_heads, self.head_dim, self.head_dim))
        return memory, jnp.zeros((batch_size, (self.conv_width or 1) - 1, 3 * self.num_heads * self.head_dim))

    def log_decay(self, inputs: jax.Array) -> jax.Array:
        """``log α_t``, of the factor on the memory before each write, ``[B, T, heads]``: 0 for DeltaNet."""
        return jnp.zeros((*inputs.shape[:2], self.num_heads))

    def output(self, read: jax.Array, inputs: jax.Array) -> jax.Array:
        """The heads' reads ``[B, T, heads, head_dim]`` to outputs ``[B, T, features]``."""
        return self.out_proj(self.norm(read).reshape(*inputs.shape[:2], -1))

    def __call__(self, inputs: jax.Array, done: jax.Array, carry: Carry) -> tuple[Carry, jax.Array]:
        self.build_once(inputs)
        batch, steps = inputs.shape[:2]
        memory, conv_state = carry
        projected = self.query_key_value(inputs)
        if self.conv_width:
            projected, conv_state = causal_conv(projected, done, conv_state, self.conv_kernel[...])
        heads = jax.nn.silu(projected).reshape(batch, steps, 3, self.num_heads, self.head_dim)
        queries = l2_normalize(heads[:, :, 0]) / jnp.sqrt(self.head_dim)
        keys, values = l2_normalize(heads[:, :, 1]), heads[:, :, 2]
        beta = jax.nn.sigmoid(self.beta_proj(inputs))
        sequences = (queries, keys, values, beta, self.log_decay(inputs), done)
        if steps == 1:
            memory, read = delta_rule_step(*(x[:, 0] for x in sequences), memory)
            read = read[:, None]
        else:
            memory, read = chunked_delta_rule(*sequences, memory, min(self.chunk_size, steps))
        return (memory, conv_state), self.output(read, inputs)


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

    def log_decay(self, inputs: jax.Array) -> jax.Array:
        return -jnp.exp(self.a_log[...]) * jax.nn.softplus(self.alpha_proj(inputs) + self.alpha_bias[...])

    def output(self, read: jax.Array, inputs: jax.Array) -> jax.Array:
        gate = jax.nn.silu(self.gate_proj(inputs)).reshape(read.shape)
        return self.out_proj((self.norm(read) * gate).reshape(*inputs.shape[:2], -1))


def delta_rule_step(
    query: jax.Array, key: jax.Array, value: jax.Array, beta: jax.Array, log_alpha: jax.Array, done: jax.Array, state: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """One step of the delta rule (acting): the new ``S`` and the read ``S q``.

    ``query, key [B, heads, d_k]``, ``value [B, heads, d_v]``, ``beta, log_alpha [B, heads]``,
    ``done [B]``, ``state [B, heads, d_v, d_k]``; read ``[B, heads, d_v]``.
    """
    alpha = jnp.where(done[:, None], 0.0, jnp.exp(log_alpha))[..., None]
    stored = alpha * jnp.einsum("bhvk,bhk->bhv", state, key)
    state = alpha[..., None] * state + (beta[..., None] * (value - stored))[..., None] * key[:, :, None]
    return state, jnp.einsum("bhvk,bhk->bhv", state, query)


@jax.custom_vjp
def unit_lower_inverse(lower: jax.Array) -> jax.Array:
    """``(I + L)⁻¹`` for strictly lower-triangular ``L [..., C, C]``, by forward substitution, row by row.

    Not ``jax.lax.linalg.triangular_solve``: in jaxlib 0.10 on a CPU, batched
    solves running side by side in one program can wait on each other forever
    (XLA's thread pool), as under ``jax.vmap`` over seeds. The gradient is
    ``∂L = -strictly_lower(Xᵀ G Xᵀ)`` for ``X = (I + L)⁻¹`` and the cotangent ``G``.
    """
    return _substitute(lower)


def _substitute(lower: jax.Array) -> jax.Array:
    size = lower.shape[-1]
    inverse = jnp.broadcast_to(jnp.eye(size), lower.shape)
    for row in range(1, size):
        below = jnp.eye(size)[row] - jnp.einsum("...i,...ij->...j", lower[..., row, :row], inverse[..., :row, :])
        inverse = inverse.at[..., row, :].set(below)
    return inverse


def _unit_lower_inverse_forward(lower: jax.Array) -> tuple[jax.Array, jax.Array]:
    inverse = _substitute(lower)
    return inverse, inverse


def _unit_lower_inverse_backward(inverse: jax.Array, cotangent: jax.Array) -> tuple[jax.Array]:
    transposed = jnp.swapaxes(inverse, -1, -2)
    return (-jnp.tril(transposed @ cotangent @ transposed, -1),)


unit_lower_inverse.defvjp(_unit_lower_inverse_forward, _unit_lower_inverse_backward)


def chunked_delta_rule(
    queries: jax.Array,
    keys: jax.Array,
    values: jax.Array,
    beta: jax.Array,
    log_alpha: jax.Array,
    done: jax.Array,
    state: jax.Array,
    chunk: int,
) -> tuple[jax.Array, jax.Array]:
    r"""The last ``S`` and every read ``S_t q_t`` of ``S_t = α_t S_{t-1}(I - β_t k_t k_tᵀ) + β_t v_t k_tᵀ``.

    ``queries, keys [B, T, heads, d_k]``, ``values [B, T, heads, d_v]``,
    ``beta, log_alpha [B, T, heads]`` (``log α_t``), ``done [B, T]`` (``S_{t-1}``
    taken as 0 where set), ``state [B, heads, d_v, d_k]``; reads ``[B, T, heads, d_v]``.

    In chunks of ``chunk`` steps (the WY form of Yang et al. 2024, arXiv:2406.06484,
    with decays as in arXiv:2412.06464). A reset is a decay of 0, so within a
    chunk, with ``Γ_{ti}`` the product of the decays in ``(i, t]`` (0 across an
    episode start) and ``γ_t`` the product of those up to ``t``, the decay of the
    state ``S_0`` the chunk starts from, the state is
    ``S_t = γ_t S_0 + Σ_{i≤t} Γ_{ti} u_i k_iᵀ`` where the written values
    ``u_i = β_i (v_i - α_i S_{i-1} k_i)`` solve the unit lower-triangular system

    .. math::

        u_t + β_t \sum_{i<t} Γ_{ti} (k_t^\top k_i)\, u_i = β_t v_t - β_t γ_t S_0 k_t,

    so ``U = Ũ - W S_0ᵀ`` with ``Ũ`` and ``W`` the solutions for ``β v`` and
    ``β γ k``. Everything but ``S_0`` is computed for all chunks at once; the
    chunks' starting states follow from ``S_0 ← S_0 (γ_C I - Wᵀ K_C) + Ũᵀ K_C``
    (``K_C`` the keys scaled by ``Γ_{Ci}``), one ``d_k × d_k`` product per chunk.
    """
    batch, steps = done.shape
    pad = -steps % chunk
    if pad:  # padded steps write nothing (β = 0) and keep the state (log α = 0)
        queries, keys, values, beta, log_alpha = (
            jnp.pad(x, ((0, 0), (0, pad)) + ((0, 0),) * (x.ndim - 2)) for x in (queries, keys, values, beta, log_alpha)
        )
        done = jnp.pad(done, ((0, 0), (0, pad)))
    num_chunks = (steps + pad) // chunk

    def in_chunks(x: jax.Array) -> jax.Array:  # [B, T, heads, ...] -> [B, N, heads, C, ...]
        return jnp.moveaxis(x.reshape(batch, num_chunks, chunk, *x.shape[2:]), 2, 3)

    queries, keys, values, beta, log_alpha = map(in_chunks, (queries, keys, values, beta, log_alpha))
    position = jnp.arange(chunk)
    episode = jnp.cumsum(done.reshape(batch, num_chunks, chunk), axis=-1)[:, :, None]  # starts in the chunk up to t
    cumulative = jnp.cumsum(log_alpha, axis=-1)
    linked = (episode[..., :, None] == episode[..., None, :]) & (position[:, None] >= position[None, :])
    decay = jnp.exp(jnp.where(linked, cumulative[..., :, None] - cumulative[..., None, :], -jnp.inf))  # Γ [B, N, h, C, C]
    from_start = jnp.where(episode == 0, jnp.exp(cumulative), 0.0)  # γ [B, N, h, C]

    earlier = decay * (position[:, None] > position[None, :])
    lower = beta[..., None] * earlier * jnp.einsum("...tk,...ik->...ti", keys, keys)  # the system is I + lower
    right = jnp.concatenate([beta[..., None] * values, (beta * from_start)[..., None] * keys], axis=-1)
    solved = unit_lower_inverse(lower) @ right
    written, weights = solved[..., : values.shape[-1]], solved[..., values.shape[-1] :]  # Ũ, W

    scores = decay * jnp.einsum("...tk,...ik->...ti", queries, keys)
    keys_to_end = decay[..., -1, :, None] * keys
    kept = from_start[..., -1, None, None] * jnp.eye(keys.shape[-1])
    transition = kept - jnp.einsum("...ik,...ij->...kj", weights, keys_to_end)
    increment = jnp.einsum("...iv,...ik->...vk", written, keys_to_end)

    def next_chunk(start: jax.Array, link: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
        transition, increment = link
        return start @ transition + increment, start

    final, starts = jax.lax.scan(next_chunk, state, (jnp.moveaxis(transition, 1, 0), jnp.moveaxis(increment, 1, 0)))
    starts = jnp.moveaxis(starts, 0, 1)  # S_0 of each chunk [B, N, h, d_v, d_k]
    through_state = from_start[..., None] * queries - jnp.einsum("...ti,...ik->...tk", scores, weights)
    reads = jnp.einsum("...tk,...vk->...tv", through_state, starts) + jnp.einsum("...ti,...iv->...tv", scores, written)
    reads = jnp.moveaxis(reads, 3, 2)  # [B, N, C, h, d_v]
    reads = reads.reshape(batch, num_chunks * chunk, *reads.shape[3:])
    return final, reads[:, :steps]
