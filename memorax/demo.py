"""``python -m memorax.demo``: every built-in torso learns a memory task.

The task is supervised and needs memory: each step shows one of ``symbols``
one-hot observations and the target is the symbol shown ``lag`` steps earlier
in the same episode. Episodes start at random steps (``done``), so a torso that
leaks memory across episode starts is wrong on the first ``lag`` steps of
every episode; those steps are left out of the loss and the score. An MLP
torso can only guess (accuracy about ``1 / symbols``); every memory torso
should get close to 1.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax
from flax import nnx
from rich.console import Console
from rich.table import Table

from memorax.networks import MLP, RNN, FeatureExtractor, Network, SequenceModelWrapper, heads
from memorax.networks.blocks import FFN, PreNorm, Residual, Stack
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

SYMBOLS, LAG, BATCH, TIME, HIDDEN = 4, 2, 32, 32, 64

TORSOS: dict[str, Callable[[], nnx.Module]] = {
    "mlp (no memory)": lambda: MLP(features=(HIDDEN,)),
    "lstm": lambda: RNN(nnx.LSTMCell(HIDDEN, HIDDEN, rngs=nnx.Rngs(0))),
    "gru": lambda: RNN(nnx.GRUCell(HIDDEN, HIDDEN, rngs=nnx.Rngs(0))),
    "mamba": lambda: Mamba(hidden_dim=HIDDEN),
    "s5": lambda: S5(hidden_dim=HIDDEN, state_dim=HIDDEN),
    "lru": lambda: LRU(hidden_dim=HIDDEN),
    "mingru": lambda: MinGRU(HIDDEN),
    "minlstm": lambda: MinLSTM(HIDDEN),
    "ffm": lambda: FFM(HIDDEN),
    "mamba2": lambda: Mamba2(HIDDEN),
    "mlstm": lambda: MLSTM(HIDDEN),
    "slstm": lambda: SLSTM(HIDDEN),
    "linear attention": lambda: LinearAttention(num_heads=4, head_dim=16),
    "deltanet": lambda: DeltaNet(num_heads=4, head_dim=16),
    "gated deltanet": lambda: GatedDeltaNet(num_heads=4, head_dim=16),
    "attention": lambda: SelfAttention(num_heads=4, head_dim=16, context_length=8),
    "stack": lambda: Stack(
        blocks=[PreNorm(Residual(SelfAttention(num_heads=4, head_dim=16, context_length=8))), PreNorm(Residual(FFN(hidden_dim=128)))]
    ),
}


def batch(key: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """Observations ``[B, T, SYMBOLS]``, done ``[B, T]``, targets ``[B, T]`` and the mask of scored steps."""
    symbol_key, done_key = jax.random.split(key)
    symbols = jax.random.randint(symbol_key, (BATCH, TIME), 0, SYMBOLS)
    done = jax.random.bernoulli(done_key, 0.1, (BATCH, TIME)).at[:, 0].set(True)
    episode_start = jax.lax.cummax(jnp.where(done, jnp.arange(TIME), 0), axis=1)
    scored = jnp.arange(TIME) - LAG >= episode_start
    targets = jnp.roll(symbols, LAG, axis=1)
    return jax.nn.one_hot(symbols, SYMBOLS), done, targets, scored


def loss_and_accuracy(network: Network, observation, done, targets, scored):
    _, policy = network(observation, done)
    loss = -jnp.sum(policy.log_prob(targets) * scored) / scored.sum()
    accuracy = jnp.sum((policy.mode() == targets) * scored) / scored.sum()
    return loss, accuracy


def train(torso: nnx.Module, steps: int, seed: int = 0) -> tuple[float, float, int]:
    """Trains one torso; returns (compile seconds, final accuracy, parameter count)."""
    network = Network(FeatureExtractor(observation_extractor=MLP(features=(HIDDEN,))), SequenceModelWrapper(torso), heads.Categorical(SYMBOLS))
    key = jax.random.key(seed)
    network.init(seed, *batch(key)[:2])
    optimizer = nnx.Optimizer(network, optax.adam(3e-3), wrt=nnx.Param)

    @nnx.jit
    def update(network, optimizer, key):
        grad_fn = nnx.value_and_grad(lambda n: loss_and_accuracy(n, *batch(key)), has_aux=True)
        (_, accuracy), grads = grad_fn(network)
        optimizer.update(network, grads)
        return accuracy

    start = time.perf_counter()
    update(network, optimizer, key).block_until_ready()
    compile_seconds = time.perf_counter() - start
    for step in range(steps):
        update(network, optimizer, jax.random.fold_in(key, step))
    _, accuracy = loss_and_accuracy(network, *batch(jax.random.key(seed + 1)))
    parameters = sum(x.size for x in jax.tree.leaves(nnx.state(network, nnx.Param)))
    return compile_seconds, float(accuracy), parameters


def main(steps: int = 400) -> None:
    console = Console()
    console.print(
        f"Recall the symbol seen {LAG} steps ago ({SYMBOLS} symbols, episodes restart at random): "
        f"{steps} Adam steps on {BATCH}x{TIME} sequences per torso."
    )
    table = Table("torso", "parameters", "compile s", "train s", "accuracy")
    for name, make in TORSOS.items():
        start = time.perf_counter()
        compile_seconds, accuracy, parameters = train(make(), steps)
        total = time.perf_counter() - start
        table.add_row(name, f"{parameters:,}", f"{compile_seconds:.1f}", f"{total - compile_seconds:.1f}", f"{accuracy:.3f}")
        console.print(f"  {name}: accuracy {accuracy:.3f}")
    console.print(table)


if __name__ == "__main__":
    main()
