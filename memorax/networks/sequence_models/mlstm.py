"""MLSTM: the matrix-memory LSTM of xLSTM (Beck et al. 2024, arXiv:2405.04517), stabilised, computed in chunks, reset at episode starts."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from memorax.networks.lazy import LazyModule
from memorax.networks.linear import Linear
from memorax.networks.sequence_models.causal_conv import causal_conv
from memorax.networks.sequence_models.sequence_model import Carry, SequenceModel
from memorax.networks.sizes import require_sizes

NEVER = -1e30
"""The log-weight of a term that must not count: ``exp`` of it is 0 and so is its gradient."""
LARGEST_EXPONENT = 80.0
"""The cap on the exponent of ``e^{-m}``: float32 overflows past ``e^{88.7}``, and the gradient there is ``inf · 0``, NaN."""


def linspace_init(start: float, stop: float) -> nnx.Initializer:
    """An initialiser giving evenly spaced values from ``start`` to ``stop`` along a vector."""
    return lambda key, shape, dtype=jnp.float32: jnp.linspace(start, stop, shape[-1], dtype=dtype).reshape(shape)


class MLSTM(LazyModule, SequenceModel):
    r"""The mLSTM cell of xLSTM: a matrix memory written with exponential input gates and sigmoid forget gates, per head.

    Per head, with ``v = W_v x_t + b_v``, ``q`` and ``k`` from a short causal
    convolution ``q, k = \mathrm{SiLU}(\mathrm{conv}_{causal}(W_{q,k} x + b_{q,k}))_t``
    (``k`` then scaled by ``1/\sqrt{d}``), scalar gates ``\tilde\imath_t, \tilde f_t = w_{i,f}^\top x_t + b_{i,f}`` and
    ``o_t = \sigma(W_o x_t + b_o)``:

    .. math::

        C_t = f_t C_{t-1} + i_t\, v_t k_t^\top, \quad
        n_t = f_t n_{t-1} + i_t\, k_t, \quad
        \tilde h_t = \frac{C_t q_t}{\max(|n_t^\top q_t|, 1)}, \quad
        h_t = o_t \odot [\tilde h_t]_{heads},

    with ``i_t = \exp(\tilde\imath_t)`` and ``f_t = \sigma(\tilde f_t)``. As the
    paper does, ``C`` and ``n`` are stored divided by ``e^{m_t}``, with the
    stabiliser ``m_t = \max(\log f_t + m_{t-1}, \tilde\imath_t)``, so no
    exponential overflows; ``h`` does not depend on ``m`` (but where ``m < -80``:
    the denominator's floor ``e^{-m}`` is capped at ``e^{80}``, within float32 and
    its gradient finite, and ``h`` there is below ``10^{-34} |C q|``). At an episode start
    ``C``, ``n`` and ``m`` are set to 0 and the convolution restarts. A whole
    sequence is computed in chunks
    (:func:`~memorax.networks.sequence_models.mlstm.chunked_mlstm`): the
    paper's parallel form within a chunk, recurrent across chunks.

    The convolution is the xLSTM block's (Mamba's too): it lets keys and
    queries see the last few steps, which the memory itself cannot order (the
    block convolves before its projections; here it follows them, so that the
    carry does not depend on the input width). ``conv_width=None`` leaves the
    paper's bare cell, ``q, k = W_{q,k} x_t + b_{q,k}``. The gates are
    initialised as in the authors' mLSTM layer: zero weights, forget biases
    evenly spaced from 3 to 6 across heads (memories that fade slowly at
    first), input biases drawn from ``N(0, 0.1²)``.

    Shapes: inputs ``[B, T, F]``, outputs ``[B, T, hidden_dim]``; carry
    ``(memory [B, heads, head_dim + 1, head_dim], stabiliser [B, heads], conv_state [B, conv_width - 1, 2 hidden_dim])``,
    ``memory`` holding ``C`` with ``n`` as its last row.

    Args:
      hidden_dim: width of the outputs, split evenly into heads.
      num_heads: number of heads, each with a ``[head_dim, head_dim]`` memory.
      conv_width: steps the convolution before queries and keys sees (default 4), or None for none.
      chunk_size: steps per chunk of the whole-sequence path (default 16, the fastest of 8 to 128 on a CPU at
        T = 1024); any value gives the same outputs.
    """

    def __init__(self, hidden_dim: int, *, num_heads: int = 4, conv_width: int | None = 4, chunk_size: int = 16):
        require_sizes("MLSTM", hidden_dim=hidden_dim, num_heads=num_heads, conv_width=conv_width, chunk_size=chunk_size)
        if hidden_dim % num_heads:
            raise ValueError(f"MLSTM: hidden_dim ({hidden_dim}) must be a multiple of num_heads ({num_heads}).")
        self.hidden_dim = hidden_dim
        self.num_heads = num_heads
        self.head_dim = hidden_dim // num_heads
        self.conv_width = conv_width
        self.chunk_size = chunk_size

    def build(self, in_features: int, rngs: nnx.Rngs) -> None:
        zeros = nnx.initializers.zeros_init()
        self.query_key = Linear(in_features, 2 * self.hidden_dim, rngs=rngs)
        self.value = Linear(in_features, self.hidden_dim, rngs=rngs)
        if self.conv_width:
            self.conv_kernel = nnx.Param(nnx.initializers.lecun_uniform()(rngs.params(), (self.conv_width, 2 * self.hidden_dim)))
            self.conv_bias = nnx.Param(jnp.zeros((2 * self.hidden_dim,)))
        self.output_gate = Linear(in_features, self.hidden_dim, rngs=rngs)
        self.input_gate = Linear(
            in_features, self.num_heads, kernel_init=zeros, bias_init=nnx.initializers.normal(0.1), rngs=rngs
        )
        self.forget_gate = Linear(in_features, self.num_heads, kernel_init=zeros, bias_init=linspace_init(3.0, 6.0), rngs=rngs)

    def initialize_carry(self, batch_size: int) -> Carry:
        memory = jnp.zeros((batch_size, self.num_heads, self.head_dim + 1, self.head_dim))
        conv_state = jnp.zeros((batch_size, (self.conv_width or 1) - 1, 2 * self.hidden_dim))
        return memory, jnp.zeros((batch_size, self.num_heads)), conv_state

    def __call__(self, inputs: jax.Array, done: jax.Array, carry: Carry) -> tuple[Carry, jax.Array]:
        self.build_once(inputs)
        batch, steps = inputs.shape[:2]
        memory, stabiliser, conv_state = carry
        query_key = self.query_key(inputs)
        if self.conv_width:
            query_key, conv_state = causal_conv(query_key, done, conv_state, self.conv_kernel[...], self.conv_bias[...])
            query_key = jax.nn.silu(query_key)
        heads = query_key.reshape(batch, steps, 2, self.num_heads, self.head_dim)
        queries, keys = heads[:, :, 0], heads[:, :, 1] / jnp.sqrt(self.head_dim)
        values = self.value(inputs).reshape(batch, steps, self.num_heads, self.head_dim)
        log_forget = jax.nn.log_sigmoid(self.forget_gate(inputs))
        hidden, (memory, stabiliser) = chunked_mlstm(
            queries, keys, values, self.input_gate(inputs), log_forget, done, (memory, stabiliser), min(self.chunk_size, steps)
        )
        outputs = jax.nn.sigmoid(self.output_gate(inputs)) * hidden.reshape(batch, steps, self.hidden_dim)
        return (memory, stabiliser, conv_state), outputs


def chunked_mlstm(
    queries: jax.Array,
    keys: jax.Array,
    values: jax.Array,
    log_input: jax.Array,
    log_forget: jax.Array,
    done: jax.Array,
    carry: tuple[jax.Array, jax.Array],
    chunk: int,
) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
    r"""``\tilde h_t`` of every step, and the carry after the last, of the stabilised mLSTM recurrence.

    ``queries, keys, values [B, T, heads, d]``, ``log_input`` (``\tilde\imath``)
    and ``log_forget`` (``\log f``) ``[B, T, heads]``, ``done [B, T]``, ``carry``
    ``(memory, stabiliser)`` as in :class:`MLSTM`'s. Chunks of ``chunk`` steps are scanned in order. Within
    one, step ``t`` weighs step ``s`` of its episode by
    ``\exp(\tilde\imath_s + F_t - F_s - m_t)`` and the carried memory by
    ``\exp(F_t - F_{r-1} + m_{r-1} - m_t)``, where ``F`` sums ``\log f`` over the
    chunk, ``r`` is the step where the episode starts in the chunk (the memory
    being then 0, with ``m = 0``) or the chunk's first step, and ``m_t`` is the
    largest of these log-weights: the recurrence's own stabiliser, unrolled.
    """
    batch, steps = done.shape
    pad = -steps % chunk
    if pad:
        # Padded steps write nothing (zero keys and values, a vanishing input gate) and forget nothing.
        queries, keys, values = (jnp.pad(x, ((0, 0), (0, pad), (0, 0), (0, 0))) for x in (queries, keys, values))
        log_input = jnp.pad(log_input, ((0, 0), (0, pad), (0, 0)), constant_values=NEVER)
        log_forget = jnp.pad(log_forget, ((0, 0), (0, pad), (0, 0)))
        done = jnp.pad(done, ((0, 0), (0, pad)))
    values = jnp.concatenate([values, jnp.ones(values.shape[:-1] + (1,))], axis=-1)  # the last row of C is n
    padded = (steps + pad) // chunk
    sequences = (queries, keys, values, log_input, log_forget, done)
    chunks = jax.tree.map(lambda x: jnp.swapaxes(x.reshape(batch, padded, chunk, *x.shape[2:]), 0, 1), sequences)
    carry, hidden = jax.lax.scan(_mlstm_chunk, carry, chunks)
    hidden = jnp.swapaxes(hidden, 0, 1).reshape(batch, padded * chunk, *hidden.shape[3:])
    return hidden[:, :steps], carry


def _mlstm_chunk(carry: Carry, chunk: tuple[jax.Array, ...]) -> tuple[Carry, jax.Array]:
    r"""One chunk of :func:`chunked_mlstm`: ``[B, L, ...]`` inputs, the carry before it → the carry after it and ``\tilde h``."""
    memory, stabiliser = carry
    queries, keys, values, log_input, log_forget, done = chunk
    position = jnp.arange(done.shape[1])
    start = jax.lax.cummax(jnp.where(done, position, -1), axis=1)  # [B, L]: the episode's first step here, or -1
    forgotten = jnp.cumsum(log_forget, axis=1)  # F_t, [B, L, heads]
    before_start = jnp.take_along_axis(forgotten, jnp.maximum(start - 1, 0)[..., None], axis=1) * (start > 0)[..., None]
    carried = start < 0
    carry_log_weight = forgotten - before_start + jnp.where(carried[..., None], stabiliser[:, None], 0.0)

    same_episode = (position[None, :] <= position[:, None]) & (position[None, None, :] >= start[..., None])  # [B, t, s]
    log_weight = log_input[:, None] + forgotten[:, :, None] - forgotten[:, None]  # [B, t, s, heads]
    log_weight = jnp.where(same_episode[..., None], log_weight, NEVER)
    step_stabiliser = jnp.maximum(carry_log_weight, jnp.max(log_weight, axis=2))  # m_t, [B, L, heads]
    weight = jnp.exp(log_weight - step_stabiliser[:, :, None])
    carry_weight = jnp.exp(carry_log_weight - step_stabiliser) * carried[..., None]

    scores = jnp.einsum("bthd,bshd->btsh", queries, keys) * weight
    read = jnp.einsum("btsh,bshe->bthe", scores, values)
    read = read + carry_weight[..., None] * jnp.einsum("bhed,bthd->bthe", memory, queries)
    floor = jnp.exp(jnp.minimum(-step_stabiliser, LARGEST_EXPONENT))  # e^{-m}: the 1 of max(|n q|, 1), stored divided by e^m
    hidden = read[..., :-1] / jnp.maximum(jnp.abs(read[..., -1:]), floor[..., None])

    last = step_stabiliser[:, -1]
    written = jnp.einsum("bsh,bshe,bshd->bhed", weight[:, -1], values, keys)
    memory = carry_weight[:, -1, :, None, None] * memory + written
    return (memory, last), hidden
