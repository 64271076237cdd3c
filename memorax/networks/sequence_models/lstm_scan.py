"""An LSTM over a whole sequence with a written backward pass."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from memorax.networks.sequence_models.gru_scan import starting_states, summed_outer_products


def standard_lstm_weights(cell: nnx.Module) -> tuple[jax.Array, jax.Array, jax.Array] | None:
    """``(W_i [F, 4H], b [4H], W_h [H, 4H])``, gates in the order ``i, f, g, o``, of an ``nnx.OptimizedLSTMCell`` or
    ``nnx.LSTMCell`` with its default gates and no dtype; None for any other cell (it runs step by step)."""
    if type(cell) not in (nnx.OptimizedLSTMCell, nnx.LSTMCell):
        return None
    if cell.gate_fn is not jax.nn.sigmoid or cell.activation_fn is not jax.nn.tanh or cell.dtype is not None:
        return None
    if type(cell) is nnx.OptimizedLSTMCell:
        return cell.dense_i.kernel[...], cell.dense_h.bias[...], cell.dense_h.kernel[...]
    inputs, hidden = (cell.ii, cell.if_, cell.ig, cell.io), (cell.hi, cell.hf, cell.hg, cell.ho)
    return (
        jnp.concatenate([layer.kernel[...] for layer in inputs], axis=1),
        jnp.concatenate([layer.bias[...] for layer in hidden]),
        jnp.concatenate([layer.kernel[...] for layer in hidden], axis=1),
    )


@jax.custom_vjp
def lstm_scan(
    inputs: jax.Array,
    reset: jax.Array,
    carry: tuple,
    initial: tuple,
    input_kernel: jax.Array,
    bias: jax.Array,
    recurrent_kernel: jax.Array,
):
    r"""``(h [T, B, H], (c_T, h_T))`` of the LSTM recurrence of NNX's cells over time-major inputs,

    .. math::

        [i, f, g, o] = [\sigma, \sigma, \tanh, \sigma](W_i x_t + b + W_h h), \quad
        c' = f \odot c + i \odot g, \quad h' = o \odot \tanh(c'),

    from ``inputs [T, B, F]``, ``reset [T, B]`` (``(c, h)`` is replaced by
    ``initial`` before a step where it is True), ``carry = (c_0, h_0)``,
    ``input_kernel`` ``[F, 4H]``, ``bias`` ``[4H]`` and ``recurrent_kernel``
    ``[H, 4H]``.

    The backward pass runs the adjoints of ``c`` and ``h`` back through the
    steps, one matrix product by ``W_h^T`` per step, and forms the kernels',
    the bias's and the inputs' gradients as one product each after the loop,
    as :func:`~memorax.networks.sequence_models.gru_scan.gru_scan`.
    """
    return _forward(inputs, reset, carry, initial, input_kernel, bias, recurrent_kernel)[0]


def _forward(inputs, reset, carry, initial, input_kernel, bias, recurrent_kernel):
    def step(carry, xs):
        x, reset = xs
        c, h = (jnp.where(reset[:, None], start, value) for start, value in zip(initial, carry))
        # The input's product inside the loop, as in gru_scan: faster on XLA's CPU backend than hoisting it.
        i, f, g, o = jnp.split(x @ input_kernel + bias + h @ recurrent_kernel, 4, axis=-1)
        i, f, g, o = jax.nn.sigmoid(i), jax.nn.sigmoid(f), jnp.tanh(g), jax.nn.sigmoid(o)
        c = f * c + i * g
        squashed = jnp.tanh(c)
        h = o * squashed
        return (c, h), (c, h, (i, f, g, o, squashed))

    final, (cells, states, gates) = jax.lax.scan(step, carry, (inputs, reset))
    return (states, final), (inputs, reset, carry, initial, (input_kernel, recurrent_kernel), cells, states, gates)


def _backward(residuals, cotangents):
    inputs, reset, (c0, h0), (c_initial, h_initial), (input_kernel, recurrent_kernel), cells, states, gates = residuals
    i, f, g, o, squashed = gates
    g_states, (g_c, g_h) = cotangents
    previous_c = starting_states(reset, c_initial, c0, cells)
    previous_h = starting_states(reset, h_initial, h0, states)

    def step(later, inputs):
        g_c, g_h = later
        g_state, i, f, g, o, squashed, previous_c, reset = inputs
        g_h = g_h + g_state
        g_c = g_c + g_h * o * (1 - squashed * squashed)
        g_pre = jnp.concatenate(
            [g_c * g * i * (1 - i), g_c * previous_c * f * (1 - f), g_c * i * (1 - g * g), g_h * squashed * o * (1 - o)], axis=-1
        )
        before = (g_c * f, g_pre @ recurrent_kernel.T)
        kept = tuple(jnp.where(reset[:, None], 0.0, value) for value in before)
        return kept, (g_pre, tuple(value - k for value, k in zip(before, kept)))

    g_carry, (g_projected, g_initial) = jax.lax.scan(
        step, (g_c, g_h), (g_states, i, f, g, o, squashed, previous_c, reset), reverse=True
    )
    return (
        g_projected @ input_kernel.T,
        None,
        g_carry,
        tuple(value.sum(0) for value in g_initial),
        summed_outer_products(inputs, g_projected),
        g_projected.sum((0, 1)),
        summed_outer_products(previous_h, g_projected),
    )


lstm_scan.defvjp(_forward, _backward)
