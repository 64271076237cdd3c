"""The selective scan of Mamba, in chunks: the ``[B, T, D, N]`` states are never all in memory."""

from __future__ import annotations

import jax
import jax.numpy as jnp

CHUNK = 16
"""The number of steps in a chunk. 4, 8 and 16 ran within the run-to-run spread at ``[16, 1024, 128 x 16]`` on a 2-core
CPU, 32 and 64 slower (bench/RESULTS.md)."""


def _chunk_states(h: jax.Array, dt, x, b, done, a) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(h at the chunk's end, states [S, B, D, N], decays [S, B, D, N])`` of one chunk of time-major inputs ``[S, B, ...]``
    from its first state ``h [B, D, N]``."""
    decay = jnp.exp(dt[..., None] * a) * ~done[..., None, None]
    drive = (dt * x)[..., None] * b[:, :, None, :]
    h, states = jax.lax.scan(lambda h, step: (step[0] * h + step[1],) * 2, h, (decay, drive))
    return h, states, decay


@jax.custom_vjp
def _chunked_scan(dt, x, b, c, a, done, h0):
    return _forward(dt, x, b, c, a, done, h0)[0]


def _forward(dt, x, b, c, a, done, h0):
    """Inputs time-major in chunks ``[chunks, S, B, ...]``; keeps each chunk's first state ``[chunks, B, D, N]``."""

    def chunk(h, inputs):
        dt, x, b, c, done = inputs
        h_end, states, _ = _chunk_states(h, dt, x, b, done, a)
        return h_end, (jnp.einsum("tbdn,tbn->tbd", states, c), h)

    h, (y, starts) = jax.lax.scan(chunk, h0, (dt, x, b, c, done))
    return (y, h), (dt, x, b, c, a, done, starts)


def _backward(residuals, cotangents):
    """The adjoint ``G_t = ∂L/∂h_t = g_t C_t^T + m_{t+1} α_{t+1} ⊙ G_{t+1}`` (``α`` the decay, ``m = 1 - done``), run
    backwards one step at a time within each chunk after computing the chunk's states again; every other gradient is
    an elementwise product and a sum over the chunk: ``∂C_t = h_t^T g_t``, ``∂(Δx)_t = G_t B_t``, ``∂B_t = G_t^T (Δx)_t``,
    ``∂Δ_t = Σ_n G_t ⊙ h_{t-1} ⊙ α_t ⊙ A + ∂(Δx)_t x_t``, ``∂A = Σ_t Δ_t (G_t ⊙ h_{t-1} ⊙ α_t)``. (Sums written as
    products and ``sum``: XLA fuses them on CPU, where its batched ``dot`` of these shapes was several times slower.)"""
    dt, x, b, c, a, done, starts = residuals
    g_y, g_h = cotangents

    def chunk(carry, inputs):
        g_after, g_a = carry
        dt, x, b, c, done, g_y, h_start = inputs
        _, states, decay = _chunk_states(h_start, dt, x, b, done, a)

        def step(g_later, step_inputs):
            g_y, c, decay = step_inputs
            adjoint = g_later + g_y[..., None] * c[:, None, :]
            return decay * adjoint, adjoint

        g_before, adjoint = jax.lax.scan(step, g_after, (g_y, c, decay), reverse=True)
        previous = jnp.concatenate([h_start[None], states[:-1]], axis=0)
        through_decay = adjoint * previous * decay
        g_dx = (adjoint * b[:, :, None, :]).sum(-1)
        g_dt = (through_decay * a).sum(-1) + g_dx * x
        g_a = g_a + (through_decay * dt[..., None]).sum((0, 1))
        g_b = (adjoint * (dt * x)[..., None]).sum(2)
        g_c = (states * g_y[..., None]).sum(2)
        return (g_before, g_a), (g_dt, g_dx * dt, g_b, g_c)

    (g_h0, g_a), (g_dt, g_x, g_b, g_c) = jax.lax.scan(
        chunk, (g_h, jnp.zeros_like(a)), (dt, x, b, c, done, g_y, starts), reverse=True
    )
    return g_dt, g_x, g_b, g_c, g_a, None, g_h0


_chunked_scan.defvjp(_forward, _backward)


def selective_scan(
    dt: jax.Array, x: jax.Array, b: jax.Array, c: jax.Array, a: jax.Array, done: jax.Array, h0: jax.Array
) -> tuple[jax.Array, jax.Array]:
    r"""``(y [B, T, D], h_T [B, D, N])`` of the selective state space

    .. math::

        h_t = \exp(\Delta_t A) \odot h_{t-1} + (\Delta_t x_t) B_t^\top
        \ (h_{t-1} = 0 \text{ where } done_t), \quad y_t = h_t C_t,

    from ``dt``, ``x`` ``[B, T, D]``, ``b``, ``c`` ``[B, T, N]``, ``a [D, N]``,
    ``done [B, T]`` and ``h0 [B, D, N]``.

    The sequence runs in chunks of :data:`CHUNK` steps (one when acting), each
    a plain scan whose decays and states ``[CHUNK, B, D, N]`` exist only while
    it runs; the backward pass keeps only each chunk's first state, computes
    the chunk again and runs the adjoint recurrence back through it. The
    associative scan over the whole sequence held ``[B, T, D, N]`` several
    times over and was 2.5x slower here.
    """
    batch, steps = done.shape
    size = min(CHUNK, steps)
    chunks = -(-steps // size)

    def chunked(v: jax.Array) -> jax.Array:
        """``[B, T, ...]`` as ``[chunks, size, B, ...]``; padded steps have ``dt = 0``: they keep the state."""
        v = jnp.pad(v, [(0, 0), (0, chunks * size - steps)] + [(0, 0)] * (v.ndim - 2))
        return jnp.swapaxes(v, 0, 1).reshape(chunks, size, batch, *v.shape[2:])

    y, h = _chunked_scan(*(chunked(v) for v in (dt, x, b, c)), a, chunked(done), h0)
    return jnp.swapaxes(y.reshape(chunks * size, batch, -1), 0, 1)[:, :steps], h
