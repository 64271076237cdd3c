"""The diagonal linear recurrence's two whole-sequence paths, forward+backward: associative scan vs loop over time.

Usage: python bench/linear_recurrence.py [--repeats 7]

``linear_recurrence`` (S5, LRU, MinGRU, MinLSTM, FFM's and LinearAttention's
chunk ends) runs ``h_t = a_t h_{t-1} + b_t`` with resets as a ``lax.scan``
over time when jax's default backend is the CPU and as an associative scan
elsewhere. This prints the milliseconds of one jitted gradient through its
written backward pass with each path, median of ``--repeats`` calls after
compiling, at shapes from RL minibatches to memax's bench, with 1% resets.
"""

from __future__ import annotations

import argparse
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np

from memorax.networks.sequence_models import linear_recurrence as module

SHAPES = [((4, 128, 64), jnp.complex64), ((32, 24, 64), jnp.complex64), ((16, 1024, 64), jnp.float32),
          ((4, 128, 128), jnp.float32), ((128, 64, 128), jnp.float32)]  # fmt: skip


def gradient_ms(scan, shape: tuple[int, int, int], dtype, repeats: int) -> float:
    """Milliseconds of the recurrence's gradient with ``scan`` as its path (both the forward and the backward scan)."""
    keys = jax.random.split(jax.random.key(0), 3)
    a = (jnp.exp(-0.05 * jax.random.uniform(keys[0], shape))).astype(dtype)
    b = jax.random.normal(keys[1], shape).astype(dtype)
    done = (jax.random.uniform(keys[2], shape[:2]) < 0.01).at[:, 0].set(True)
    h0 = jnp.zeros((shape[0], shape[2]), dtype)
    module._scan = scan  # the path linear_recurrence's forward and backward passes take, chosen here
    gradient = jax.jit(jax.grad(lambda a, b: jnp.sum(jnp.abs(module.linear_recurrence(a, b, done, h0)) ** 2), argnums=(0, 1)))
    jax.block_until_ready(gradient(a, b))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(gradient(a, b))
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    chosen = module._scan
    path = "loop over time" if jax.default_backend() == "cpu" else "associative scan"
    print(f"# {jax.devices()[0].device_kind}, {platform.machine()}, jax {jax.__version__}; the path taken here: {path}")
    print("| [B, T, state] | associative scan ms | loop over time ms | associative / loop |")
    print("| --- | ---: | ---: | ---: |")
    for shape, dtype in SHAPES:
        associative = gradient_ms(module.associative_scan, shape, dtype, args.repeats)
        sequential = gradient_ms(module.sequential_scan, shape, dtype, args.repeats)
        name = f"{list(shape)} {jnp.dtype(dtype).name}"
        print(f"| {name} | {associative:.2f} | {sequential:.2f} | {associative / sequential:.2f}x |", flush=True)
    module._scan = chosen


if __name__ == "__main__":
    main()
