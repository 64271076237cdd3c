"""The depthwise causal convolution of Mamba, Mamba2, the xLSTM block, DeltaNet and GatedDeltaNet, restarted at episode starts."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def causal_conv(
    x: jax.Array, done: jax.Array, state: jax.Array, kernel: jax.Array, bias: jax.Array | None = None
) -> tuple[jax.Array, jax.Array]:
    """``y_t = b + Σ_{j<K} w_{K-1-j} ⊙ x_{t-j}``, each channel alone, over the inputs of the current episode only.

    ``x [B, T, D]``; ``done [B, T]``; ``state [B, K-1, D]``, the previous call's
    last ``K - 1`` inputs (zero where they belong to an earlier episode);
    ``kernel [K, D]``, ``bias [D]`` or None for none. Returns ``y [B, T, D]`` and the next state.
    """
    k, t = kernel.shape[0], x.shape[1]
    window = jnp.concatenate([state, x], axis=1)
    steps = jnp.arange(t)
    # Index of the latest episode start at or before each step; -k when none
    # falls in this call, so that the stored inputs stay visible.
    start = jax.lax.cummax(jnp.where(done, steps, -k), axis=1)
    out = jnp.zeros_like(x)
    for lag in range(k):
        visible = (steps - lag >= start)[..., None]
        shifted = window[:, k - 1 - lag : k - 1 - lag + t]
        out = out + jnp.where(visible, shifted, 0) * kernel[k - 1 - lag]
    times = jnp.arange(t - k + 1, t)
    keep = (times[None, :] >= start[:, -1:])[..., None]
    return out if bias is None else out + bias, jnp.where(keep, window[:, t:], 0)
