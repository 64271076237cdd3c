"""LinearAttention: causal linear attention (Katharopoulos et al. 2020, arXiv:2006.16236) whose memory resets at episode starts."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from memorax.networks.lazy import LazyModule
from memorax.networks.linear import Linear
from memorax.networks.sequence_models.linear_recurrence import run_recurrence
from memorax.networks.sequence_models.sequence_model import Carry, SequenceModel
from memorax.networks.sizes import require_sizes


def elu_feature_map(x: jax.Array) -> jax.Array:
    """``φ(x) = elu(x) + 1``, positive, the feature map of Katharopoulos et al."""
    return jax.nn.elu(x) + 1


class LinearAttention(LazyModule, SequenceModel):
    r"""Causal multi-head linear attention: softmax attention with its kernel replaced by ``φ(q)ᵀ φ(k)``.

    Per head, with ``φ(x) = elu(x) + 1`` and the sums running over the steps of
    the current episode up to ``t``:

    .. math::

        S_t = S_{t-1} + \phi(k_t)\, v_t^\top, \quad
        z_t = z_{t-1} + \phi(k_t), \quad
        o_t = W_o \Big[\frac{\phi(q_t)^\top S_t}{\phi(q_t)^\top z_t + \varepsilon}\Big]_{heads} + b_o,

    with ``ε`` as in the authors' implementation (1e-6), which keeps the output
    finite where ``φ(q)`` underflows to 0 (``q < -104`` in float32). So the
    memory is a fixed-size state, not a cache: ``S`` and ``z`` are kept
    together as one ``[head_dim, head_dim + 1]`` matrix per head (``v`` with a
    one appended), set to 0 at an episode start. A whole sequence is computed
    in chunks (:func:`~memorax.networks.sequence_models.linear_attention.chunked_linear_attention`): quadratic within a chunk,
    recurrent across chunks.

    Shapes: inputs ``[B, T, F]``, outputs ``[B, T, features or F]`` (the input
    width by default, as :class:`SelfAttention`); carry ``[B, heads, head_dim, head_dim + 1]``.

    Args:
      num_heads: number of heads.
      head_dim: width of each head's queries, keys and values.
      features: output width (default: the input width).
      chunk_size: steps per chunk of the whole-sequence path (default 32); any value gives the same outputs.
      eps: ``ε``, added to the normaliser.
    """

    def __init__(
        self, num_heads: int, head_dim: int, *, features: int | None = None, chunk_size: int = 32, eps: float = 1e-6
    ):
        require_sizes("LinearAttention", num_heads=num_heads, head_dim=head_dim, features=features, chunk_size=chunk_size)
        self.num_heads = num_heads
        self.head_dim = head_dim
        self.features = features
        self.chunk_size = chunk_size
        self.eps = eps

    def build(self, in_features: int, rngs: nnx.Rngs) -> None:
        width = self.num_heads * self.head_dim
        self.query_key_value = Linear(in_features, 3 * width, use_bias=False, rngs=rngs)
        self.out_proj = Linear(width, self.features or in_features, rngs=rngs)

    def initialize_carry(self, batch_size: int) -> Carry:
        return jnp.zeros((batch_size, self.num_heads, self.head_dim, self.head_dim + 1))

    def __call__(self, inputs: jax.Array, done: jax.Array, carry: Carry) -> tuple[Carry, jax.Array]:
        self.build_once(inputs)
        batch, steps = inputs.shape[:2]
        heads = self.query_key_value(inputs).reshape(batch, steps, 3, self.num_heads, self.head_dim)
        queries, keys, values = elu_feature_map(heads[:, :, 0]), elu_feature_map(heads[:, :, 1]), heads[:, :, 2]
        values_and_one = jnp.concatenate([values, jnp.ones(values.shape[:-1] + (1,))], axis=-1)
        read, state = chunked_linear_attention(queries, keys, values_and_one, done, carry, min(self.chunk_size, steps))
        attended = read[..., :-1] / (read[..., -1:] + self.eps)
        return state, self.out_proj(attended.reshape(batch, steps, -1))


def chunked_linear_attention(
    queries: jax.Array, keys: jax.Array, values: jax.Array, done: jax.Array, state: jax.Array, chunk: int
) -> tuple[jax.Array, jax.Array]:
    """``φ(q_t)ᵀ S_t`` for every step, and the last ``S``, with ``S_t = Σ φ(k_s) v_sᵀ`` over the episode's steps ``s ≤ t``.

    ``queries, keys [B, T, heads, d]`` (already through φ), ``values [B, T, heads, e]``,
    ``done [B, T]``, ``state [B, heads, d, e]`` (``S`` before the first step).
    The sequence is cut into chunks of ``chunk`` steps: within a chunk the
    sum is a masked product of queries and keys (the mask keeps ``s ≤ t`` in
    the same episode); across chunks only the state at each chunk's end
    is carried, by the diagonal linear recurrence with decay 1 that restarts
    at a chunk holding an episode start. No ``[T, d, e]`` state is formed.
    """
    batch, steps = done.shape
    pad = -steps % chunk
    if pad:
        queries, keys, values = (jnp.pad(x, ((0, 0), (0, pad), (0, 0), (0, 0))) for x in (queries, keys, values))
        done = jnp.pad(done, ((0, 0), (0, pad)))
    num_chunks = (steps + pad) // chunk
    queries, keys, values = (x.reshape(batch, num_chunks, chunk, *x.shape[2:]) for x in (queries, keys, values))
    position = jnp.arange(chunk)
    # The step where each step's episode starts within its chunk; -1 where it starts in an earlier chunk.
    start = jax.lax.cummax(jnp.where(done.reshape(batch, num_chunks, chunk), position, -1), axis=2)

    same_episode = (position[None, :] <= position[:, None]) & (position[None, None, None, :] >= start[..., None])
    scores = jnp.einsum("bnihd,bnjhd->bnhij", queries, keys) * same_episode[:, :, None]
    within = jnp.einsum("bnhij,bnjhe->bnihe", scores, values)

    last_start = start[:, :, -1]
    since_start = (position >= last_start[..., None])[..., None, None]
    chunk_sums = jnp.einsum("bnjhd,bnjhe->bnhde", keys * since_start, values)
    ends = run_recurrence(jnp.ones_like(chunk_sums), chunk_sums, last_start >= 0, state)
    before = jnp.concatenate([state[:, None], ends[:, :-1]], axis=1)  # S at each chunk's start
    carried = jnp.einsum("bnihd,bnhde->bnihe", queries, before) * (start < 0)[..., None, None]
    read = (within + carried).reshape(batch, num_chunks * chunk, *within.shape[3:])
    return read[:, :steps], ends[:, -1]
