"""memorax's sequence models next to memax 0.1.1's (equinox), forward+backward, in one run.

Usage: python bench/memax_side_by_side.py [--batch 16] [--time 1024] [--features 64]

memax runs in its own venv, made by ``../shared/anchors/setup_memax.sh``; it
is never a dependency of memorax. Both sides time one jitted gradient of
``sum(y**2)`` with respect to the parameters over ``[B, T, H]`` inputs with
1% episode starts (and one at the first step), median of 5 calls after
compilation (``../shared/anchors/memax_models.py`` is memax's side). Sizes
match memax's: FFM with 4 traces × H/4 frequencies, linear attention and the
delta nets with one head of width round(√H) and, as memax's, no convolution
before their queries, keys and values (``conv_width=None``), attention with one head of
width H, a 128-step window and rotary positions. memax's S6 has no
counterpart here (Mamba is S6 inside a block) and is left out.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from memorax.networks import init
from memorax.networks.sequence_models import FFM, GRU, LRU, LSTM, DeltaNet, GatedDeltaNet, LinearAttention, SelfAttention

ANCHORS = Path(__file__).resolve().parents[2] / "shared" / "anchors"


def models(features: int) -> dict:
    width = round(features**0.5)
    return {
        "GRU": lambda: GRU(features),
        "LSTM": lambda: LSTM(features),
        "LRU": lambda: LRU(hidden_dim=features, state_dim=features),
        "FFM": lambda: FFM(features, memory_dim=4, context_dim=features // 4),
        "LinearAttention": lambda: LinearAttention(num_heads=1, head_dim=width, features=features),
        "DeltaNet": lambda: DeltaNet(num_heads=1, head_dim=width, features=features, conv_width=None),
        "GatedDeltaNet": lambda: GatedDeltaNet(num_heads=1, head_dim=width, features=features, conv_width=None),
        "SelfAttention": lambda: SelfAttention(num_heads=1, head_dim=features, context_length=128, features=features),
    }


def memorax_ms(model: nnx.Module, inputs: jax.Array, done: jax.Array) -> float:
    init(model, 0, inputs, done, model.initialize_carry(inputs.shape[0]))
    carry = model.initialize_carry(inputs.shape[0])
    # The arrays are arguments, as on memax's side: closed over, they would be compiled in as constants.
    grad = nnx.jit(nnx.grad(lambda model, inputs, done, carry: jnp.sum(model(inputs, done, carry)[1] ** 2)))
    jax.block_until_ready(grad(model, inputs, done, carry))
    times = []
    for _ in range(5):
        start = time.perf_counter()
        jax.block_until_ready(grad(model, inputs, done, carry))
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def memax_ms(batch: int, steps: int, features: int) -> dict[str, str]:
    """memax's figures from its own venv: ms per model, or why it failed."""
    venv = subprocess.run(["bash", str(ANCHORS / "setup_memax.sh")], capture_output=True, text=True, check=True).stdout.split()[-1]
    run = subprocess.run(
        [f"{venv}/bin/python", str(ANCHORS / "memax_models.py"), str(batch), str(steps), str(features)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return dict(line.split(" ", 1) for line in run.stdout.splitlines() if line.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--time", type=int, default=1024)
    parser.add_argument("--features", type=int, default=64)
    args = parser.parse_args()
    if not (ANCHORS / "memax_models.py").exists():
        sys.exit(f"memax's side of this bench lives in {ANCHORS}, which is missing here.")
    theirs = memax_ms(args.batch, args.time, args.features)
    inputs = jax.random.normal(jax.random.key(0), (args.batch, args.time, args.features))
    done = (jax.random.uniform(jax.random.key(1), (args.batch, args.time)) < 0.01).at[:, 0].set(True)
    print(f"# {jax.devices()[0].device_kind}, {platform.machine()}, jax {jax.__version__}; [{args.batch}, {args.time}, {args.features}]")
    print("| model | memorax ms | memax 0.1.1 ms | memax / memorax |")
    print("| --- | ---: | ---: | ---: |")
    for name, make in models(args.features).items():
        ours = memorax_ms(make(), inputs, done)
        other = theirs.get(name, "missing")
        try:
            ratio = f"{float(other) / ours:.2f}x"
        except ValueError:
            ratio = "-"
        print(f"| {name} | {ours:.1f} | {other} | {ratio} |", flush=True)


if __name__ == "__main__":
    main()
