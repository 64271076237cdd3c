"""memorax's R2D2 and recurrent SAC next to the original memorax 1.0.1's, same settings, one run.

Usage: python bench/peers_off_policy.py [--steps 20000]

memorax 1.0.1 runs in its own venv, made by ``../shared/anchors/setup_memorax_1_0_1.sh``
(flax linen, gymnax 0.0.9); it is never a dependency of memorax. Both sides
train 8 environments with one update after every vector step, a Dense(64)
encoder and a GRU(64): R2D2 on ``CartPole-v1`` with 32 sequences of 24 steps
(burn-in 4), SAC on ``Pendulum-v1`` with 32 sequences of 12 steps (burn-in 4);
memorax's side is ``bench/off_policy.py``'s rows. Each side times a second,
compiled call of ``--steps`` env steps. ``../shared/anchors/memorax_1_0_1_off_policy.py``
is 1.0.1's side; its docstring lists what its API could not match (its SAC
needs a reshape of the critic's output to train on sequences at all).
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
from pathlib import Path

import jax
from off_policy import SETTINGS, agent_for
from training_rate import training_rate

ANCHORS = Path(__file__).resolve().parents[2] / "shared" / "anchors"
ROWS = {"R2D2": "R2D2, GRU(64)", "SAC": "SAC, GRU(64)"}


def anchor_rates(steps: int) -> dict[str, str]:
    """memorax 1.0.1's env steps/s per algorithm, or why it failed."""
    venv = subprocess.run(["bash", str(ANCHORS / "setup_memorax_1_0_1.sh")], capture_output=True, text=True, check=True)
    python = str(Path(venv.stdout.strip().splitlines()[-1]) / "bin" / "python")
    script = [python, str(ANCHORS / "memorax_1_0_1_off_policy.py"), str(steps)]
    printed = subprocess.run(script, capture_output=True, text=True, check=True).stdout
    return dict(line.split(" ", 1) for line in printed.splitlines() if line.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000, help="env steps per timed call, on both sides")
    args = parser.parse_args()
    if not (ANCHORS / "memorax_1_0_1_off_policy.py").exists():
        sys.exit(f"memorax 1.0.1's side of this bench lives in {ANCHORS}, which is missing here.")
    theirs = anchor_rates(args.steps)
    print(f"# {jax.devices()[0].device_kind}, {platform.machine()}, jax {jax.__version__}; {args.steps:,} env steps per call")
    print("| agent | memorax 1.0.1 env steps/s | memorax env steps/s | memorax / 1.0.1 | memorax compile s |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, row in ROWS.items():
        compile_seconds, rate = training_rate(agent_for(*SETTINGS[row]), args.steps)
        other = theirs.get(name, "missing")
        try:
            ratio = f"{rate / float(other):.2f}x"
        except ValueError:
            ratio = "-"
        print(f"| {row} | {other} | {rate:,.0f} | {ratio} | {compile_seconds:.1f} |", flush=True)


if __name__ == "__main__":
    main()
