"""SelfAttention: causal multi-head attention over a key/value cache that respects episodes."""

from __future__ import annotations

from typing import Literal

import jax
import jax.numpy as jnp
from flax import nnx

from memorax.networks.lazy import LazyModule
from memorax.networks.linear import Linear
from memorax.networks.sequence_models.sequence_model import Carry, SequenceModel
from memorax.networks.sizes import require_sizes

Positional = Literal["rope", "alibi", "learned"] | None


def rotate(x: jax.Array, positions: jax.Array, base: float = 10_000.0) -> jax.Array:
    """Rotary position embedding (Su et al. 2021) of ``x [B, S, heads, head_dim]`` at ``positions [S]``.

    Rotating queries and keys makes their dot product depend only on the
    offset between positions.
    """
    half = x.shape[-1] // 2
    angle = positions[:, None] * base ** (-jnp.arange(half) / half)
    cos, sin = jnp.cos(angle)[:, None], jnp.sin(angle)[:, None]
    x1, x2 = x[..., :half], x[..., half:]
    return jnp.concatenate([x1 * cos - x2 * sin, x1 * sin + x2 * cos], axis=-1)


def alibi_slopes(num_heads: int) -> jax.Array:
    """ALiBi's head slopes (Press et al. 2022): the geometric sequence ``2^{-8h/H}``, ``h = 1..H``."""
    return 2.0 ** (-8.0 * jnp.arange(1, num_heads + 1) / num_heads)


QUERY_BLOCKS_PER_CONTEXT = 4
"""The whole-sequence path cuts queries into blocks of ``context_length / 4`` (when it divides), chosen from 1, 2, 4 and 8
blocks per context on a 2-core CPU at ``[16, 1024, 64]``, context 128: 1 was clearly slower, the others within the
run-to-run spread (bench/RESULTS.md)."""


