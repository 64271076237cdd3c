"""PPO (or PQN) training throughput: GRU(64) torso, MLP(64) encoder, CartPole-v1, 4 epochs x 4 minibatches.

Usage: python bench/ppo.py [--algorithm ppo|pqn] [--envs 16 256] [--updates 20] [--cell gru|lstm] [--sharing separate shared]

For each number of environments (128 steps each per rollout) it prints the
compile seconds of the jitted ``train`` and the env steps per second of
training (acting, targets and updates), measured on a second call once
compiled. PQN runs the same network with a Q head and LayerNorm in the encoder.
With ``--sharing shared`` PPO's actor and critic share one encoder and one
torso (the guide's parameter sharing), which PPO runs once for both heads;
``separate`` gives each its own.
"""

from __future__ import annotations

import argparse
import platform

import jax
import optax
from flax import nnx
from training_rate import training_rate

from memorax.algorithms import PPO, PQN, PPOConfig, PQNConfig
from memorax.environments import make
from memorax.networks import MLP, RNN, FeatureExtractor, Network, SequenceModelWrapper, heads


def agent_for(algorithm: str, num_envs: int, cell: str = "gru", shared: bool = False) -> PPO | PQN:
    env, params = make("gymnax::CartPole-v1")
    cells = {"gru": nnx.GRUCell, "lstm": nnx.LSTMCell}

    def body(seed):
        torso = SequenceModelWrapper(RNN(cells[cell](64, 64, rngs=nnx.Rngs(seed))))
        return FeatureExtractor(observation_extractor=MLP(features=(64,), layer_norm=algorithm == "pqn")), torso

    shape = dict(num_envs=num_envs, num_steps=128, num_epochs=4, num_minibatches=4)
    if algorithm == "pqn":
        return PQN(PQNConfig(**shape), env, params, Network(*body(0), heads.DiscreteQNetwork(2)), optax.radam(2.5e-4))
    actor_body = body(0)
    critic_body = actor_body if shared else body(1)
    actor, critic = Network(*actor_body, heads.Categorical(2)), Network(*critic_body, heads.VNetwork())
    return PPO(PPOConfig(**shape), env, params, actor, critic, optax.adam(2.5e-4))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algorithm", choices=["ppo", "pqn"], default="ppo")
    parser.add_argument("--envs", type=int, nargs="+", default=[16, 256])
    parser.add_argument("--updates", type=int, default=20)
    parser.add_argument("--cell", choices=["gru", "lstm"], default="gru")
    parser.add_argument("--sharing", choices=["separate", "shared"], nargs="+", default=["separate"])
    args = parser.parse_args()
    print(f"# {jax.devices()[0].device_kind}, {platform.machine()}, jax {jax.__version__}; {args.algorithm}, {args.cell}, {args.updates} updates per call")
    print("| envs x steps | torso | compile s | train env steps/s |")
    print("| --- | --- | ---: | ---: |")
    for num_envs in args.envs:
        for sharing in args.sharing if args.algorithm == "ppo" else ["one network"]:
            agent = agent_for(args.algorithm, num_envs, args.cell, sharing == "shared")
            compile_seconds, rate = training_rate(agent, args.updates * agent.config.rollout_size)
            print(f"| {num_envs} x 128 | {sharing} | {compile_seconds:.1f} | {rate:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
