"""SelfAttention: causal multi-head attention over a key/value cache that respects episodes."""

from __future__ import annotations

from typing import Literal

import jax
import jax.numpy as jnp
from flax import nnx

from memorax.networks.lazy import LazyModule
from memorax.networks.sequence_models.sequence_model import Carry, SequenceModel

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
        self.query_proj = nnx.Linear(in_features, width, use_bias=False, rngs=rngs)
        self.key_proj = nnx.Linear(in_features, width, use_bias=False, rngs=rngs)
        self.value_proj = nnx.Linear(in_features, width, use_bias=False, rngs=rngs)
        self.out_proj = nnx.Linear(width, self.features or in_features, rngs=rngs)
        if self.positional == "learned":
            self.position_embedding = nnx.Embed(self.context_length + 1, in_features, rngs=rngs)

    def initialize_carry(self, batch_size: int) -> Carry:
        shape = (batch_size, self.context_length, self.num_heads, self.head_dim)
        cache = jnp.zeros(shape), jnp.zeros(shape), jnp.zeros((batch_size, self.context_length), bool)
        return (*cache, jnp.zeros((batch_size,), jnp.int32)) if self.positional == "learned" else cache

    def _heads(self, x: jax.Array) -> jax.Array:
        return x.reshape(x.shape[:2] + (self.num_heads, self.head_dim))

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
        mask = (
            valid[:, None, :]
            & (key_pos >= episode_start[..., None])
            & (key_pos <= query_pos[:, None])
            & (key_pos >= query_pos[:, None] - window)
        )
        queries = self._heads(self.query_proj(inputs))
        bias = None
        if self.positional == "rope":
            queries, keys = rotate(queries, query_pos), rotate(keys, key_pos)
        elif self.positional == "alibi":
            distance = (query_pos[:, None] - key_pos[None, :]).astype(jnp.float32)  # [T, L + T]
            bias = -(alibi_slopes(self.num_heads)[:, None, None] * distance)[None]  # [1, heads, T, L + T]
        attended = jax.nn.dot_product_attention(queries, keys, values, bias=bias, mask=mask[:, None])
        outputs = self.out_proj(attended.reshape(batch, steps, -1))

        still_valid = valid[:, steps:] & (key_pos[steps:] >= episode_start[:, -1:])
        cache = keys_before_rotation[:, steps:], values[:, steps:], still_valid
        if self.positional == "learned":
            return (*cache, index[:, -1] + 1), outputs
        return cache, outputs
