"""Seeds in one program: aggregate training throughput of PPO-GRU at 1, 8 and 32 seeds.

Usage: python bench/seeds.py [--seeds 1 8 32] [--envs 16] [--intervals 3] [--env memorax::RepeatPrevious-Easy]

The agent is the command line's (``memorax train --seeds S``): PPO, GRU(64),
MLP(64) encoder, ``--envs`` environments per seed and 64 steps per rollout.
For each number of seeds it prints the compile seconds of the vmapped
``train`` (the first interval's excess) and the env steps per second summed
over seeds, measured over ``--intervals`` compiled intervals of 20,480 steps
per seed; the last column is that rate over the rate of one seed. Each
number of seeds runs on one device, and, where the devices divide it, split
over all of them (``--seed-devices``, one device a row). On a CPU this
script makes one device per core it may run on (``--xla_force_host_platform_device_count``),
so the split seeds run on every core.

A second table times what the seeds' networks are made of, alone: a scan of 64 steps of the gradient of
three dense 64 x 64 layers on 16 rows, each seed with its own weights (``jax.vmap``), per seed. Where
it stays flat, the small matrix products already run at their full rate for one seed, and batching
seeds can only save the per-operation overhead around them.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import time

if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):  # before JAX starts
    cores = len(os.sched_getaffinity(0))
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={cores}".strip()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from memorax.training import TrainOptions, build  # noqa: E402
from memorax.training.seeds import Seeds  # noqa: E402


def rate(options: TrainOptions, intervals: int) -> tuple[float, float]:
    """Compile seconds and aggregate env steps per second of ``options.seeds`` seeds trained at once."""
    steps = options.interval_steps
    seeds = Seeds(build.agent(options), 0, options.seeds, steps)
    state = seeds.init()
    start = time.perf_counter()
    state, _ = jax.block_until_ready(seeds.train(0, state))
    first = time.perf_counter() - start
    start = time.perf_counter()
    for interval in range(1, intervals + 1):
        state, _ = jax.block_until_ready(seeds.train(interval, state))
    per_interval = (time.perf_counter() - start) / intervals
    return first - per_interval, options.seeds * steps / per_interval


def dense_layers_time(num_seeds: int, rows: int = 16, width: int = 64, steps: int = 64) -> float:
    """Seconds per seed of a scan of ``steps`` gradient steps of three dense layers, the seeds' weights vmapped."""

    def loss(weights, x):
        for w in weights:
            x = jnp.tanh(x @ w)
        return jnp.sum(x**2)

    def descend(weights, x):
        return jax.tree.map(lambda w, g: w - 1e-3 * g, weights, jax.vmap(jax.grad(loss))(weights, x)), None

    keys = jax.random.split(jax.random.key(0), 4)
    weights = [0.1 * jax.random.normal(key, (num_seeds, width, width)) for key in keys[:3]]
    inputs = jax.random.normal(keys[3], (steps, num_seeds, rows, width))
    run = jax.jit(lambda weights, inputs: jax.lax.scan(descend, weights, inputs)[0])
    jax.block_until_ready(run(weights, inputs))
    start = time.perf_counter()
    for _ in range(20):
        jax.block_until_ready(run(weights, inputs))
    return (time.perf_counter() - start) / 20 / num_seeds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--envs", type=int, default=16)
    parser.add_argument("--intervals", type=int, default=3)
    parser.add_argument("--env", default="memorax::RepeatPrevious-Easy")
    args = parser.parse_args()
    options = TrainOptions(
        env=args.env, log_every=20_480, ppo=dataclasses.replace(TrainOptions.ppo, num_envs=args.envs), logger=(), devices=1
    )
    devices = jax.device_count()
    print(f"# {jax.devices()[0].device_kind} x {devices}, {platform.machine()}, jax {jax.__version__}; "
          f"PPO-GRU on {args.env}, {args.envs} envs per seed")  # fmt: skip
    print("| seeds | seed devices | compile s | env steps/s, all seeds | per seed | vs 1 seed |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    single = None
    for num_seeds in args.seeds:
        for rows in sorted({1, devices}):
            if num_seeds % rows:
                continue
            compile_seconds, aggregate = rate(dataclasses.replace(options, seeds=num_seeds, seed_devices=rows), args.intervals)
            single = single or (aggregate if num_seeds == 1 else None)
            ratio = f"{aggregate / single:.2f}x" if single else "-"
            row = f"| {num_seeds} | {rows} | {compile_seconds:.1f} | {aggregate:,.0f} | {aggregate / num_seeds:,.0f} | {ratio} |"
            print(row, flush=True)
    print()
    print("| seeds | dense layers' gradient, 64 steps, ms per seed |")
    print("| ---: | ---: |")
    for num_seeds in args.seeds:
        print(f"| {num_seeds} | {dense_layers_time(num_seeds) * 1e3:.2f} |", flush=True)


if __name__ == "__main__":
    main()
