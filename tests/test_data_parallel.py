"""Data parallelism: on 4 devices (CPU devices forced in a subprocess) the algorithms compute what they compute on 1."""

import dataclasses
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

from memorax.parallel import DataParallel
from memorax.training import load

SCRIPT = Path(__file__).with_name("on_four_devices.py")
TOLERANCE = 1e-5  # float32 sums in another order; the parameters are O(1)
# The script's OPTIONS as `memorax train` arguments.
TINY = [
    "--total-steps", "384", "--log-every", "128", "--eval-episodes", "4", "--encoder.features", "16", "--torso.hidden", "16",
    "--ppo.num-envs", "8", "--ppo.num-steps", "16", "--ppo.num-minibatches", "2", "--logger",
]  # fmt: skip


def with_devices(count: int) -> dict:
    """The environment of a process that sees ``count`` CPU devices."""
    return dict(os.environ, XLA_FLAGS=f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={count}".strip())


@pytest.fixture(scope="module")
def resumed_run(tmp_path_factory) -> Path:
    """Where the script leaves its run: trained on 4 devices, stopped after interval 0, resumed on 1."""
    return tmp_path_factory.mktemp("runs") / "four-then-one"


@pytest.fixture(scope="module")
def report(resumed_run) -> dict:
    command = [sys.executable, str(SCRIPT), str(resumed_run)]
    result = subprocess.run(command, capture_output=True, text=True, env=with_devices(4), check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["devices"] == 4
    return report


@pytest.mark.parametrize("algorithm", ["ppo", "dqn", "sac"])
def test_four_devices_train_the_same_parameters_as_one(report, algorithm):
    run = report[algorithm]
    assert run["parameter_scale"] > 0.1
    assert run["parameter_difference"] < TOLERANCE * run["parameter_scale"]
    assert run["metric_difference"] < TOLERANCE * 100  # losses and returns, O(1) to O(100)
    assert run["compilations"] == [1, 1]  # the state train returns is placed as init placed it


@pytest.mark.parametrize("algorithm", ["ppo", "dqn", "sac"])
def test_each_device_computes_a_share(report, algorithm):
    """Acting and the update both split: a device runs well under half of one device's operations (0.37 to 0.42 measured).

    Were the sampled batch or the minibatches gathered onto every device, the updates would run whole
    on each one: 0.77 (PPO) to 0.94 (DQN), with the same parameters.
    """
    assert report[algorithm]["flops_ratio"] < 0.5


@pytest.mark.parametrize("algorithm", ["ppo", "dqn", "sac"])
def test_environments_and_memory_are_split_and_parameters_replicated(report, algorithm):
    run = report[algorithm]
    assert run["carry"] == dict(devices=4, shard_shape=[2, 16], replicated=False)  # 8 environments, 2 per device
    assert run["parameters"]["devices"] == 4 and run["parameters"]["replicated"]


def test_the_replay_is_split_by_environment(report):
    assert report["dqn"]["replay"] == dict(devices=4, shard_shape=[2, 64, 4], replicated=False)
    assert report["dqn"]["updates"] > 20


def test_sacs_stacked_critic_carries_are_split_by_environment(report):
    assert report["sac"]["critic_carry"] == dict(devices=4, shard_shape=[2, 2, 16], replicated=False)  # [critics, envs, hidden]
    assert report["sac"]["updates"] > 20


def test_seeds_split_over_rows_of_devices_train_as_each_seed_alone(report, resumed_run):
    """--seeds 2 --seed-devices 2 --devices 2, stopped and resumed on one row of 4 devices: seed 0 trains what the run of seed 0
    alone trained (stopped on 4 devices, resumed on 1), one seed on each row of the mesh."""
    parameters = report["seeds"]["parameters"]
    assert parameters["devices"] == 4 and not parameters["replicated"] and parameters["shard_shape"][0] == 1  # a row holds its seed
    assert report["seeds"]["compilations"] == 1  # init places every leaf as train does
    _, _, rows, progress = load(resumed_run.with_name("seeds-over-rows"))
    _, _, alone, _ = load(resumed_run)
    assert report["seeds"]["stopped_at"] == 0 and progress["interval"] == 2
    seed_leaves = [jax.tree.leaves(jax.tree.map(lambda leaf: leaf[i], rows.params)) for i in (0, 1)]
    for a, b in zip(seed_leaves[0], jax.tree.leaves(alone.params)):
        np.testing.assert_allclose(a, b, atol=TOLERANCE)
    assert any(not np.allclose(a, b) for a, b in zip(*seed_leaves))


def test_a_run_stopped_on_four_devices_resumes_on_one(report):
    assert report["resume"] == dict(stopped_at=0, last_interval=2, intervals=[0, 1, 2])


@pytest.mark.parametrize(
    "case, message",
    [
        ("ppo_num_envs", "PPO: num_envs (6) must be divisible by the 4 devices of the mesh's 'data' axis"),
        ("ppo_minibatch", "PPO: num_envs / num_minibatches (2) must be divisible by the 4 devices"),
        ("dqn_num_envs", "DQN: num_envs (6) must be divisible by the 4 devices"),
        ("dqn_batch_size", "DQN: batch_size (6) must be divisible by the 4 devices"),
        ("too_many_devices", "devices is 8; expected 1 to 4, the cpu devices JAX sees"),
    ],
)
def test_sizes_the_devices_do_not_divide_are_refused(report, case, message):
    assert report["errors"][case].startswith(message), report["errors"][case]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return probe.getsockname()[1]


def test_two_processes_of_two_devices_train_what_one_process_trains(tmp_path, report, resumed_run):
    """Two hosts, simulated: two `memorax train --distributed` processes with two CPU devices each, one run over 4 devices.

    It is compared with the script's run of the same options: one process, 4 devices, stopped and resumed on 1.
    """
    launch = ["--distributed", "--coordinator-address", f"localhost:{free_port()}", "--num-processes", "2"]
    command = [sys.executable, "-m", "memorax", "train", *TINY, "--run-dir", str(tmp_path / "two-hosts"), *launch]
    processes = [
        subprocess.Popen([*command, "--process-id", str(rank)], env=with_devices(2), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for rank in (0, 1)
    ]
    outputs = [process.communicate(timeout=600) for process in processes]
    for process, (_, errors) in zip(processes, outputs):
        assert process.returncode == 0, errors[-3000:]

    two_hosts_options, _, two_hosts, progress = load(tmp_path / "two-hosts")
    one_process_options, _, one_process, _ = load(resumed_run)
    assert two_hosts_options == dataclasses.replace(one_process_options, run_dir=tmp_path / "two-hosts")
    assert progress["interval"] == 2
    for a, b in zip(jax.tree.leaves(two_hosts.params), jax.tree.leaves(one_process.params)):
        np.testing.assert_allclose(a, b, atol=TOLERANCE)
    # Only process 0 wrote the metrics: each interval once.
    lines = (tmp_path / "two-hosts" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["interval"] for line in lines] == [0, 1, 2]


@struct.dataclass
class Counters:
    updates: jax.Array
    scale: jax.Array
    key: jax.Array


def test_a_placed_state_has_strong_types_only():
    """``jit`` compiles one program per set of argument types, weak and strong apart: a weak leaf that training made
    strong (or a step made weak) compiled train twice. Placing casts ``jnp.array(0)`` and Python floats; keys stay."""
    state = Counters(updates=jnp.array(0), scale=0.5, key=jax.random.key(3))
    placed = DataParallel(None, "test", {}).place(state)
    assert [jax.typeof(leaf).weak_type for leaf in jax.tree.leaves(placed)] == [False] * 3
    assert placed.updates.dtype == jnp.int32 and placed.scale.dtype == jnp.float32 and float(placed.scale) == 0.5
    assert jnp.array_equal(jax.random.key_data(placed.key), jax.random.key_data(state.key))
