"""FFM: fast and forgetful memory, of Morad et al. (2023), "Reinforcement Learning with Fast and Forgetful Memory", arXiv:2310.04128."""

from __future__ import annotations

import math
import sys

import jax
import jax.numpy as jnp
from flax import nnx

from memorax.networks.lazy import LazyModule
from memorax.networks.sequence_models.linear_recurrence import run_recurrence
from memorax.networks.sequence_models.sequence_model import Carry, SequenceModel

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

    where ``S`` is ``[memory_size, context_size]`` complex, ``LN`` is a layer
    norm without scale or bias, and ``vec`` flattens ``S`` with real and
    imaginary parts innermost. As in the authors' standalone module, the
    decays ``a`` start evenly spaced in ``[DECAY_MIN, log(0.01) / max_period]``
    (a trace falls to 1% of a memory after ``max_period`` steps at the
    slowest), are clamped to ``[DECAY_MIN, -1e-8]`` in the forward pass, and the
    frequencies start at ``ω_k = 2π / p_k`` for periods ``p`` evenly spaced in
    ``[min_period, max_period]``; both are learned. The linear maps use NNX's
    default initialisers.

    Shapes: inputs ``[B, T, F]``, outputs ``[B, T, hidden_dim]``; carry ``S``
    ``[B, memory_size, context_size]`` complex64, zero at an episode start.

    Args:
      hidden_dim: output width.
      memory_size: number of traces ``m`` (decay rates).
      context_size: number of oscillation frequencies ``c`` per trace.
      min_period, max_period: range of the initial periods (in steps).
    """

    def __init__(
        self, hidden_dim: int, *, memory_size: int = 32, context_size: int = 4, min_period: int = 1, max_period: int = 1024
    ):
        self.hidden_dim = hidden_dim
        self.memory_size = memory_size
        self.context_size = context_size
        self.min_period = min_period
        self.max_period = max_period

    def build(self, in_features: int, rngs: nnx.Rngs) -> None:
        m, c, h = self.memory_size, self.context_size, self.hidden_dim
        self.pre = nnx.Linear(in_features, 2 * m + 2 * h, rngs=rngs)
        self.mix = nnx.Linear(2 * m * c, h, rngs=rngs)
        self.norm = nnx.LayerNorm(h, epsilon=1e-5, use_bias=False, use_scale=False, rngs=rngs)
        slowest = max(min(DECAY_MAX, math.log(0.01) / self.max_period), DECAY_MIN)
        self.decay = nnx.Param(jnp.linspace(DECAY_MIN, slowest, m))
        self.frequency = nnx.Param(2 * jnp.pi / jnp.linspace(self.min_period, self.max_period, c))

    def initialize_carry(self, batch_size: int) -> Carry:
        return jnp.zeros((batch_size, self.memory_size, self.context_size), jnp.complex64)

    def __call__(self, inputs: jax.Array, done: jax.Array, carry: Carry) -> tuple[Carry, jax.Array]:
        self.build_once(inputs)
        m, h = self.memory_size, self.hidden_dim
        memory_input, through, gates = jnp.split(self.pre(inputs), [m, m + h], axis=-1)
        gate_in, gate_out = jnp.split(jax.nn.sigmoid(gates), [m], axis=-1)
        decay = jnp.clip(self.decay[...], DECAY_MIN, DECAY_MAX)
        gamma = jnp.exp(decay[:, None] + 1j * self.frequency[...][None, :]).astype(jnp.complex64)
        drive = (memory_input * gate_in).astype(jnp.complex64)[..., None]
        shape = (*inputs.shape[:2], m, self.context_size)
        traces = run_recurrence(jnp.broadcast_to(gamma, shape), jnp.broadcast_to(drive, shape), done, carry)
        z = self.mix(jnp.stack([traces.real, traces.imag], axis=-1).reshape(*inputs.shape[:2], -1))
        return traces[:, -1], self.norm(z) * gate_out + through * (1 - gate_out)
