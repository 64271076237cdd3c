"""Data-parallel scaling: PPO-GRU env steps per second on 1, 2 and 4 devices, with the scaling efficiency.

Usage: python bench/scaling.py [--devices 1 2 4] [--envs 256] [--updates 10]

The same global batch (``--envs`` environments x 128 steps, 4 epochs x 4
minibatches, CartPole-v1, GRU(64) as in bench/ppo.py) is split over each
number of devices: strong scaling. Efficiency is the rate per device relative
to the first row's, ``rate(N) / (N rate(1))`` with the default devices.
On a CPU the devices are forced with
``XLA_FLAGS=--xla_force_host_platform_device_count=4`` (set here before JAX
starts) and share the machine's cores, so there the table measures the cost
of partitioning, not a speed-up; on several GPUs it measures the speed-up.
"""

from __future__ import annotations

import argparse
import os
import platform

if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=4".strip()

import jax  # noqa: E402
import optax  # noqa: E402
from flax import nnx  # noqa: E402
from training_rate import training_rate  # noqa: E402

from memorax.algorithms import PPO, PPOConfig  # noqa: E402
from memorax.environments import make  # noqa: E402
from memorax.networks import MLP, RNN, FeatureExtractor, Network, SequenceModelWrapper, heads  # noqa: E402
from memorax.parallel import data_mesh  # noqa: E402


def ppo_on(devices: int, num_envs: int) -> PPO:
    env, params = make("gymnax::CartPole-v1")

    def network(head, seed):
        torso = SequenceModelWrapper(RNN(nnx.GRUCell(64, 64, rngs=nnx.Rngs(seed))))
        return Network(FeatureExtractor(observation_extractor=MLP(features=(64,))), torso, head)

    config = PPOConfig(num_envs=num_envs, num_steps=128, num_epochs=4, num_minibatches=4)
    actor, critic = network(heads.Categorical(2), 0), network(heads.VNetwork(), 1)
    return PPO(config, env, params, actor, critic, optax.adam(2.5e-4), mesh=data_mesh(devices))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--envs", type=int, default=256)
    parser.add_argument("--updates", type=int, default=10)
    args = parser.parse_args()
    device = jax.devices()[0]
    print(
        f"# {len(jax.devices())} x {device.device_kind}, {os.cpu_count()} cores, {platform.machine()}, jax {jax.__version__}; "
        f"PPO-GRU, {args.envs} envs x 128 steps, {args.updates} updates per call"
    )
    print("| devices | envs per device | compile s | train env steps/s | efficiency |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    first_per_device = None
    for devices in args.devices:
        agent = ppo_on(devices, args.envs)
        compile_seconds, rate = training_rate(agent, args.updates * agent.config.rollout_size)
        first_per_device = first_per_device or rate / devices
        efficiency = rate / devices / first_per_device
        print(f"| {devices} | {args.envs // devices} | {compile_seconds:.1f} | {rate:,.0f} | {efficiency:.0%} |", flush=True)


if __name__ == "__main__":
    main()
