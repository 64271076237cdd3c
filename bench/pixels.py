"""PPO on pixels: the CNN's gradient as memorax writes it against the one JAX derives, inside PPO's jitted ``train``.

Usage: python bench/pixels.py [--envs 4] [--updates 2]

PPO as ``memorax train --env popgym_arcade::CountRecallEasy-Partial`` builds it (128 x 128 x 3 images,
the Nature CNN, a GRU), 32 steps per rollout, 4 epochs x 2 minibatches. ``jax`` swaps the CNN's
convolution for ``lax.conv_general_dilated`` and its derived gradient, which XLA:CPU runs slowly
inside loops (see ``memorax.networks.cnn.convolve``). Prints compile seconds and env steps per second.

A second table times the cause alone: the Nature CNN's forward and backward pass on 32 images of
128 x 128 x 3, twice, at a program's top level and as the two steps of a ``lax.scan``, with each gradient.
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import time

import jax
import jax.numpy as jnp
from jax import lax
from training_rate import training_rate

from memorax.networks import cnn
from memorax.training import TrainOptions, build

ENV = "popgym_arcade::CountRecallEasy-Partial"


def lax_convolve(inputs, kernel, window_strides, padding, *, precision=None, **_):
    return lax.conv_general_dilated(inputs, kernel, window_strides, padding, dimension_numbers=cnn.NHWC, precision=precision)


def nature_cnn_gradient_seconds(convolve, in_scan: bool) -> float:
    """Seconds of the Nature CNN's gradient on two batches of 32 images, at the top level or inside a scan."""
    layers = [(3, 32, 8, 4), (32, 64, 4, 2), (64, 64, 3, 1)]
    keys = jax.random.split(jax.random.key(0), len(layers) + 1)
    kernels = [0.05 * jax.random.normal(key, (k, k, c_in, c_out)) for key, (c_in, c_out, k, _) in zip(keys, layers)]
    images = jax.random.uniform(keys[-1], (2, 32, 128, 128, 3))

    def loss(kernels, x):
        for kernel, (_, _, _, stride) in zip(kernels, layers):
            x = jax.nn.relu(convolve(x, kernel, (stride, stride), "VALID"))
        return jnp.sum(x**2)

    def gradients(kernels, images):
        if in_scan:
            return jax.lax.scan(lambda _, batch: (None, jax.grad(loss)(kernels, batch)), None, images)[1]
        return [jax.grad(loss)(kernels, batch) for batch in images]

    run = jax.jit(gradients)
    jax.block_until_ready(run(kernels, images))
    start = time.perf_counter()
    for _ in range(3):
        jax.block_until_ready(run(kernels, images))
    return (time.perf_counter() - start) / 3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", type=int, nargs="+", default=[4])
    parser.add_argument("--updates", type=int, default=2)
    args = parser.parse_args()
    device = jax.devices()[0].device_kind
    print(f"# {device}, {platform.machine()}, jax {jax.__version__}; {ENV}, {args.updates} updates per call")
    print("| envs x steps | gradient | compile s | train env steps/s |")
    print("| --- | --- | ---: | ---: |")
    ours = cnn.convolve
    for num_envs in args.envs:
        rates = {}
        for gradient, convolve in (("jax", lax_convolve), ("memorax", ours)):
            cnn.convolve = convolve  # read when the CNN builds its convolutions
            ppo = dataclasses.replace(TrainOptions.ppo, num_envs=num_envs, num_steps=32, num_epochs=4, num_minibatches=2)
            agent = build.agent(TrainOptions(env=ENV, ppo=ppo))
            compile_seconds, rates[gradient] = training_rate(agent, args.updates * agent.config.rollout_size)
            print(f"| {num_envs} x 32 | {gradient} | {compile_seconds:.1f} | {rates[gradient]:,.0f} |", flush=True)
        print(f"| {num_envs} x 32 | speed-up | | {rates['memorax'] / rates['jax']:.1f}x |", flush=True)
    cnn.convolve = ours
    print()
    print("| Nature CNN's gradient, 2 x 32 images | top level, s | inside lax.scan, s |")
    print("| --- | ---: | ---: |")
    for gradient, convolve in (("jax", lax_convolve), ("memorax", ours)):
        top, scanned = (nature_cnn_gradient_seconds(convolve, in_scan) for in_scan in (False, True))
        print(f"| {gradient} | {top:.3f} | {scanned:.3f} |", flush=True)


if __name__ == "__main__":
    main()
