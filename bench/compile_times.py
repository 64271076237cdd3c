"""Compile seconds of every algorithm's ``train`` with every torso kind, at the command line's defaults.

Usage: python bench/compile_times.py [--algorithms ppo pqn dqn sac] [--kinds gru lstm ...]

Each agent is built as ``memorax train`` builds it (``--env`` default,
``--torso.hidden 64``), initialised, and its ``train`` called twice for one
rollout's steps; the compile seconds are the first call's excess over the
second's. Prints a table, one row per torso kind and one column per algorithm;
a cell whose agent raises a ValueError (a replay too large for this machine)
shows the error's first clause.
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import typing

import jax
from training_rate import training_rate

from memorax.training import build
from memorax.training.options import TorsoKind, TorsoOptions, TrainOptions


def main() -> None:
    kinds = list(typing.get_args(TorsoKind))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algorithms", nargs="+", default=["ppo", "pqn", "dqn", "sac"])
    parser.add_argument("--kinds", nargs="+", default=kinds, choices=kinds)
    args = parser.parse_args()
    print(f"# {jax.devices()[0].device_kind}, {platform.machine()}, jax {jax.__version__}; {TrainOptions.env}, compile seconds of train")
    print("| torso | " + " | ".join(args.algorithms) + " |")
    print("| --- |" + " ---: |" * len(args.algorithms))
    for kind in args.kinds:
        cells = []
        for algorithm in args.algorithms:
            options = dataclasses.replace(TrainOptions(), algorithm=algorithm, torso=TorsoOptions(kind=kind))
            try:
                agent = build.agent(options)
                compile_seconds, _ = training_rate(agent, agent.config.rollout_size)
            except ValueError as error:  # e.g. a replay of attention caches too large for this machine
                cells.append(f"refused: {str(error).split(';')[0]}")
                continue
            cells.append(f"{compile_seconds:.1f}")
        print(f"| {kind} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
