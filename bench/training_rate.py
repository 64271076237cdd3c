"""Timing an agent's jitted ``train``: compilation seconds and environment steps per second once compiled."""

from __future__ import annotations

import time

import jax


def training_rate(agent, steps: int) -> tuple[float, float]:
    """Trains ``steps`` twice from ``agent.init``; the second call, compiled, gives the rate.

    The second call continues from the first one's state, so replay buffers
    are past their warm-up. Compile seconds are the first call's excess.
    """
    state = agent.init(jax.random.key(0))
    start = time.perf_counter()
    state, _ = jax.block_until_ready(agent.train(jax.random.key(1), state, steps))
    first = time.perf_counter() - start
    start = time.perf_counter()
    jax.block_until_ready(agent.train(jax.random.key(2), state, steps))
    second = time.perf_counter() - start
    return first - second, steps / second
