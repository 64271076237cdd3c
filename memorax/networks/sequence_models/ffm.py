"""FFM: fast and forgetful memory, of Morad et al. (2023), "Reinforcement Learning with Fast and Forgetful Memory", arXiv:2310.04128."""

from __future__ import annotations

import math
import sys

import jax
import jax.numpy as jnp
from flax import nnx

from memorax.networks.lazy import LazyModule
from memorax.networks.sequence_models.linear_recurrence import recurrence_step, run_recurrence
from memorax.networks.sequence_models.sequence_model import Carry, SequenceModel

# The authors' bounds on the decay a: above, -1e-8 keeps |γ| < 1; below, their float64 limit for 1024-step blocks.
DECAY_MAX = -1e-8
DECAY_MIN = -(math.log(sys.float_info.max) / 1024 - 0.01)
# The chunked path divides by γ^t for t < chunk: |γ|^{-64} <= e^{43}, far inside float32's range (e^{88}).
MAX_CHUNK = 64


class FFM(LazyModule, SequenceModel):
    r"""Fast and forgetful memory: gated inputs aggregated by decaying, oscillating traces.

    .. math::

        [\tilde x_t, u_t, g^{in}_t, g^{out}_t] = [W x_t + b]
            \text{ with } g = \sigma(\cdot), \qquad
        S_t = \gamma \odot S_{t-1} + (\tilde x_t \odot g^{in}_t) \mathbf{1}_c^\top, \quad
        \gamma_{jk} = e^{a_j + i \omega_k},

        z_t = W_z \operatorname{vec}(\operatorname{Re} S_t, \operatorname{Im} S_t) + b_z, \qquad
        y_t = \operatorname{LN}(z_t) \odot g^{out}_t + u_t \odot (1 - g^{out}_t),

    where ``S`` is ``[memory_dim, context_dim]`` complex, ``LN`` is a layer
    norm without scale or bias, and ``vec`` flattens ``S`` with real and
    imaginary parts innermost. As in the authors' standalone module, the
    decays ``a`` start evenly spaced in ``[DECAY_MIN, log(0.01) / max_period]``
    (a trace falls to 1% of a memory after ``max_period`` steps at the
    slowest), are clamped to ``[DECAY_MIN, -1e-8]`` in the forward pass, and the
    frequencies start at ``ω_k = 2π / p_k`` for periods ``p`` evenly spaced in
    ``[min_period, max_period]``; both are learned. The linear maps use NNX's
    default initialisers. As ``γ`` does not depend on the input, a whole
    sequence runs in chunks (:func:`~memorax.networks.sequence_models.ffm.chunked_traces`); a single step is the
    plain update.

    Shapes: inputs ``[B, T, F]``, outputs ``[B, T, hidden_dim]``; carry ``S``
    ``[B, memory_dim, context_dim]`` complex64, zero at an episode start.

    Args:
      hidden_dim: output width.
      memory_dim: number of traces ``m`` (decay rates).
      context_dim: number of oscillation frequencies ``c`` per trace.
      min_period, max_period: range of the initial periods (in steps).
      chunk_size: steps per chunk of the whole-sequence path, at most 64 (default 64); any value gives the same outputs.
    """

    def __init__(
        self,
        hidden_dim: int,
        *,
        memory_dim: int = 32,
        context_dim: int = 4,
        min_period: int = 1,
        max_period: int = 1024,
        chunk_size: int = 64,
    ):
        if not 1 <= chunk_size <= MAX_CHUNK:
            raise ValueError(
                f"FFM's chunk_size is {chunk_size}; expected 1 to {MAX_CHUNK}, so that γ^(-chunk_size) stays finite in float32."
            )
        self.hidden_dim = hidden_dim
        self.memory_dim = memory_dim
        self.context_dim = context_dim
        self.min_period = min_period
        self.max_period = max_period
        self.chunk_size = chunk_size

    def build(self, in_features: int, rngs: nnx.Rngs) -> None:
        m, c, h = self.memory_dim, self.context_dim, self.hidden_dim
        self.pre = nnx.Linear(in_features, 2 * m + 2 * h, rngs=rngs)
        self.mix = nnx.Linear(2 * m * c, h, rngs=rngs)
        self.norm = nnx.LayerNorm(h, epsilon=1e-5, use_bias=False, use_scale=False, rngs=rngs)
        slowest = max(min(DECAY_MAX, math.log(0.01) / self.max_period), DECAY_MIN)
        self.decay = nnx.Param(jnp.linspace(DECAY_MIN, slowest, m))
        self.frequency = nnx.Param(2 * jnp.pi / jnp.linspace(self.min_period, self.max_period, c))

    def initialize_carry(self, batch_size: int) -> Carry:
        return jnp.zeros((batch_size, self.memory_dim, self.context_dim), jnp.complex64)

    def __call__(self, inputs: jax.Array, done: jax.Array, carry: Carry) -> tuple[Carry, jax.Array]:
        self.build_once(inputs)
        m, h = self.memory_dim, self.hidden_dim
        memory_input, through, gates = jnp.split(self.pre(inputs), [m, m + h], axis=-1)
        gate_in, gate_out = jnp.split(jax.nn.sigmoid(gates), [m], axis=-1)
        decay = jnp.clip(self.decay[...], DECAY_MIN, DECAY_MAX)
        log_gamma = jax.lax.complex(jnp.broadcast_to(decay[:, None], (m, self.context_dim)), self.frequency[...][None, :])
        drive = memory_input * gate_in
        if inputs.shape[1] == 1:
            traces = recurrence_step(jnp.exp(log_gamma), drive[:, 0, :, None].astype(jnp.complex64), done[:, 0], carry)[:, None]
        else:
            traces = chunked_traces(log_gamma, drive, done, carry, min(self.chunk_size, inputs.shape[1]))
        z = self.mix(jnp.stack([traces.real, traces.imag], axis=-1).reshape(*inputs.shape[:2], -1))
        return traces[:, -1], self.norm(z) * gate_out + through * (1 - gate_out)


