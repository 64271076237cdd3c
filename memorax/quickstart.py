"""`make train`: PPO with a GRU learns RepeatPrevious-Easy, which an MLP cannot.

Trains both agents in jitted chunks, printing after each chunk the steps
done, the chunk's steps per second and the mean return of the episodes finished, then
evaluates both deterministically. The maximum return is 1; random play earns
-0.5. The full command line (`memorax train`) is issue #6.
"""

from __future__ import annotations

import time

import jax
import numpy as np
import optax
from flax import nnx
from rich.console import Console
from rich.table import Table

from memorax.algorithms import PPO, PPOConfig
from memorax.environments import make
from memorax.networks import MLP, RNN, FeatureExtractor, Network, SequenceModelWrapper, heads

ENV_ID = "memorax::RepeatPrevious-Easy"
CONFIG = PPOConfig(num_envs=32, num_steps=64, total_timesteps=400_000, ent_coef=0.0, gamma=0.9)
CHUNKS = 8


def networks(num_actions: int, torso: str) -> tuple[Network, Network]:
    def network(head, seed):
        body = RNN(nnx.GRUCell(64, 64, rngs=nnx.Rngs(seed))) if torso == "gru" else MLP(features=(64,))
        return Network(FeatureExtractor(observation_extractor=MLP(features=(64,))), SequenceModelWrapper(body), head)

    return network(heads.Categorical(num_actions), 0), network(heads.VNetwork(), 1)


def train(torso: str, console: Console, seed: int = 0) -> dict:
    env, params = make(ENV_ID)
    agent = PPO(CONFIG, env, params, *networks(env.num_actions, torso), optax.adam(3e-3))
    state = agent.init(jax.random.key(seed))
    chunk = CONFIG.total_timesteps // CHUNKS
    done = 0
    for i in range(CHUNKS):
        start = time.perf_counter()
        state, metrics = agent.train(jax.random.fold_in(jax.random.key(seed), i), state, chunk)
        returns = np.asarray(metrics["episode_return"])
        steps = int(metrics["env_steps"][-1])
        rate = (steps - done) / (time.perf_counter() - start)
        done = steps
        console.print(
            f"  {torso}: {steps:>8,} steps  {rate:>7,.0f} steps/s"
            f"{' (with compilation)' if i == 0 else ''}  mean return {np.nanmean(returns):+.3f}"
        )
    return agent.evaluate(jax.random.key(seed + 1), state, num_episodes=64)


def main() -> None:
    console = Console()
    console.print(f"PPO on {ENV_ID}: name the suit shown 3 cards ago (max return 1, random -0.5).")
    table = Table("torso", "evaluation return (mean ± std over 64 episodes)")
    for torso in ("gru", "mlp"):
        result = train(torso, console)
        table.add_row(torso, f"{result['mean_return']:+.3f} ± {result['std_return']:.3f}")
    console.print(table)


if __name__ == "__main__":
    main()
