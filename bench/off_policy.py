"""Off-policy training throughput: DQN and R2D2 on CartPole-v1, SAC on Pendulum-v1, each with an MLP and with a GRU torso.

Usage: python bench/off_policy.py [--steps 20000]

Every vector step of 8 environments is followed by one update on a batch of
sequences: for the MLPs, 64 (DQN) or 256 (SAC) sequences of length 2; for
the GRUs, 32 sequences of length 24 (DQN, burn-in 4) or 12 (SAC, burn-in 4).
Prints compile seconds, env steps per second and updates per second,
measured on a second, compiled call.
"""

from __future__ import annotations

import argparse
import platform

import jax
import optax
from flax import nnx
from training_rate import training_rate

from memorax.algorithms import DQN, SAC, DQNConfig, SACConfig
from memorax.environments import make
from memorax.networks import MLP, RNN, FeatureExtractor, Network, SequenceModelWrapper, heads

SEQUENCES = dict(batch_size=32, burn_in=4)
SETTINGS = {
    "DQN, MLP(64, 64)": ("dqn", None, DQNConfig(num_envs=8, batch_size=64, learning_starts=64)),
    "R2D2, GRU(64)": ("dqn", "gru", DQNConfig(num_envs=8, sequence_length=24, stride=12, learning_starts=256, **SEQUENCES)),
    "SAC, MLP(64, 64)": ("sac", None, SACConfig(num_envs=8, learning_starts=64)),
    "SAC, GRU(64)": ("sac", "gru", SACConfig(num_envs=8, sequence_length=12, stride=4, learning_starts=256, **SEQUENCES)),
}


def network(torso: str | None, head, seed: int = 0) -> Network:
    body = SequenceModelWrapper(RNN(nnx.GRUCell(64, 64, rngs=nnx.Rngs(seed)))) if torso == "gru" else None
    encoder = MLP(features=(64,) if torso else (64, 64))
    return Network(FeatureExtractor(observation_extractor=encoder), body, head)


def agent_for(algorithm: str, torso: str | None, config: DQNConfig | SACConfig) -> DQN | SAC:
    if algorithm == "dqn":
        env, params = make("gymnax::CartPole-v1")
        return DQN(config, env, params, network(torso, heads.DiscreteQNetwork(2)), optax.adam(2.5e-4))
    env, params = make("gymnax::Pendulum-v1")
    actor, critic = network(torso, heads.SquashedGaussian(1)), network(torso, heads.ContinuousQNetwork(features=(64,)), seed=1)
    return SAC(config, env, params, actor, critic, optax.adam(1e-3))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000)
    args = parser.parse_args()
    print(f"# {jax.devices()[0].device_kind}, {platform.machine()}, jax {jax.__version__}; {args.steps:,} env steps per call")
    print("| agent | compile s | env steps/s | updates/s |")
    print("| --- | ---: | ---: | ---: |")
    for name, (algorithm, torso, config) in SETTINGS.items():
        compile_seconds, rate = training_rate(agent_for(algorithm, torso, config), args.steps)
        print(f"| {name} | {compile_seconds:.1f} | {rate:,.0f} | {rate / config.num_envs:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