class SelfAttention(LazyModule, SequenceModel):
    r"""Causal multi-head self-attention whose memory is a cache of the last ``context_length`` steps.

    Step t attends to itself and to the at most ``context_length`` steps before
    it that belong to the same episode:

    .. math::

        o_t = W_o \big[\mathrm{softmax}_{s \in \mathcal{W}_t}
              (q_t^\top k_s / \sqrt{d})\, v_s\big]_{heads},

    and the position encoded as ``positional`` says:

    - ``"rope"`` (default): rotary embeddings on ``q`` and ``k`` (Su et al.
      2021), so scores depend on the offset ``t - s``;
    - ``"alibi"``: ``-m_h (t - s)`` added to head ``h``'s scores, with the
      slopes of :func:`~memorax.networks.sequence_models.self_attention.alibi_slopes` (Press et al. 2022);
    - ``"learned"``: a learned embedding of the step's index within its
      episode (0 at an episode start, capped at ``context_length``) added to
      the inputs before the projections, as GPT-2's positions;
    - ``None``: no position, only causality.

    The carry holds the keys and values of the last ``context_length`` steps
    and a flag per slot that is False for empty slots and for steps of earlier
    episodes (and, for ``"learned"``, the next step's index in its episode),
    so acting one step at a time attends to exactly what the whole-sequence
    call attends to.

    Shapes: inputs ``[B, T, F]``, outputs ``[B, T, features or F]`` (the input
    width by default, so it fits in a :class:`~memorax.networks.blocks.Residual`);
    carry ``(keys [B, L, heads, head_dim], values [B, L, heads, head_dim], valid [B, L])``,
    with ``position [B]`` appended for ``"learned"``.

    Args:
      num_heads: number of heads.
      head_dim: width of each head (even for ``"rope"``).
      context_length: ``L``, how many past steps the cache holds (default 128).
      features: output width (default: the input width).
      positional: ``"rope"``, ``"alibi"``, ``"learned"`` or ``None``.
    """

    def __init__(
        self,
        num_heads: int,
        head_dim: int,
        *,
        context_length: int = 128,
        features: int | None = None,
        positional: Positional = "rope",
    ):
        require_sizes("SelfAttention", num_heads=num_heads, head_dim=head_dim, context_length=context_length, features=features)
        if positional not in ("rope", "alibi", "learned", None):
            raise ValueError(f"SelfAttention: positional is {positional!r}; expected 'rope', 'alibi', 'learned' or None.")
        if positional == "rope" and head_dim % 2:
            raise ValueError(f"SelfAttention: head_dim is {head_dim}; expected an even number (rotary embedding).")
        self.num_heads = num_heads
        self.head_dim = head_dim
        self.context_length = context_length
        self.features = features
        self.positional = positional

    def build(self, in_features: int, rngs: nnx.Rngs) -> None:
        width = self.num_heads * self.head_dim
        self.query_proj = Linear(in_features, width, use_bias=False, rngs=rngs)
        self.key_proj = Linear(in_features, width, use_bias=False, rngs=rngs)
        self.value_proj = Linear(in_features, width, use_bias=False, rngs=rngs)
        self.out_proj = Linear(width, self.features or in_features, rngs=rngs)
        if self.positional == "learned":
            self.position_embedding = nnx.Embed(self.context_length + 1, in_features, rngs=rngs)

    def initialize_carry(self, batch_size: int) -> Carry:
        shape = (batch_size, self.context_length, self.num_heads, self.head_dim)
        cache = jnp.zeros(shape), jnp.zeros(shape), jnp.zeros((batch_size, self.context_length), bool)
        return (*cache, jnp.zeros((batch_size,), jnp.int32)) if self.positional == "learned" else cache

    def _heads(self, x: jax.Array) -> jax.Array:
        return x.reshape(x.shape[:2] + (self.num_heads, self.head_dim))

    def _attend_in_blocks(
        self, queries: jax.Array, keys: jax.Array, values: jax.Array, valid: jax.Array, episode_start: jax.Array
    ) -> jax.Array:
        """Attention of ``queries [B, T, heads, d]`` over the cache and this call's steps, ``keys``, ``values``
        ``[B, L + T, heads, d]``, ``valid [B, L + T]``; ``episode_start [B, T]`` as in ``__call__``.

        Query ``i`` sees keys ``i .. L + i``. Cut into blocks of ``Q = L / m``
        queries, block ``b`` sees only the key blocks ``b .. b + m``: the scores
        cost ``T (Q + L)`` instead of ``T (T + L)`` and equal those of one
        masked product over every key. Sequences of at most ``Q`` steps (acting)
        are one block against every key.
        """
        batch, steps, window = queries.shape[0], queries.shape[1], self.context_length
        block = window // QUERY_BLOCKS_PER_CONTEXT if window % QUERY_BLOCKS_PER_CONTEXT == 0 else window
        pad = lambda x, size, value=0: jnp.pad(x, [(0, 0), (0, size)] + [(0, 0)] * (x.ndim - 2), constant_values=value)
        if steps <= block:
            blocks, block, seen = 1, steps, window + steps
            key_blocks = lambda x, value=0: x[:, None]
        else:
            spans = window // block
            blocks, seen = -(-steps // block), (spans + 1) * block
            queries, episode_start = pad(queries, blocks * block - steps), pad(episode_start, blocks * block - steps)

            def key_blocks(x: jax.Array, value=0) -> jax.Array:
                """``[B, L + T, ...]`` as each block's keys ``[B, blocks, (m + 1) Q, ...]``: slices, no gather."""
                x = pad(x, (blocks + spans) * block - window - steps, value)
                x = x.reshape(batch, blocks + spans, block, *x.shape[2:])
                return jnp.concatenate([x[:, span : span + blocks] for span in range(spans + 1)], axis=2)

        first = jnp.arange(blocks)[:, None] * block
        query_pos = window + first + jnp.arange(block)  # [blocks, Q]
        key_pos = first + jnp.arange(seen)  # [blocks, seen]
        mask = (
            key_blocks(valid, False)[:, :, None, :]
            & (key_pos[:, None, :] >= episode_start.reshape(batch, blocks, block, 1))
            & (key_pos[:, None, :] <= query_pos[:, :, None])
            & (key_pos[:, None, :] >= query_pos[:, :, None] - window)
        )  # [B, blocks, Q, seen]
        bias = None
        if self.positional == "alibi":
            distance = (query_pos[0][:, None] - key_pos[0][None, :]).astype(jnp.float32)  # the same in every block
            bias = -(alibi_slopes(self.num_heads)[:, None, None] * distance)[None]  # [1, heads, Q, seen]
        merge = lambda x: x.reshape(batch * blocks, *x.shape[2:])
        attended = jax.nn.dot_product_attention(
            merge(queries.reshape(batch, blocks, block, *queries.shape[2:])),
            merge(key_blocks(keys)),
            merge(key_blocks(values)),
            bias=bias,
            mask=merge(mask)[:, None],
        )
        return attended.reshape(batch, blocks * block, -1)[:, :steps]

    def __call__(self, inputs: jax.Array, done: jax.Array, carry: Carry) -> tuple[Carry, jax.Array]:
        self.build_once(inputs)
        cached_keys, cached_values, cached_valid = carry[:3]
        batch, steps, window = inputs.shape[0], inputs.shape[1], self.context_length
        # Positions index the cache followed by this call's steps; episode_start is -1 before any start in this call.
        query_pos = window + jnp.arange(steps)
        episode_start = jax.lax.cummax(jnp.where(done, query_pos, -1), axis=1)
        if self.positional == "learned":
            # The index within the episode: from the last episode start in this call, else continuing the carry's count.
            index = jnp.where(episode_start >= 0, query_pos - episode_start, carry[3][:, None] + jnp.arange(steps))
            inputs = inputs + self.position_embedding(jnp.minimum(index, window))
        keys = keys_before_rotation = jnp.concatenate([cached_keys, self._heads(self.key_proj(inputs))], axis=1)
        values = jnp.concatenate([cached_values, self._heads(self.value_proj(inputs))], axis=1)
        valid = jnp.concatenate([cached_valid, jnp.ones((batch, steps), bool)], axis=1)

        key_pos = jnp.arange(window + steps)
        queries = self._heads(self.query_proj(inputs))
        if self.positional == "rope":
            queries, keys = rotate(queries, query_pos), rotate(keys, key_pos)
        attended = self._attend_in_blocks(queries, keys, values, valid, episode_start)
        outputs = self.out_proj(attended.reshape(batch, steps, -1))

        still_valid = valid[:, steps:] & (key_pos[steps:] >= episode_start[:, -1:])
        cache = keys_before_rotation[:, steps:], values[:, steps:], still_valid
        if self.positional == "learned":
            return (*cache, index[:, -1] + 1), outputs
        return cache, outputs
