"""The diagonal linear recurrence with resets shared by S5, LRU, MinGRU, MinLSTM, FFM and LinearAttention (across chunks).

    h_t = a_t * h_{t-1} + b_t,   with h_{t-1} replaced by 0 where done_t,

elementwise over the state axes. Training runs it over whole sequences: on
an accelerator as one ``jax.lax.associative_scan`` whose elements carry the
reset flag (``O(log T)`` deep); on a CPU as a loop over time (``jax.lax.scan``),
which does ``O(T)`` work where the associative scan does ``O(T log T)`` in
slices, and ran forward and backward 2.4 to 3.3 times faster on this project's
CPU (``bench/linear_recurrence.py``). Acting runs :func:`recurrence_step` once per step. The
initial state is zero, so a reset returns the memory to the initial carry.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def _expand(done: jax.Array, like: jax.Array) -> jax.Array:
    return done.reshape(done.shape + (1,) * (like.ndim - done.ndim))


def _combine(earlier, later):
    """Composes two affine maps h -> a h + b, the later one applied second.

    An element ``(a, b, r)`` with ``r`` True maps every h to ``b`` (a reset
    forgets h). ``jnp.where`` keeps a reset exact even where ``a * h`` is inf.
    """
    a1, b1, r1 = earlier
    a2, b2, r2 = later
    r2_ = _expand(r2, a2)
    return a2 * a1, jnp.where(r2_, b2, a2 * b1 + b2), r1 | r2


def associative_scan(a: jax.Array, b: jax.Array, done: jax.Array, h0: jax.Array) -> jax.Array:
    """Every ``h_t`` ``[batch, time, *state]`` by composing the steps' affine maps in a balanced tree."""
    a_cum, b_cum, r_cum = jax.lax.associative_scan(_combine, (a, b, done), axis=1)
    carried = jnp.where(_expand(r_cum, a_cum), 0, a_cum * h0[:, None])
    return carried + b_cum


def sequential_scan(a: jax.Array, b: jax.Array, done: jax.Array, h0: jax.Array) -> jax.Array:
    """Every ``h_t`` ``[batch, time, *state]`` by :func:`recurrence_step`, one step after another."""

    def step(h: jax.Array, step_inputs: tuple[jax.Array, jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
        h = recurrence_step(*step_inputs, h)
        return h, h

    _, h = jax.lax.scan(step, h0, (jnp.moveaxis(a, 1, 0), jnp.moveaxis(b, 1, 0), jnp.moveaxis(done, 1, 0)))
    return jnp.moveaxis(h, 0, 1)


def _scan(a: jax.Array, b: jax.Array, done: jax.Array, h0: jax.Array) -> jax.Array:
    return sequential_scan(a, b, done, h0) if jax.default_backend() == "cpu" else associative_scan(a, b, done, h0)


@jax.custom_vjp
def linear_recurrence(a: jax.Array, b: jax.Array, done: jax.Array, h0: jax.Array) -> jax.Array:
    """All states of the recurrence in parallel.

    Args:
      a: decays ``[batch, time, *state]``.
      b: inputs ``[batch, time, *state]``.
      done: bool ``[batch, time]``; True resets the state before step t.
      h0: state before the first step ``[batch, *state]``.

    Returns:
      ``h`` of shape ``[batch, time, *state]``.

    The gradient is a second scan, backwards in time: with
    ``m_t = 1 - done_t`` and ``g_t`` the cotangent of ``h_t``, the adjoint
    ``λ_t = g_t + m_{t+1} a_{t+1} λ_{t+1}`` gives ``∂b_t = λ_t``,
    ``∂a_t = m_t λ_t h_{t-1}`` and ``∂h0 = m_0 a_0 λ_0`` (JAX's convention:
    no complex conjugates). This is about 3x faster than differentiating
    through the scan's slicing and keeps only ``a`` and ``h`` for the backward pass.
    """
    return _scan(a, b, done, h0)


def _linear_recurrence_forward(a, b, done, h0):
    h = _scan(a, b, done, h0)
    return h, (a, done, h0, h)


def _linear_recurrence_backward(residuals, g):
    a, done, h0, h = residuals
    a_next = jnp.concatenate([a[:, 1:], jnp.zeros_like(a[:, :1])], axis=1)
    done_next = jnp.concatenate([done[:, 1:], jnp.ones_like(done[:, :1])], axis=1)
    adjoint = jnp.flip(_scan(*(jnp.flip(x, 1) for x in (a_next, g, done_next)), jnp.zeros_like(h0)), 1)
    h_prev = jnp.concatenate([h0[:, None], h[:, :-1]], axis=1)
    grad_a = jnp.where(_expand(done, a), 0, adjoint * h_prev)
    grad_h0 = jnp.where(_expand(done[:, 0], h0), 0, a[:, 0] * adjoint[:, 0])
    return grad_a, adjoint, None, grad_h0


linear_recurrence.defvjp(_linear_recurrence_forward, _linear_recurrence_backward)


def recurrence_step(a: jax.Array, b: jax.Array, done: jax.Array, h: jax.Array) -> jax.Array:
    """One step ``[batch, *state]`` of the recurrence: ``a * (0 if done else h) + b``."""
    return a * jnp.where(_expand(done, h), 0, h) + b


def run_recurrence(a: jax.Array, b: jax.Array, done: jax.Array, h0: jax.Array) -> jax.Array:
    """The associative scan for sequences, the plain step for a single step (acting)."""
    if a.shape[1] == 1:
        return recurrence_step(a[:, 0], b[:, 0], done[:, 0], h0)[:, None]
    return linear_recurrence(a, b, done, h0)


def feedthrough(inputs: jax.Array, d: jax.Array) -> jax.Array:
    """The skip term D u: elementwise when ``d`` is a vector, a matrix product otherwise.

    The published S5 and LRU layers have as many outputs as inputs and a
    diagonal D; when a user's widths differ, D becomes ``[in_features, hidden_dim]``.
    """
    return inputs * d if d.ndim == 1 else inputs @ d
