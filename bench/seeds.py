"""Seeds in one program: aggregate training throughput of PPO-GRU at 1, 8 and 32 seeds.

Usage: python bench/seeds.py [--seeds 1 8 32] [--envs 16] [--intervals 3] [--env memorax::RepeatPrevious-Easy]

The agent is the command line's (``memorax train --seeds S``): PPO, GRU(64),
MLP(64) encoder, ``--envs`` environments per seed and 64 steps per rollout.
For each number of seeds it prints the compile seconds of the vmapped
``train`` (the first interval's excess) and the env steps per second summed
over seeds, measured over ``--intervals`` compiled intervals of 20,480 steps
per seed; the last column is that rate over the rate of one seed.
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import time

import jax

from memorax.training import TrainOptions, build
from memorax.training.run import interval_steps
from memorax.training.seeds import Seeds


def rate(options: TrainOptions, num_seeds: int, intervals: int) -> tuple[float, float]:
    """Compile seconds and aggregate env steps per second of ``num_seeds`` seeds trained at once."""
    steps = interval_steps(options)
    seeds = Seeds(build.agent(options), 0, num_seeds, steps)
    state = seeds.init()
    start = time.perf_counter()
    state, _ = jax.block_until_ready(seeds.train(0, state))
    first = time.perf_counter() - start
    start = time.perf_counter()
    for interval in range(1, intervals + 1):
        state, _ = jax.block_until_ready(seeds.train(interval, state))
    per_interval = (time.perf_counter() - start) / intervals
    return first - per_interval, num_seeds * steps / per_interval


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--envs", type=int, default=16)
    parser.add_argument("--intervals", type=int, default=3)
    parser.add_argument("--env", default="memorax::RepeatPrevious-Easy")
    args = parser.parse_args()
    options = TrainOptions(env=args.env, log_every=20_480, ppo=dataclasses.replace(TrainOptions.ppo, num_envs=args.envs), logger=())
    print(f"# {jax.devices()[0].device_kind}, {platform.machine()}, jax {jax.__version__}; PPO-GRU on {args.env}, {args.envs} envs per seed")
    print("| seeds | compile s | env steps/s, all seeds | per seed | vs 1 seed |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    single = None
    for num_seeds in args.seeds:
        compile_seconds, aggregate = rate(options, num_seeds, args.intervals)
        single = single or (aggregate if num_seeds == 1 else None)
        ratio = f"{aggregate / single:.2f}x" if single else "-"
        print(f"| {num_seeds} | {compile_seconds:.1f} | {aggregate:,.0f} | {aggregate / num_seeds:,.0f} | {ratio} |", flush=True)


if __name__ == "__main__":
    main()
