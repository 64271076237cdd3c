"""Trains agents on 1, 2 and 4 CPU devices and prints, as JSON, what test_data_parallel.py checks.

Run by that test in a subprocess with ``XLA_FLAGS=--xla_force_host_platform_device_count=4``:
the device count is fixed when JAX starts, so it cannot be changed inside the test process.
"""

import dataclasses
import json
import sys
import tempfile
from pathlib import Path

import jax
import numpy as np
import optax
from flax import nnx

from memorax.algorithms import DQN, PPO, DQNConfig, PPOConfig
from memorax.environments import make
from memorax.networks import MLP, RNN, FeatureExtractor, Network, heads
from memorax.parallel import data_mesh
from memorax.training import EncoderOptions, PPOOptions, TorsoOptions, TrainOptions, load, train
from memorax.training.checkpoints import Checkpoints

ENV, ENV_PARAMS = make("memorax::RepeatPrevious-Easy")
ACTIONS = ENV.action_space(ENV_PARAMS).n
PPO_CONFIG = PPOConfig(num_envs=8, num_steps=16, num_minibatches=2, num_epochs=2)
DQN_CONFIG = DQNConfig(
    num_envs=8, batch_size=8, sequence_length=8, burn_in=2, n_step=2, stride=4, buffer_size=512,
    learning_starts=64, target_update_every=4, priority_exponent=0.6,
)  # fmt: skip


def gru_network(head, seed: int) -> Network:
    return Network(FeatureExtractor(observation_extractor=MLP(features=(16,))), RNN(nnx.GRUCell(16, 16, rngs=nnx.Rngs(seed))), head)


def ppo(devices: int, config: PPOConfig = PPO_CONFIG) -> PPO:
    actor, critic = gru_network(heads.Categorical(ACTIONS), 0), gru_network(heads.VNetwork(), 1)
    return PPO(config, ENV, ENV_PARAMS, actor, critic, optax.adam(1e-3), mesh=data_mesh(devices))


def dqn(devices: int, config: DQNConfig = DQN_CONFIG) -> DQN:
    return DQN(config, ENV, ENV_PARAMS, gru_network(heads.DiscreteQNetwork(ACTIONS), 0), optax.adam(1e-3), mesh=data_mesh(devices))


def max_difference(a, b) -> float:
    return max(float(np.nanmax(np.abs(np.asarray(x, float) - np.asarray(y, float)), initial=0)) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def layout(array: jax.Array) -> dict:
    """Where an array lives: how many devices, the shape each holds, and whether each holds all of it."""
    return dict(
        devices=len(array.sharding.device_set),
        shard_shape=list(array.addressable_shards[0].data.shape),
        replicated=array.sharding.is_fully_replicated,
    )


def one_and_four(make_agent, steps: int, carry_of) -> tuple[dict, object]:
    """Trains the same seed (two jitted calls) on 1 and on 4 devices; returns the comparison and the 4-device state."""
    runs = {}
    for devices in (1, 4):
        agent = make_agent(devices)
        state = agent.init(jax.random.key(0))
        state, _ = agent.train(jax.random.key(1), state, steps)
        state, metrics = agent.train(jax.random.key(2), state, steps)
        runs[devices] = (agent, state, metrics)
    (_, one, one_metrics), (_, four, four_metrics) = runs[1], runs[4]
    report = dict(
        parameter_difference=max_difference(one.params, four.params),
        metric_difference=max_difference(one_metrics, four_metrics),
        parameter_scale=max(float(np.abs(np.asarray(leaf)).max()) for leaf in jax.tree.leaves(one.params)),
        compilations=[runs[devices][0]._train._cache_size() for devices in (1, 4)],
        carry=layout(jax.tree.leaves(carry_of(four))[0]),
        parameters=layout(jax.tree.leaves(four.params)[0]),
    )
    return report, four


def error_of(build) -> str:
    try:
        build()
    except ValueError as error:
        return str(error)
    return ""


class StopAt:
    """A logger that presses Ctrl-C once the given interval has been logged."""

    def __init__(self, interval: int):
        self.interval = interval

    def log(self, record: dict) -> None:
        if record["interval"] == self.interval:
            raise KeyboardInterrupt

    def close(self) -> None:
        pass


def resume_on_other_devices(directory: Path) -> dict:
    """``memorax train`` on 4 devices, stopped after its first interval, resumed on 2 and loaded on 1 (as ``memorax evaluate`` does)."""
    options = TrainOptions(
        total_steps=384, log_every=128, eval_episodes=4, encoder=EncoderOptions(features=(16,)), torso=TorsoOptions(hidden=16),
        ppo=PPOOptions(num_envs=8, num_steps=16, num_minibatches=2), logger=(), devices=4, run_dir=directory,
    )  # fmt: skip
    try:
        train(options, loggers=[StopAt(0)])
    except KeyboardInterrupt:
        pass
    stopped = Checkpoints(directory / "checkpoints").latest()
    resumed = train(resume=directory, devices=2)
    _, _, _, progress = load(directory)
    return dict(stopped_at=stopped, last_interval=progress["interval"], intervals=[r["interval"] for r in resumed.records()])


def main() -> None:
    report = {"devices": jax.device_count()}
    report["ppo"], _ = one_and_four(ppo, 2 * PPO_CONFIG.rollout_size, lambda state: state.actor_carry)
    report["dqn"], dqn_state = one_and_four(dqn, 160, lambda state: state.carry)
    report["dqn"]["replay"] = layout(jax.tree.leaves(dqn_state.replay.experience)[0])
    report["dqn"]["updates"] = int(dqn_state.updates)

    with tempfile.TemporaryDirectory() as directory:
        report["resume"] = resume_on_other_devices(Path(directory) / "run")

    report["errors"] = dict(
        ppo_num_envs=error_of(lambda: ppo(4, dataclasses.replace(PPO_CONFIG, num_envs=6, num_minibatches=1))),
        ppo_minibatch=error_of(lambda: ppo(4, dataclasses.replace(PPO_CONFIG, num_envs=8, num_minibatches=4))),
        dqn_num_envs=error_of(lambda: dqn(4, dataclasses.replace(DQN_CONFIG, num_envs=6))),
        dqn_batch_size=error_of(lambda: dqn(4, dataclasses.replace(DQN_CONFIG, batch_size=6))),
        too_many_devices=error_of(lambda: data_mesh(8)),
    )
    json.dump(report, sys.stdout)


if __name__ == "__main__":
    main()
