"""FFM: fast and forgetful memory, of Morad et al. (2023), "Reinforcement Learning with Fast and Forgetful Memory", arXiv:2310.04128."""

from __future__ import annotations

import math
import sys

import jax
import jax.numpy as jnp
from flax import nnx

from memorax.networks.lazy import LazyModule
from memorax.networks.linear import Linear
from memorax.networks.sequence_models.linear_recurrence import recurrence_step, run_recurrence
from memorax.networks.sequence_models.sequence_model import Carry, SequenceModel
from memorax.networks.sizes import require_sizes

# The authors' bounds on the decay a: above, -1e-8 keeps |γ| < 1; below, their float64 limit for 1024-step blocks.
DECAY_MAX = -1e-8
DECAY_MIN = -(math.log(sys.float_info.max) / 1024 - 0.01)


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
    default initialisers. As ``γ`` does not depend on the input, ``z`` is a
    causal convolution of the drive, and a whole sequence runs in chunks
    without forming ``S`` at every step
    (:func:`~memorax.networks.sequence_models.ffm.chunked_readout`); a single
    step is the plain update.

    Shapes: inputs ``[B, T, F]``, outputs ``[B, T, hidden_dim]``; carry ``S``
    ``[B, memory_dim, context_dim]`` complex64, zero at an episode start.

    Args:
      hidden_dim: output width.
      memory_dim: number of traces ``m`` (decay rates).
      context_dim: number of oscillation frequencies ``c`` per trace.
      min_period, max_period: range of the initial periods (in steps).
      chunk_size: steps per chunk of the whole-sequence path (default 4, the fastest of 2, 4 and 8 on a CPU from
        [8, 64, 64] to [16, 1024, 128], bench/RESULTS.md); any value gives the same outputs.
    """

    def __init__(
        self,
        hidden_dim: int,
        *,
        memory_dim: int = 32,
        context_dim: int = 4,
        min_period: int = 1,
        max_period: int = 1024,
        chunk_size: int = 4,
    ):
        require_sizes("FFM", hidden_dim=hidden_dim, memory_dim=memory_dim, context_dim=context_dim, chunk_size=chunk_size)
        self.hidden_dim = hidden_dim
        self.memory_dim = memory_dim
        self.context_dim = context_dim
        self.min_period = min_period
        self.max_period = max_period
        self.chunk_size = chunk_size

    def build(self, in_features: int, rngs: nnx.Rngs) -> None:
        m, c, h = self.memory_dim, self.context_dim, self.hidden_dim
        self.pre = Linear(in_features, 2 * m + 2 * h, rngs=rngs)
        self.mix = Linear(2 * m * c, h, rngs=rngs)
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
            traces = recurrence_step(jnp.exp(log_gamma), drive[:, 0, :, None].astype(jnp.complex64), done[:, 0], carry)
            z, final = self.mix(jnp.stack([traces.real, traces.imag], axis=-1).reshape(inputs.shape[0], 1, -1)), traces
        else:
            chunk = min(self.chunk_size, inputs.shape[1])
            z, final = chunked_readout(log_gamma, drive, done, carry, self.mix.kernel[...], chunk)
            z = z + self.mix.bias[...]
        return final, self.norm(z) * gate_out + through * (1 - gate_out)


def chunked_readout(
    log_gamma: jax.Array, drive: jax.Array, done: jax.Array, carry: jax.Array, mix_kernel: jax.Array, chunk: int
) -> tuple[jax.Array, jax.Array]:
    r"""``(z [B, T, h], S_T [B, m, c])``: the mixed traces ``z_t = W_z vec(Re S_t, Im S_t)`` (no bias) of every step and the
    last state, for ``S_t = γ ⊙ S_{t-1} + drive_t 1ᵀ`` with ``S`` zeroed where ``done``, from ``S`` before the first step.

    ``log_gamma [m, c]`` complex, ``drive [B, T, m]``, ``done [B, T]``,
    ``carry [B, m, c]`` complex, ``mix_kernel [2 m c, h]`` (rows ordered
    ``m, c, (Re, Im)``). ``S_t`` is a sum of ``γ^{t-i} drive_i`` over the
    episode's steps, so ``z_t`` is a causal convolution of the drive whose
    kernel ``K_δ [m, h] = Σ_c Re(γ^δ) W_{Re} + Im(γ^δ) W_{Im}`` does not depend
    on the input. The sequence is cut into chunks of ``chunk`` steps: within a
    chunk ``z`` is that convolution, a masked product over the chunk's steps
    (the mask keeps ``i ≤ t`` in the same episode); across chunks only each
    chunk's last state is carried, by the recurrence with decay ``γ^chunk``
    that restarts at a chunk holding an episode start, and a step whose episode
    began in an earlier chunk adds ``W_z vec(γ^{t+1} S_before)``, read from
    the state before its chunk. ``S`` is never formed at every step: on a CPU
    the passes over it cost more than the products. Only powers ``γ^0`` to
    ``γ^chunk`` are formed, so nothing overflows.
    """
    batch, steps, m = drive.shape
    c = log_gamma.shape[1]
    pad = -steps % chunk
    drive, done = jnp.pad(drive, ((0, 0), (0, pad), (0, 0))), jnp.pad(done, ((0, 0), (0, pad)))
    num_chunks = (steps + pad) // chunk
    drive = drive.reshape(batch, num_chunks, chunk, m)
    position = jnp.arange(chunk)
    # The step where each step's episode starts within its chunk; -1 where it starts in an earlier chunk.
    start = jax.lax.cummax(jnp.where(done.reshape(batch, num_chunks, chunk), position, -1), axis=2)
    powers = jnp.exp(jnp.arange(chunk + 1)[:, None, None] * log_gamma)  # γ^0 .. γ^chunk: [chunk + 1, m, c]
    kernel = mix_kernel.reshape(m, c, 2, -1)
    kernel_real, kernel_imag = kernel[:, :, 0], kernel[:, :, 1]  # [m, c, h]

    # Within a chunk: z_t = Σ_m Σ_i d_i[m] K_{t-i}[m] over the episode's steps i <= t.
    lag_kernel = jnp.einsum("dmc,mch->dmh", powers[:chunk].real, kernel_real) + jnp.einsum(
        "dmc,mch->dmh", powers[:chunk].imag, kernel_imag
    )
    lag = position[:, None] - position[None, :]  # t - i
    toeplitz = jnp.where((lag >= 0)[..., None, None], lag_kernel[jnp.maximum(lag, 0)], 0)  # [t, i, m, h]
    same_episode = (lag >= 0) & (position >= start[..., None])  # [B, n, t, i]
    within = jnp.einsum("bnti,bnim,timh->bnth", same_episode.astype(drive.dtype), drive, toeplitz)

    def state_from_chunk(drive: jax.Array, first: jax.Array, last: int) -> jax.Array:
        """``Σ γ^{last-i} d_i`` over a chunk's steps ``first <= i <= last``: ``drive [..., chunk, m]``, ``first [...]``."""
        kept = drive * ((position <= last) & (position >= first[..., None]))[..., None]
        weights = powers[jnp.clip(last - position, 0, chunk)]  # γ^{last-i}: [i, m, c]
        return jax.lax.complex(
            jnp.einsum("...im,imc->...mc", kept, weights.real), jnp.einsum("...im,imc->...mc", kept, weights.imag)
        )

    last_start = start[:, :, -1]
    ends_within = state_from_chunk(drive, last_start, chunk - 1)
    chunk_decay = jnp.broadcast_to(powers[chunk], ends_within.shape)
    ends = run_recurrence(chunk_decay, ends_within, last_start >= 0, carry)
    before = jnp.concatenate([carry[:, None], ends[:, :-1]], axis=1)  # S before each chunk: [B, n, m, c]

    # A step whose episode began before its chunk adds W_z vec(γ^{t+1} S_before): Re and Im of the product by parts.
    carried_in = powers[1:]  # γ^{t+1}: [t, m, c]
    from_real = carried_in.real[..., None] * kernel_real + carried_in.imag[..., None] * kernel_imag  # [t, m, c, h]
    from_imag = carried_in.real[..., None] * kernel_imag - carried_in.imag[..., None] * kernel_real
    carried = jnp.einsum("bnmc,tmch->bnth", before.real, from_real) + jnp.einsum("bnmc,tmch->bnth", before.imag, from_imag)
    z = within + jnp.where((start < 0)[..., None], carried, 0)

    last = (steps - 1) % chunk  # the last real step's position in the last chunk
    final_start = start[:, -1, last]
    final = state_from_chunk(drive[:, -1], final_start, last)
    final = final + jnp.where((final_start < 0)[:, None, None], powers[last + 1] * before[:, -1], 0)
    return z.reshape(batch, num_chunks * chunk, -1)[:, :steps], final.astype(jnp.complex64)
