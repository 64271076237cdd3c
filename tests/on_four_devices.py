"""Trains agents on 1 and 4 CPU devices and prints, as JSON, what test_data_parallel.py checks.

Run by that test in a subprocess with ``XLA_FLAGS=--xla_force_host_platform_device_count=4``
(the device count is fixed when JAX starts) as ``on_four_devices.py RUN_DIR``: the interrupted
``memorax train`` run at the end is left in RUN_DIR for the test to compare, and a run of two seeds
split over two rows of devices beside it, in seeds-over-rows.
PPO is built as ``memorax train`` builds it, so that the interrupted run at the end reuses
its compiled programs (through the test run's compilation cache).
"""

import dataclasses
import json
import sys
from pathlib import Path

import jax
import numpy as np
import optax
from flax import nnx
from stop_at import StopAt

from memorax.algorithms import DQN, PPO, SAC, DQNConfig, SACConfig
from memorax.environments import make
from memorax.networks import MLP, RNN, FeatureExtractor, Network, heads
from memorax.parallel import data_mesh
from memorax.training import EncoderOptions, TorsoOptions, TrainOptions, build, load, train
from memorax.training.checkpoints import Checkpoints
from memorax.training.seeds import Seeds

ENV, ENV_PARAMS = make("memorax::RepeatPrevious-Easy")
ACTIONS = ENV.action_space(ENV_PARAMS).n
OPTIONS = TrainOptions(
    total_steps=384, log_every=128, eval_episodes=4, encoder=EncoderOptions(features=(16,)), torso=TorsoOptions(hidden=16),
    ppo=dataclasses.replace(TrainOptions.ppo, num_envs=8, num_steps=16, num_minibatches=2), logger=(),
)  # fmt: skip
DQN_CONFIG = DQNConfig(
    num_envs=8, batch_size=8, sequence_length=8, burn_in=2, n_step=2, stride=4, buffer_size=512,
    learning_starts=64, target_update_every=4, priority_exponent=0.6,
)  # fmt: skip
SAC_CONFIG = SACConfig(num_envs=8, batch_size=8, sequence_length=6, burn_in=2, stride=2, buffer_size=256, learning_starts=48)


def gru_network(head, seed: int) -> Network:
    return Network(FeatureExtractor(observation_extractor=MLP(features=(16,))), RNN(nnx.GRUCell(16, 16, rngs=nnx.Rngs(seed))), head)


def ppo(devices: int, **fields) -> PPO:
    return build.agent(dataclasses.replace(OPTIONS, devices=devices, ppo=dataclasses.replace(OPTIONS.ppo, **fields)))


def dqn(devices: int, config: DQNConfig = DQN_CONFIG) -> DQN:
    return DQN(config, ENV, ENV_PARAMS, gru_network(heads.DiscreteQNetwork(ACTIONS), 0), optax.adam(1e-3), mesh=data_mesh(devices))


def sac(devices: int) -> SAC:
    """Discrete SAC: its stacked critic carries are split along their second axis, ``[critics, envs, ...]``."""
    actor, critic = gru_network(heads.Categorical(ACTIONS), 0), gru_network(heads.DiscreteQNetwork(ACTIONS), 1)
    return SAC(SAC_CONFIG, ENV, ENV_PARAMS, actor, critic, optax.adam(1e-3), mesh=data_mesh(devices))


