"""A GRU over a whole sequence with a written backward pass."""

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


def summed_outer_products(a: jax.Array, b: jax.Array) -> jax.Array:
    """``Σ_{t,b} a_{tb}ᵀ b_{tb}`` ``[F, K]`` of ``a [T, B, F]`` and ``b [T, B, K]``, as one 2-D product (XLA's CPU
    backend runs the 3-D contraction about twice as slowly). The rows are flattened batch-major, so that a batch
    axis split over devices stays split (time-major, the compiler would gather it on every device)."""
    a, b = (jnp.swapaxes(x, 0, 1).reshape(-1, x.shape[-1]) for x in (a, b))
    return a.T @ b


def _step(weights: tuple[jax.Array, jax.Array, jax.Array], h: jax.Array, x: jax.Array, reset: jax.Array, initial: jax.Array):
    """One step: ``(h', (r, z, n, W_hn h))``."""
    input_kernel, bias, recurrent_kernel = weights
    h = jnp.where(reset[:, None], initial, h)
    # The input's product stays inside the loop: XLA's CPU backend computes the gates several times faster from two
    # products' fresh outputs than from a slice of all steps' projections made before the loop.
    x_r, x_z, x_n = jnp.split(x @ input_kernel + bias, 3, axis=-1)
    h_r, h_z, h_n = jnp.split(h @ recurrent_kernel, 3, axis=-1)
    r, z = jax.nn.sigmoid(x_r + h_r), jax.nn.sigmoid(x_z + h_z)
    n = jnp.tanh(x_n + r * h_n)
    return (1 - z) * n + z * h, (r, z, n, h_n)


@jax.custom_vjp
def gru_scan(
    inputs: jax.Array,
    reset: jax.Array,
    h0: jax.Array,
    initial: jax.Array,
    input_kernel: jax.Array,
    bias: jax.Array,
    recurrent_kernel: jax.Array,
):
    r"""``(h [T, B, H], h_T [B, H])`` of ``nnx.GRUCell``'s recurrence over time-major inputs,

    .. math::

        r = \sigma(x_r + W_{hr} h), \quad z = \sigma(x_z + W_{hz} h), \quad
        n = \tanh(x_n + r \odot W_{hn} h), \quad h' = (1 - z) \odot n + z \odot h,

    with ``[x_r, x_z, x_n] = W_i x + b``, from ``inputs [T, B, F]``,
    ``reset [T, B]`` (``h`` is replaced by ``initial [B, H]`` before a step
    where it is True), ``h0 [B, H]``, ``input_kernel`` ``[F, 3H]``, ``bias``
    ``[3H]`` and ``recurrent_kernel = [W_hr, W_hz, W_hn]`` ``[H, 3H]``.

    The backward pass runs the adjoint back through the steps, one matrix
    product by ``W_h^T`` per step, and forms ``∂W_h = Σ_t h_{t-1}^T ∂(W_h h)_t``,
    ``∂W_i``, ``∂b`` and ``∂x`` as one product each after the loop (JAX's own
    adds outer products to the kernels' gradients at every step).
    """
    return _forward(inputs, reset, h0, initial, input_kernel, bias, recurrent_kernel)[0]


def _forward(inputs, reset, h0, initial, input_kernel, bias, recurrent_kernel):
    weights = (input_kernel, bias, recurrent_kernel)

    def step(h, xs):
        h, gates = _step(weights, h, *xs, initial)
        return h, (h, gates)

    h, (states, gates) = jax.lax.scan(step, h0, (inputs, reset))
    return (states, h), (inputs, reset, h0, initial, weights, states, gates)


def _backward(residuals, cotangents):
    inputs, reset, h0, initial, (input_kernel, bias, recurrent_kernel), states, (r, z, n, h_n) = residuals
    g_states, g_h = cotangents
    previous = starting_states(reset, initial, h0, states)

    def step(g_later, xs):
        g_state, r, z, n, h_n, previous, reset = xs
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
    return (
        g_projected @ input_kernel.T,
        None,
        g_h0,
        g_initial.sum(0),
        summed_outer_products(inputs, g_projected),
        g_projected.sum((0, 1)),
        summed_outer_products(previous, g_recurrent),
    )


gru_scan.defvjp(_forward, _backward)
