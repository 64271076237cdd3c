"""memorax's PPO next to purejaxrl's ppo_rnn.py and the original memorax 1.0.1's PPO, same shapes, one run.

Usage: python bench/peers_ppo.py [--updates 64]

The peers run in their own venv, made by ``../shared/anchors/setup_memorax_1_0_1.sh``
(flax linen, gymnax 0.0.9); neither is a dependency of memorax. Each side
reports env steps/s of compiled training on ``gymnax::CartPole-v1`` with
16 environments x 128 steps, 4 epochs x 4 minibatches:

- purejaxrl: a Dense(128) encoder and one GRU(128) shared by actor and
  critic, then a Dense(128) and ReLU in each of the actor's and the critic's
  heads; memorax with the same shapes (an MLP(128) encoder and one GRU(128),
  the guide's parameter sharing, and an MLP(128) before each head).
- memorax 1.0.1: a Dense(64) encoder and a GRU(64) for each of actor and
  critic, one Dense in each head; memorax with the same shapes.
"""

from __future__ import annotations

import argparse
import platform
import re
import subprocess
import sys
from pathlib import Path

import jax
import optax
from flax import nnx
from training_rate import training_rate

from memorax.algorithms import PPO, PPOConfig
from memorax.environments import make
from memorax.networks import MLP, FeatureExtractor, Network, SequenceModelWrapper, heads
from memorax.networks.sequence_models import GRU

ANCHORS = Path(__file__).resolve().parents[2] / "shared" / "anchors"


def memorax_ppo(width: int, shared: bool, head_hidden: bool) -> PPO:
    """PPO-GRU(width) on CartPole; one torso for actor and critic if ``shared``; an MLP(width) before each head if ``head_hidden``."""
    env, params = make("gymnax::CartPole-v1")

    def body():
        return FeatureExtractor(observation_extractor=MLP(features=(width,))), SequenceModelWrapper(GRU(width))

    actor_body = body()
    critic_body = actor_body if shared else body()
    config = PPOConfig(
        num_envs=16, num_steps=128, num_epochs=4, num_minibatches=4, gamma=0.99, gae_lambda=0.95,
        clip_coef=0.2, ent_coef=0.01, vf_coef=0.5, max_grad_norm=0.5,
    )  # fmt: skip
    def head(output: nnx.Module) -> nnx.Module:
        return nnx.Sequential(MLP(features=(width,)), output) if head_hidden else output

    actor, critic = Network(*actor_body, head(heads.Categorical(2))), Network(*critic_body, head(heads.VNetwork()))
    return PPO(config, env, params, actor, critic, optax.adam(2.5e-4))


def anchor_rate(python: str, script: str, *args: str) -> float:
    """The env steps/s an anchor script prints (``sps=N``)."""
    printed = subprocess.run([python, str(ANCHORS / script), *args], capture_output=True, text=True, check=True).stdout
    return float(re.search(r"sps=(\d+)", printed).group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=64, help="PPO updates per timed call, on every side")
    args = parser.parse_args()
    venv = subprocess.run(["bash", str(ANCHORS / "setup_memorax_1_0_1.sh")], capture_output=True, text=True, check=True)
    python = str(Path(venv.stdout.strip().splitlines()[-1]) / "bin" / "python")
    steps = args.updates * 16 * 128
    print(f"# {jax.devices()[0].device_kind}, {platform.machine()}, jax {jax.__version__}; {args.updates} updates of 16 x 128 per call")
    print("| peer | peer env steps/s | memorax env steps/s | memorax / peer | memorax compile s |")
    print("| --- | ---: | ---: | ---: | ---: |")
    peers = (
        ("purejaxrl ppo_rnn, GRU(128) shared", ("purejaxrl_ppo_rnn.py", str(args.updates)), 128, True, True),
        ("memorax 1.0.1, GRU(64) each", ("memorax_1_0_1_ppo_gru.py", str(steps)), 64, False, False),
    )
    for name, (script, *script_args), width, shared, head_hidden in peers:
        peer = anchor_rate(python, script, *script_args)
        compile_seconds, rate = training_rate(memorax_ppo(width, shared, head_hidden), steps)
        print(f"| {name} | {peer:,.0f} | {rate:,.0f} | {rate / peer:.2f}x | {compile_seconds:.1f} |", flush=True)


if __name__ == "__main__":
    sys.exit(main())