def max_difference(a, b) -> float:
    return max(float(np.nanmax(np.abs(np.asarray(x, float) - np.asarray(y, float)), initial=0)) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def layout(array: jax.Array) -> dict:
    """Where an array lives: how many devices, the shape each holds, and whether each holds all of it."""
    return dict(
        devices=len(array.sharding.device_set),
        shard_shape=list(array.addressable_shards[0].data.shape),
        replicated=array.sharding.is_fully_replicated,
    )


def flops_per_device(agent, state, steps: int) -> float:
    """The compiler's count of the floating-point operations one device runs in ``agent.train(key, state, steps)``."""
    compiled = agent._train.lower(jax.random.key(2), state, max(1, steps // agent.config.rollout_size)).compile()
    return compiled.cost_analysis()["flops"]


def one_and_four(make_agent, steps: int, carry_of) -> tuple[dict, object]:
    """Trains the same seed (two jitted calls) on 1 and on 4 devices; returns the comparison and the 4-device state."""
    runs = {}
    for devices in (1, 4):
        agent = make_agent(devices)
        state = agent.init(jax.random.key(0))
        state, _ = agent.train(jax.random.key(1), state, steps)
        flops = flops_per_device(agent, state, steps)
        state, metrics = agent.train(jax.random.key(2), state, steps)
        runs[devices] = (agent, state, metrics, flops)
    (_, one, one_metrics, one_flops), (_, four, four_metrics, four_flops) = runs[1], runs[4]
    report = dict(
        parameter_difference=max_difference(one.params, four.params),
        metric_difference=max_difference(one_metrics, four_metrics),
        parameter_scale=max(float(np.abs(np.asarray(leaf)).max()) for leaf in jax.tree.leaves(one.params)),
        compilations=[runs[devices][0]._train._cache_size() for devices in (1, 4)],
        flops_ratio=four_flops / one_flops,
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


def resume_on_other_devices(directory: Path) -> dict:
    """``memorax train`` on 4 devices, stopped after its first interval and resumed on 1."""
    try:
        train(dataclasses.replace(OPTIONS, devices=4, run_dir=directory), loggers=[StopAt(0)])
    except KeyboardInterrupt:
        pass
    stopped = Checkpoints(directory / "checkpoints").latest()
    resumed = train(resume=directory, devices=1)
    _, _, _, progress = load(directory)
    return dict(stopped_at=stopped, last_interval=progress["interval"], intervals=[r["interval"] for r in resumed.records()])


def seeds_over_rows(directory: Path) -> dict:
    """``memorax train --seeds 2 --seed-devices 2 --devices 2``: each row of the 2 x 2 mesh trains one seed; stopped
    after its first interval and resumed with ``--seed-devices 1 --devices 4`` (which the run's own 2 seed devices refuse)."""
    options = dataclasses.replace(OPTIONS, seeds=2, seed_devices=2, devices=2, run_dir=directory)
    try:
        train(options, loggers=[StopAt(0)])
    except KeyboardInterrupt:
        pass
    stopped = Checkpoints(directory / "checkpoints").latest()
    train(resume=directory, devices=4, seed_devices=1)
    seeds = Seeds(build.agent(options), 0, 2, OPTIONS.log_every)
    state, _ = seeds.train(0, seeds.init())
    seeds.train(1, state)
    return dict(
        parameters=layout(jax.tree.leaves(state.params)[0]), compilations=seeds._train_seeds._cache_size(), stopped_at=stopped
    )


def main() -> None:
    report = {"devices": jax.device_count()}
    # One interval of memorax train per call, as the interrupted run below trains.
    report["ppo"], _ = one_and_four(ppo, OPTIONS.log_every, lambda state: state.actor_carry)
    report["dqn"], dqn_state = one_and_four(dqn, 160, lambda state: state.carry)
    report["dqn"]["replay"] = layout(jax.tree.leaves(dqn_state.replay.experience)[0])
    report["dqn"]["updates"] = int(dqn_state.updates)
    report["sac"], sac_state = one_and_four(sac, 160, lambda state: state.actor_carry)
    report["sac"]["critic_carry"] = layout(jax.tree.leaves(sac_state.critic_carry)[0])
    report["sac"]["updates"] = int(sac_state.updates)

    report["resume"] = resume_on_other_devices(Path(sys.argv[1]))
    report["seeds"] = seeds_over_rows(Path(sys.argv[1]).with_name("seeds-over-rows"))

    report["errors"] = dict(
        ppo_num_envs=error_of(lambda: ppo(4, num_envs=6, num_minibatches=1)),
        ppo_minibatch=error_of(lambda: ppo(4, num_minibatches=4)),
        dqn_num_envs=error_of(lambda: dqn(4, dataclasses.replace(DQN_CONFIG, num_envs=6))),
        dqn_batch_size=error_of(lambda: dqn(4, dataclasses.replace(DQN_CONFIG, batch_size=6))),
        too_many_devices=error_of(lambda: data_mesh(8)),
    )
    json.dump(report, sys.stdout)


if __name__ == "__main__":
    main()
