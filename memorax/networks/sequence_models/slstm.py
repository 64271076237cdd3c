"""SLSTM: the scalar-memory LSTM of xLSTM (Beck et al. 2024, arXiv:2405.04517), stabilised, with per-head recurrence, reset at episode starts."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from memorax.networks.lazy import LazyModule
from memorax.networks.linear import Linear
from memorax.networks.sequence_models.mlstm import linspace_init
from memorax.networks.sequence_models.sequence_model import Carry, SequenceModel
from memorax.networks.sizes import require_sizes


class SLSTM(LazyModule, SequenceModel):
    r"""The sLSTM cell of xLSTM: an LSTM with exponential input gates, a normaliser, and memory mixed within heads.

    With the four pre-activations ``\tilde g_t = W_g x_t + R_g h_{t-1} + b_g``
    for ``g \in \{z, i, f, o\}``, each ``R_g`` block-diagonal (one
    ``[head_dim, head_dim]`` block per head):

    .. math::

        c_t = f_t c_{t-1} + i_t z_t, \quad
        n_t = f_t n_{t-1} + i_t, \quad
        h_t = o_t \odot \frac{c_t}{n_t},

    with ``z_t = \tanh(\tilde z_t)``, ``i_t = \exp(\tilde\imath_t)``,
    ``f_t = \sigma(\tilde f_t)`` and ``o_t = \sigma(\tilde o_t)``. ``c`` and ``n``
    are stored divided by ``e^{m_t}``, with the stabiliser
    ``m_t = \max(\log f_t + m_{t-1}, \tilde\imath_t)``, or ``\tilde\imath_t`` where
    the memory is empty (``n_{t-1} = 0``), as xLSTM's own code does, so that from
    an episode start on the stored ``n`` is at least 1; ``h`` does not depend on
    it. At an episode start ``c``, ``n``, ``m`` and ``h`` are set to 0. The
    recurrence through ``h`` makes it sequential: sequences run step by step
    (``jax.lax.scan``), the input projections computed for all steps at once.

    Initialisation: forget biases evenly spaced from 3 to 6 across units, the
    other biases 0, ``W`` LeCun-normal, each block of ``R`` LeCun-normal over
    its ``head_dim`` inputs.

    Shapes: inputs ``[B, T, F]``, outputs ``[B, T, hidden_dim]``; carry
    ``(c, n, m, h)``, each ``[B, hidden_dim]``.

    Args:
      hidden_dim: width of the memory and the outputs, split evenly into heads.
      num_heads: number of heads; the recurrence mixes units within a head only.
    """

    def __init__(self, hidden_dim: int, *, num_heads: int = 4):
        require_sizes("SLSTM", hidden_dim=hidden_dim, num_heads=num_heads)
        if hidden_dim % num_heads:
            raise ValueError(f"SLSTM: hidden_dim ({hidden_dim}) must be a multiple of num_heads ({num_heads}).")
        self.hidden_dim = hidden_dim
        self.num_heads = num_heads
        self.head_dim = hidden_dim // num_heads

    def build(self, in_features: int, rngs: nnx.Rngs) -> None:
        zeros = jnp.zeros(self.hidden_dim)
        bias = jnp.concatenate([zeros, zeros, linspace_init(3.0, 6.0)(None, (self.hidden_dim,)), zeros])
        self.input_proj = Linear(in_features, 4 * self.hidden_dim, bias_init=lambda *_: bias, rngs=rngs)
        shape = (self.num_heads, self.head_dim, 4, self.head_dim)
        self.recurrent = nnx.Param(nnx.initializers.lecun_normal(in_axis=1, out_axis=(2, 3), batch_axis=0)(rngs.params(), shape))

    def initialize_carry(self, batch_size: int) -> Carry:
        return tuple(jnp.zeros((batch_size, self.hidden_dim)) for _ in range(4))

    def __call__(self, inputs: jax.Array, done: jax.Array, carry: Carry) -> tuple[Carry, jax.Array]:
        self.build_once(inputs)
        batch, steps = inputs.shape[:2]
        projected = self.input_proj(inputs).reshape(batch, steps, 4, self.num_heads, self.head_dim)
        recurrent = self.recurrent[...]

        def step(carry, xs):
            projection, reset = xs
            cell, normaliser, stabiliser, hidden = (jnp.where(reset[:, None], 0.0, c) for c in carry)
            mixed = jnp.einsum("bhi,higj->bghj", hidden.reshape(batch, self.num_heads, self.head_dim), recurrent)
            z, log_input, forget, output = (projection + mixed).reshape(batch, 4, self.hidden_dim).swapaxes(0, 1)
            log_forget = jax.nn.log_sigmoid(forget)
            # An empty memory (n = 0: the first step, or an episode start) takes m = ĩ, so n becomes 1 and
            # never falls below it; max(log f, ĩ) there left n = e^{ĩ - log f}, 0 in float32 for ĩ < log f - 88.
            empty = normaliser == 0.0
            new_stabiliser = jnp.where(empty, log_input, jnp.maximum(log_forget + stabiliser, log_input))
            input_gate = jnp.exp(log_input - new_stabiliser)
            forget_gate = jnp.exp(jnp.where(empty, -jnp.inf, log_forget + stabiliser - new_stabiliser))
            cell = forget_gate * cell + input_gate * jnp.tanh(z)
            normaliser = forget_gate * normaliser + input_gate
            hidden = jax.nn.sigmoid(output) * cell / normaliser
            return (cell, normaliser, new_stabiliser, hidden), hidden

        time_major = (jnp.swapaxes(projected, 0, 1), jnp.swapaxes(done, 0, 1))
        carry, outputs = jax.lax.scan(step, carry, time_major)
        return carry, jnp.swapaxes(outputs, 0, 1)
