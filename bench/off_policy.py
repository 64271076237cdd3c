"""Off-policy training throughput: DQN with an MLP Q-network, and R2D2 (the same DQN with a GRU torso), on CartPole-v1.

Usage: python bench/off_policy.py [--steps 20000]

Every vector step of 8 environments is followed by one update on a batch of
sequences (64 of length 2 for the MLP, 32 of length 24 with burn-in 4 for the
GRU). Prints compile seconds, env steps per second and updates per second,
measured on a second, compiled call.
"""

from __future__ import annotations

import argparse
import platform

import jax
import optax
from flax import nnx

from training_rate import training_rate

from memorax.algorithms import DQN, DQNConfig
from memorax.environments import make
from memorax.networks import MLP, RNN, FeatureExtractor, Network, SequenceModelWrapper, heads

SETTINGS = {
    "DQN, MLP(64, 64)": (None, DQNConfig(num_envs=8, batch_size=64, learning_starts=64)),
    "R2D2, GRU(64)": ("gru", DQNConfig(num_envs=8, batch_size=32, sequence_length=24, burn_in=4, stride=12, learning_starts=256)),
}


def agent_for(torso: str | None, config: DQNConfig) -> DQN:
    env, params = make("gymnax::CartPole-v1")
    body = SequenceModelWrapper(RNN(nnx.GRUCell(64, 64, rngs=nnx.Rngs(0)))) if torso == "gru" else None
    encoder = MLP(features=(64,) if torso else (64, 64))
    network = Network(FeatureExtractor(observation_extractor=encoder), body, heads.DiscreteQNetwork(2))
    return DQN(config, env, params, network, optax.adam(2.5e-4))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000)
    args = parser.parse_args()
    print(f"# {jax.devices()[0].device_kind}, {platform.machine()}, jax {jax.__version__}; {args.steps:,} env steps per call")
    print("| agent | compile s | env steps/s | updates/s |")
    print("| --- | ---: | ---: | ---: |")
    for name, (torso, config) in SETTINGS.items():
        compile_seconds, rate = training_rate(agent_for(torso, config), args.steps)
        print(f"| {name} | {compile_seconds:.1f} | {rate:,.0f} | {rate / config.num_envs:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
