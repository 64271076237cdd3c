"""Forward+backward time of each sequence model: whole-sequence (parallel) path vs the step loop.

Usage: python bench/sequence_models.py [--batch 16] [--time 1024] [--features 64] [--repeats 5] [--models GRU MinGRU ...]

For each model it prints the milliseconds of one jitted forward+backward pass
over ``[batch, time, features]`` inputs with episode resets, done (a) in one
call, which uses linear_recurrence for MinGRU/MinLSTM/S5/LRU (a loop over time on a CPU, an associative scan elsewhere), the chunked selective scan for Mamba, ``lax.scan`` for the
RNNs and masked attention for SelfAttention, and (b) as a ``lax.scan`` of
``time`` single-step calls threading the carry, the way an agent acts. It also
prints compile seconds, the ratio loop / parallel and XLA's temporary
memory for each compiled pass (the peak working set beyond inputs and outputs).
"""

from __future__ import annotations

import argparse
import platform
import time

import jax
import jax.numpy as jnp
from flax import nnx

from memorax.networks import RNN, SequenceModelWrapper, init
from memorax.networks.sequence_models import (
    FFM,
    LRU,
    MLSTM,
    S5,
    SLSTM,
    DeltaNet,
    GatedDeltaNet,
    LinearAttention,
    Mamba,
    Mamba2,
    MinGRU,
    MinLSTM,
    SelfAttention,
)


def models(features: int) -> dict:
    return {
        "LSTM": lambda: RNN(nnx.LSTMCell(features, features, rngs=nnx.Rngs(0))),
        "GRU": lambda: RNN(nnx.GRUCell(features, features, rngs=nnx.Rngs(0))),
        "MinGRU": lambda: MinGRU(features),
        "MinLSTM": lambda: MinLSTM(features),
        "Mamba": lambda: Mamba(hidden_dim=features),
        "Mamba2": lambda: Mamba2(features),
        "S5": lambda: S5(hidden_dim=features, state_dim=features),
        "LRU": lambda: LRU(hidden_dim=features),
        "SelfAttention": lambda: SelfAttention(num_heads=4, head_dim=features // 4),
        "LinearAttention": lambda: LinearAttention(num_heads=4, head_dim=features // 4),
        "FFM": lambda: FFM(features),
        "DeltaNet": lambda: DeltaNet(num_heads=4, head_dim=features // 4),
        "GatedDeltaNet": lambda: GatedDeltaNet(num_heads=4, head_dim=features // 4),
        "MLSTM": lambda: MLSTM(features),
        "SLSTM": lambda: SLSTM(features),
    }


def parallel_loss(model, inputs, done):
    _, outputs = model(inputs, done)
    return jnp.mean(outputs**2)


def loop_loss(model, inputs, done):
    def step(carry, xs):
        x, d = xs
        carry, y = model(x[:, None], d[:, None], carry)
        return carry, y[:, 0]

    carry = model.initialize_carry(inputs.shape[0])
    _, outputs = jax.lax.scan(step, carry, (jnp.swapaxes(inputs, 0, 1), jnp.swapaxes(done, 0, 1)))
    return jnp.mean(outputs**2)


def timed(loss, model, inputs, done, repeats: int) -> tuple[float, float, float]:
    """(compile seconds, median milliseconds, XLA temporary memory in MiB) of a jitted forward+backward pass."""
    graphdef, params = nnx.split(model)

    @jax.jit
    def grad(params, inputs, done):
        return jax.grad(lambda p: loss(nnx.merge(graphdef, p), inputs, done))(params)

    start = time.perf_counter()
    compiled = grad.lower(params, inputs, done).compile()
    compile_seconds = time.perf_counter() - start
    memory = compiled.memory_analysis().temp_size_in_bytes / 2**20
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(compiled(params, inputs, done))
        times.append(time.perf_counter() - start)
    return compile_seconds, 1000 * sorted(times)[len(times) // 2], memory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--time", type=int, default=1024)
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--models", nargs="+", help="only these models (default: all)")
    args = parser.parse_args()

    key_inputs, key_done = jax.random.split(jax.random.key(0))
    inputs = jax.random.normal(key_inputs, (args.batch, args.time, args.features))
    done = jax.random.bernoulli(key_done, 0.01, (args.batch, args.time)).at[:, 0].set(True)
    print(f"# {jax.devices()[0].device_kind}, {platform.processor() or platform.machine()}, jax {jax.__version__}")
    print(f"# [batch {args.batch}, time {args.time}, features {args.features}], forward+backward, median of {args.repeats}")
    print("| model | parallel ms | loop ms | loop / parallel | compile s (parallel, loop) | temp MiB (parallel, loop) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, make in models(args.features).items():
        if args.models and name not in args.models:
            continue
        model = SequenceModelWrapper(make())
        init(model, 0, inputs[:, :2], done[:, :2])
        compile_parallel, parallel_ms, memory_parallel = timed(parallel_loss, model, inputs, done, args.repeats)
        compile_loop, loop_ms, memory_loop = timed(loop_loss, model, inputs, done, args.repeats)
        print(
            f"| {name} | {parallel_ms:.1f} | {loop_ms:.1f} | {loop_ms / parallel_ms:.2f}x | "
            f"{compile_parallel:.1f}, {compile_loop:.1f} | {memory_parallel:.0f}, {memory_loop:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
