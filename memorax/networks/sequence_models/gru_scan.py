"""A GRU over a whole sequence with its input projections hoisted out of the loop and a written backward pass."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx


def standard_gru_weights(cell: nnx.Module) -> tuple[jax.Array, jax.Array, jax.Array] | None:
    """``(W_i [F, 3H], b [3H], W_h [H, 3H])``, gates in the order ``r, z, n``, of an ``nnx.GRUCell`` with its default
    gates and no dtype; None for any other cell (it runs step by step)."""
    if type(cell) is not nnx.GRUCell or cell.dense_h.use_bias:
        return None
    if cell.gate_fn is not jax.nn.sigmoid or cell.activation_fn is not jax.nn.tanh or cell.dtype is not None:
        return None
    return cell.dense_i.kernel[...], cell.dense_i.bias[...], cell.dense_h.kernel[...]


def starting_states(reset: jax.Array, initial: jax.Array, first: jax.Array, states: jax.Array) -> jax.Array:
    """The state each step starts from ``[T, B, H]``: the step before's (``first`` for step 0), or ``initial`` at a reset."""
    return jnp.where(reset[..., None], initial, jnp.concatenate([first[None], states[:-1]], axis=0))


def _step(recurrent_kernel: jax.Array, h: jax.Array, projected: jax.Array, reset: jax.Array, initial: jax.Array):
    """One step from the projected input ``W_i x + b``: ``(h', (r, z, n, W_hn h))``."""
    h = jnp.where(reset[:, None], initial, h)
    x_r, x_z, x_n = jnp.split(projected, 3, axis=-1)
    h_r, h_z, h_n = jnp.split(h @ recurrent_kernel, 3, axis=-1)
    r, z = jax.nn.sigmoid(x_r + h_r), jax.nn.sigmoid(x_z + h_z)
    n = jnp.tanh(x_n + r * h_n)
    return (1 - z) * n + z * h, (r, z, n, h_n)


@jax.custom_vjp
def gru_scan(projected: jax.Array, reset: jax.Array, h0: jax.Array, initial: jax.Array, recurrent_kernel: jax.Array):
    r"""``(h [T, B, H], h_T [B, H])`` of ``nnx.GRUCell``'s recurrence over time-major inputs,

    .. math::

        r = \sigma(x_r + W_{hr} h), \quad z = \sigma(x_z + W_{hz} h), \quad
        n = \tanh(x_n + r \odot W_{hn} h), \quad h' = (1 - z) \odot n + z \odot h,

    from ``projected = W_i x + b`` ``[T, B, 3H]`` (one matrix product for the
    whole sequence, outside the loop), ``reset [T, B]`` (``h`` is replaced by
    ``initial [B, H]`` before a step where it is True), ``h0 [B, H]`` and
    ``recurrent_kernel = [W_hr, W_hz, W_hn]`` ``[H, 3H]``.

    The backward pass runs the adjoint back through the steps, one matrix
    product by ``W_h^T`` per step, and forms ``∂W_h = Σ_t h_{t-1}^T ∂(W_h h)_t``
    as one product after the loop (JAX's own adds an outer product to it at
    every step): about twice as fast on a CPU.
    """
    return _forward(projected, reset, h0, initial, recurrent_kernel)[0]


def _forward(projected, reset, h0, initial, recurrent_kernel):
    def step(h, inputs):
        h, gates = _step(recurrent_kernel, h, *inputs, initial)
        return h, (h, gates)

    h, (states, gates) = jax.lax.scan(step, h0, (projected, reset))
    return (states, h), (reset, h0, initial, recurrent_kernel, states, gates)


def _backward(residuals, cotangents):
    reset, h0, initial, recurrent_kernel, states, (r, z, n, h_n) = residuals
    g_states, g_h = cotangents
    previous = starting_states(reset, initial, h0, states)

    def step(g_later, inputs):
        g_state, r, z, n, h_n, previous, reset = inputs
        g = g_later + g_state
        g_n = g * (1 - z) * (1 - n * n)
        g_z = g * (previous - n) * z * (1 - z)
        g_r = g_n * h_n * r * (1 - r)
        g_recurrent = jnp.concatenate([g_r, g_z, g_n * r], axis=-1)  # ∂(W_h h)
        g_previous = g * z + g_recurrent @ recurrent_kernel.T
        kept = jnp.where(reset[:, None], 0.0, g_previous)
        return kept, (jnp.concatenate([g_r, g_z, g_n], axis=-1), g_recurrent, g_previous - kept)

    g_h0, (g_projected, g_recurrent, g_initial) = jax.lax.scan(
        step, g_h, (g_states, r, z, n, h_n, previous, reset), reverse=True
    )
    g_kernel = jnp.einsum("tbh,tbk->hk", previous, g_recurrent)
    return g_projected, None, g_h0, g_initial.sum(0), g_kernel


gru_scan.defvjp(_forward, _backward)