def chunked_traces(log_gamma: jax.Array, drive: jax.Array, done: jax.Array, carry: jax.Array, chunk: int) -> jax.Array:
    """Every ``S_t = γ ⊙ S_{t-1} + drive_t 1ᵀ`` (``S`` zeroed where ``done``), from ``S`` before the first step.

    ``log_gamma [m, c]`` complex, ``drive [B, T, m]``, ``done [B, T]``,
    ``carry [B, m, c]``; returns ``[B, T, m, c]`` complex64. The sequence is
    cut into chunks of ``chunk`` steps. Within a chunk, ``S_t`` is the sum of
    ``γ^{t-i} drive_i`` over the episode's steps ``i ≤ t``, computed as
    ``γ^t`` times a difference of running sums of ``γ^{-i} drive_i``. Across chunks only each
    chunk's last state is carried, by the recurrence with decay ``γ^chunk``
    that restarts at a chunk holding an episode start, and a step whose episode
    began in an earlier chunk adds ``γ^{t+1}`` times the state before its chunk.
    Only powers up to ``γ^{±chunk}`` are formed, so nothing overflows.
    """
    batch, steps, _ = drive.shape
    pad = -steps % chunk
    drive, done = jnp.pad(drive, ((0, 0), (0, pad), (0, 0))), jnp.pad(done, ((0, 0), (0, pad)))
    num_chunks = (steps + pad) // chunk
    drive = drive.reshape(batch, num_chunks, chunk, -1)
    position = jnp.arange(chunk)
    # The step where each step's episode starts within its chunk; -1 where it starts in an earlier chunk.
    start = jax.lax.cummax(jnp.where(done.reshape(batch, num_chunks, chunk), position, -1), axis=2)

    # Within a chunk S_t = γ^t (C_t - C_{s-1}), with C the running sum of γ^{-i} drive_i and s the episode's first step
    # in the chunk (C_{-1} = 0). |γ^{-i}| < e^{0.68 chunk} stays finite, and the rounding of a large C_{s-1} is
    # scaled back down by γ^t, so the error stays that of float32 relative to S_t.
    powers = jnp.exp(position[:, None, None] * log_gamma)  # γ^t: [t, m, c]
    sums = jnp.cumsum(drive[..., None] / powers, axis=2)  # C_t: [B, n, t, m, c]
    sums_before = jnp.pad(sums, ((0, 0), (0, 0), (1, 0), (0, 0), (0, 0)))  # C_{t-1}, with C_{-1} = 0
    episode_start = jnp.maximum(start, 0)[..., None, None]
    within = powers * (sums - jnp.take_along_axis(sums_before, episode_start, axis=2))

    chunk_decay = jnp.broadcast_to(jnp.exp(chunk * log_gamma), within[:, :, -1].shape)
    ends = run_recurrence(chunk_decay, within[:, :, -1], start[:, :, -1] >= 0, carry)
    before = jnp.concatenate([carry[:, None], ends[:, :-1]], axis=1)  # S before each chunk
    carried_in = jnp.exp((position + 1)[:, None, None] * log_gamma)  # γ^{t+1}: [t, m, c]
    traces = within + jnp.where((start < 0)[..., None, None], carried_in * before[:, :, None], 0)
    return traces.reshape(batch, num_chunks * chunk, *traces.shape[3:])[:, :steps].astype(jnp.complex64)
