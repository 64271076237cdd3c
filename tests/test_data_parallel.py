"""Data parallelism: on 4 devices (CPU devices forced in a subprocess) the algorithms compute what they compute on 1."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("on_four_devices.py")
TOLERANCE = 1e-5  # float32 sums in another order; the parameters are O(1)


@pytest.fixture(scope="module")
def report() -> dict:
    flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=4".strip()
    result = subprocess.run(
        [sys.executable, str(SCRIPT)], capture_output=True, text=True, env=dict(os.environ, XLA_FLAGS=flags), check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["devices"] == 4
    return report


@pytest.mark.parametrize("algorithm", ["ppo", "dqn"])
def test_four_devices_train_the_same_parameters_as_one(report, algorithm):
    run = report[algorithm]
    assert run["parameter_scale"] > 0.1
    assert run["parameter_difference"] < TOLERANCE * run["parameter_scale"]
    assert run["metric_difference"] < TOLERANCE * 100  # losses and returns, O(1) to O(100)
    assert run["compilations"] == [1, 1]  # the state train returns is placed as init placed it


@pytest.mark.parametrize("algorithm", ["ppo", "dqn"])
def test_environments_and_memory_are_split_and_parameters_replicated(report, algorithm):
    run = report[algorithm]
    assert run["carry"] == dict(devices=4, shard_shape=[2, 16], replicated=False)  # 8 environments, 2 per device
    assert run["parameters"]["devices"] == 4 and run["parameters"]["replicated"]


def test_the_replay_is_split_by_environment(report):
    assert report["dqn"]["replay"] == dict(devices=4, shard_shape=[2, 64, 4], replicated=False)
    assert report["dqn"]["updates"] > 20


def test_a_run_stopped_on_four_devices_resumes_on_two(report):
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
