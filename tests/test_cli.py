"""The main job: `memorax train / evaluate / compare / diagnose`, resuming, checkpoints that survive, and one-line errors."""

import dataclasses
import json
import re
import shutil
import signal
import struct
import subprocess
import sys
import time
from functools import partial

import jax
import jax.numpy as jnp
import matplotlib.image
import numpy as np
import pytest
from flax import nnx
from scipy import stats
from stop_at import StopAt
from tensorboardX.proto import event_pb2
from tiny_run import TINY

from memorax import cli, launch
from memorax.cli import main
from memorax.loggers import wandb as wandb_logger
from memorax.loggers.jsonl import JsonLinesLogger, read_records
from memorax.networks import heads
from memorax.networks.blocks import Stack
from memorax.training import EncoderOptions, Run, SACOptions, TorsoOptions, TrainOptions, build, evaluate_run, load, train
from memorax.training import run as run_module
from memorax.training.checkpoints import CheckpointError
from memorax.training.plots import smooth
from memorax.training.seeds import Seeds
from memorax.training.statistics import mean_interval

OPTIONS = TrainOptions(
    total_steps=192,
    log_every=64,
    eval_episodes=4,
    encoder=EncoderOptions(features=(16,)),
    torso=TorsoOptions(hidden=16),
    ppo=dataclasses.replace(TrainOptions.ppo, num_envs=4, num_steps=16, num_minibatches=2),
    logger=(),
)


def memorax(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "memorax", *args], capture_output=True, text=True, **kwargs)


def test_train_evaluate_compare_end_to_end(tmp_path, capsys, monkeypatch):
    """``memorax train`` as a user runs it, in a process of its own; then evaluate, compare and diagnose on its run."""
    run = Run(tmp_path / "gru")
    trained = memorax("train", *TINY, "--run-dir", str(run.directory), "--logger", "console", "tensorboard")
    assert trained.returncode == 0, trained.stderr
    assert "evaluation over 4 episodes" in trained.stderr
    assert re.search(r"^ppo-gru: 192 of 192 steps · [\d,]+/s · return ", trained.stderr, re.M), trained.stderr  # not a terminal: lines
    # config.json holds the learning rate the run trained at, which the command line left to its default.
    assert OPTIONS.learning_rate is None and run.options() == dataclasses.replace(
        OPTIONS, run_dir=run.directory, logger=("console", "tensorboard"), learning_rate=3e-3
    )
    records = run.records()
    assert [r["interval"] for r in records] == [0, 1, 2] and records[-1]["env_steps"] == 192
    assert all(isinstance(r["loss"], float) for r in records)
    assert list((run.directory / "tensorboard").glob("events.out.tfevents.*"))
    assert matplotlib.image.imread(run.curve).shape[2] in (3, 4)
    assert json.loads(run.evaluation.read_text())["mean_return"] >= -1

    capsys.readouterr()
    main(["evaluate", str(run.directory), "--episodes", "8"])
    report = json.loads(capsys.readouterr().out)
    assert report["episodes"] == 8 and report["env_steps"] == 192 and -1 <= report["mean_return"] <= 1

    plot = tmp_path / "compare.png"
    main(["compare", str(run.directory), str(run.directory), "--labels", "a", "b", "--output", str(plot)])
    assert matplotlib.image.imread(plot).ndim == 3
    twin = shutil.copytree(run.directory, tmp_path / "elsewhere" / run.directory.name)  # as the same cell of two benchmarks
    drawn = []
    monkeypatch.setattr(run_module, "plot_curves", lambda curves, *args: drawn.extend(curves))
    main(["compare", str(run.directory), str(twin), "--output", str(plot)])
    assert drawn == [str(run.directory), str(twin)]  # one curve each, not one under the name they share

    capsys.readouterr()
    main(["diagnose", str(run.directory), "--max-lag", "4", "--num-envs", "2", "--num-steps", "16"])
    diagnosed = capsys.readouterr().out
    assert "seed 0: most sensitive to the observation" in diagnosed
    horizon = json.loads((run.directory / "diagnostics" / "diagnostics.json").read_text())["memory_horizon"]["seed 0"]
    assert len(horizon["sensitivity"]) == 5 and max(horizon["relative"]) == 1.0 and 0 <= horizon["horizon"] <= 4
    reach = "at least 4 steps (the largest --max-lag measured)" if horizon["horizon"] == 4 else f"back {horizon['horizon']} steps ("
    assert reach in diagnosed
    assert matplotlib.image.imread(run.directory / "diagnostics" / "horizon.png").ndim == 3
    probe = json.loads((run.directory / "diagnostics" / "diagnostics.json").read_text())["probe"]  # one-hot cards: probed
    assert len(probe["baseline"]) == 5 and set(probe["accuracy"]) == {"seed 0", "untrained"}
    assert all(len(values) == 5 and all(0 <= v <= 1 for v in values) for values in probe["accuracy"].values())
    assert matplotlib.image.imread(run.directory / "diagnostics" / "probe.png").ndim == 3
    hidden = json.loads((run.directory / "diagnostics" / "diagnostics.json").read_text())["hidden_state_probe"]
    assert set(hidden["accuracy"]) == {"seed 0", "untrained"} and all(0 <= v <= 1 for v in hidden["accuracy"].values())
    assert 0 < hidden["baseline"] <= 1
    assert "linear probe of what the task asks to remember" in diagnosed


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    return train(dataclasses.replace(OPTIONS, run_dir=tmp_path_factory.mktemp("runs") / "whole"))


def test_interrupted_and_resumed_equals_uninterrupted(tmp_path, uninterrupted):
    options = dataclasses.replace(OPTIONS, run_dir=tmp_path / "split")
    with pytest.raises(KeyboardInterrupt):
        train(options, loggers=[StopAt(0)])
    assert load(options.run_dir)[3]["interval"] == 0
    train(resume=options.run_dir)
    _, _, whole, _ = load(uninterrupted.directory)
    _, _, split, _ = load(options.run_dir)
    jax.tree.map(np.testing.assert_array_equal, whole, split)
    assert [r["interval"] for r in Run(options.run_dir).records()] == [0, 1, 2]
    assert Run(options.run_dir).records()[1:] == [
        dict(r, seconds=s["seconds"], steps_per_second=s["steps_per_second"])
        for r, s in zip(uninterrupted.records()[1:], Run(options.run_dir).records()[1:])
    ]


def test_seeds_train_at_once_resume_and_each_equals_its_run_alone(tmp_path, uninterrupted):
    """--seeds 2 --seed 0: interrupted and resumed, seed 0 is the uninterrupted run of seed 0; records, curve and evaluation hold both."""
    options = dataclasses.replace(OPTIONS, seeds=2, run_dir=tmp_path / "seeds")
    with pytest.raises(KeyboardInterrupt):
        train(options, loggers=[StopAt(0)])
    run = train(resume=options.run_dir)
    _, _, alone, _ = load(uninterrupted.directory)
    _, agent, batched, progress = load(run.directory)
    assert progress["interval"] == 2 and jax.tree.leaves(batched.params)[0].shape[0] == 2
    jax.tree.map(partial(np.testing.assert_allclose, rtol=1e-4, atol=1e-5), jax.tree.map(lambda x: x[0], batched.params), alone.params)

    records = run.records()
    assert [r["interval"] for r in records] == [0, 1, 2] and all([s["seed"] for s in r["seeds"]] == [0, 1] for r in records)
    for together, solo in zip(records, uninterrupted.records()):
        assert together["seeds"][0]["episodes"] == solo["episodes"]
        np.testing.assert_allclose(together["seeds"][0]["loss"], solo["loss"], rtol=1e-3, atol=1e-6)
        assert together["loss"] == pytest.approx(np.mean([s["loss"] for s in together["seeds"]]))
    evaluation = json.loads(run.evaluation.read_text())
    assert [s["seed"] for s in evaluation["seeds"]] == [0, 1]
    assert evaluation["seeds"][0]["mean_return"] == json.loads(uninterrupted.evaluation.read_text())["mean_return"]
    low, high = evaluation["ci95_return"]
    assert evaluation["mean_return"] == pytest.approx(np.mean([s["mean_return"] for s in evaluation["seeds"]]))
    assert low <= evaluation["mean_return"] <= high
    assert matplotlib.image.imread(run.curve).ndim == 3
    assert evaluation["policy"] == "greedy"
    assert [s["seed"] for s in evaluate_run(run.directory, episodes=2)["seeds"]] == [0, 1]
    # --policy sampled: each seed's actor samples its actions, with the keys split(key(seed), seeds).
    sampled = evaluate_run(run.directory, episodes=2, seed=3, policy="sampled")
    for i, key in enumerate(jax.random.split(jax.random.key(3), 2)):
        alone = agent.evaluate(key, jax.tree.map(lambda x: x[i], batched), num_episodes=2, deterministic=False)
        assert sampled["seeds"][i]["mean_return"] == pytest.approx(float(alone["mean_return"]))
    assert sampled["policy"] == "sampled"


def test_the_wandb_logger_writes_every_seeds_metrics_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")  # no network: the run stays on disk, for `wandb sync`
    monkeypatch.setenv("WANDB_SILENT", "true")
    run = train(dataclasses.replace(OPTIONS, seeds=2, logger=("wandb",), run_dir=tmp_path / "tracked"))
    (log,) = (run.directory / "wandb").glob("offline-run-*/run-*.wandb")
    data = log.read_bytes()
    assert all(name.encode() in data for name in ("loss", "seed_0/loss", "seed_1/value_loss", "steps_per_second"))
    assert b"RepeatPrevious-Easy" in data  # the options, as the run's config


def test_parameters_that_turn_nan_stop_the_run_which_keeps_its_last_checkpoint(tmp_path, monkeypatch):
    real_train = Seeds.train

    def poisoned(self, interval, state):
        state, metrics = real_train(self, interval, state)
        return (state.replace(params=jax.tree.map(lambda x: x * jnp.nan, state.params)) if interval == 1 else state), metrics

    monkeypatch.setattr(Seeds, "train", poisoned)
    options = dataclasses.replace(OPTIONS, run_dir=tmp_path / "nan")
    with pytest.raises(FloatingPointError, match=r"^interval 1: .*NaN or infinite; the run keeps its last checkpoint \(interval 0\)"):
        train(options)
    _, _, state, progress = load(options.run_dir)
    assert progress["interval"] == 0 and all(np.isfinite(leaf).all() for leaf in jax.tree.leaves(state.params))


def test_an_infinite_metric_stops_the_run_which_keeps_its_last_checkpoint(tmp_path, monkeypatch):
    real_train = Seeds.train

    def poisoned(self, interval, state):
        state, metrics = real_train(self, interval, state)
        return state, (dict(metrics, loss=jnp.full_like(metrics["loss"], jnp.inf)) if interval == 1 else metrics)

    monkeypatch.setattr(Seeds, "train", poisoned)
    options = dataclasses.replace(OPTIONS, run_dir=tmp_path / "inf")
    with pytest.raises(FloatingPointError, match=r"^interval 1: the metric loss is infinite; the run keeps its last checkpoint \(interval 0\)"):
        train(options)
    assert load(options.run_dir)[3]["interval"] == 0 and [r["interval"] for r in Run(options.run_dir).records()] == [0]


@pytest.mark.parametrize(
    "crashing, error", [("interval_record", RuntimeError), ("Checkpoints.save", RuntimeError), ("interval_record", KeyboardInterrupt)]
)
def test_a_run_that_crashes_as_an_interval_ends_resumes_with_every_record(tmp_path, monkeypatch, crashing, error):
    """A crash (or a second Ctrl-C) as interval 1 ends, while its record or its checkpoint is written: the resume keeps one
    record of each interval."""
    owner, name = (run_module.Checkpoints, "save") if crashing == "Checkpoints.save" else (run_module, crashing)
    real = getattr(owner, name)

    def crash_once(*args, **kwargs):
        interval = args[1] if owner is run_module.Checkpoints else args[0]
        if interval == 1 and not crashed:
            crashed.append(interval)
            raise error("the process died here")
        return real(*args, **kwargs)

    crashed = []
    monkeypatch.setattr(owner, name, crash_once)
    options = dataclasses.replace(OPTIONS, run_dir=tmp_path / "crashed")
    with pytest.raises(error, match="died"):
        train(options)
    assert [r["interval"] for r in train(resume=options.run_dir).records()] == [0, 1, 2]


def tensorboard_events(directory):
    """The events of each event file in ``directory``, oldest file first (TFRecords: length, its CRC, event, its CRC)."""
    files = []
    for path in sorted(directory.glob("events.out.tfevents.*")):
        data, offset, events = path.read_bytes(), 0, []
        while offset < len(data):
            (length,) = struct.unpack("<Q", data[offset : offset + 8])
            events.append(event_pb2.Event.FromString(data[offset + 12 : offset + 12 + length]))
            offset += 12 + length + 4
        files.append(events)
    return files


def test_a_resumed_run_has_tensorboard_drop_the_points_logged_after_its_checkpoint(tmp_path, monkeypatch):
    """Killed after interval 1's record (step 128) but before its checkpoint, the run resumes from interval 0 and logs
    step 128 again; TensorBoard drops the earlier files' points from the purge step on (here 65), so it shows one."""
    real, crashed = run_module.Checkpoints.save, []

    def crash_once(checkpoints, interval, *args, **kwargs):
        if interval == 1 and not crashed:
            crashed.append(interval)
            raise RuntimeError("the process died here")
        return real(checkpoints, interval, *args, **kwargs)

    monkeypatch.setattr(run_module.Checkpoints, "save", crash_once)
    options = dataclasses.replace(OPTIONS, run_dir=tmp_path / "crashed", logger=("tensorboard",))
    with pytest.raises(RuntimeError, match="died"):
        train(options)
    train(resume=options.run_dir)
    first, resumed = tensorboard_events(options.run_dir / "tensorboard")
    assert sorted({event.step for event in first if event.summary.value}) == [64, 128]
    assert sorted({event.step for event in resumed if event.summary.value}) == [128, 192]
    purges = [event.step for event in resumed if event.HasField("session_log") and event.session_log.status == event.session_log.START]
    assert purges == [65]


def test_wandb_missing_is_refused_before_the_run_directory_is_made(tmp_path, monkeypatch):
    """Found only as the loggers opened, it left config.json written (so the same command then found a run there) and
    the TensorBoard writer's thread running."""
    monkeypatch.setattr(wandb_logger.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ValueError, match=r"^--logger wandb needs wandb: install it with pip install 'memorax\[wandb\]'"):
        dataclasses.replace(OPTIONS, run_dir=tmp_path / "run", logger=("tensorboard", "wandb"))
    assert not (tmp_path / "run").exists()


def test_a_metrics_file_cut_short_in_its_last_line_resumes_and_a_damaged_one_is_named(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"interval": 0}\n{"interval": 1}\n{"interval": 2, "env_st')  # killed as it wrote interval 2
    logger = JsonLinesLogger(path, keep_below=2)
    logger.log({"interval": 2})
    logger.close()
    assert read_records(path) == logger.records == [{"interval": 0}, {"interval": 1}, {"interval": 2}]
    path.write_text('{"interval": 0}\nnot json\n{"interval": 2}\n')
    with pytest.raises(ValueError, match=rf"^{re.escape(str(path))}: line 2 is not a JSON record"):
        JsonLinesLogger(path, keep_below=3)


def test_ctrl_c_stops_between_intervals_with_a_checkpoint(tmp_path):
    run_dir = tmp_path / "stopped"
    process = subprocess.Popen(
        [sys.executable, "-m", "memorax", "train", *TINY, "--total-steps", "1000000", "--run-dir", str(run_dir)],
        stderr=subprocess.PIPE,
        text=True,
    )
    metrics = run_dir / "metrics.jsonl"
    deadline = time.monotonic() + 120
    while not (metrics.exists() and metrics.read_text().count("\n") >= 2) and time.monotonic() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert f"Continue with: memorax train --resume {run_dir}\n" in stderr and "Traceback" not in stderr  # one line, to copy
    assert "memorax: stopping after the current interval (Ctrl-C again stops at once).\n" in stderr
    assert load(run_dir)[3]["interval"] >= 1


class CtrlCAt:
    """A logger that sends this process SIGINT, as Ctrl-C does, once the given interval has been logged."""

    def __init__(self, interval: int):
        self.interval = interval

    def log(self, record: dict) -> None:
        if record["interval"] == self.interval:
            signal.raise_signal(signal.SIGINT)

    def close(self) -> None:
        pass


def test_ctrl_c_in_the_last_interval_says_the_run_ends_and_evaluates(tmp_path, capsys):
    """There is nothing left to continue: the run used to go on in silence, the request apparently ignored."""
    run = train(dataclasses.replace(OPTIONS, run_dir=tmp_path / "last"), loggers=[CtrlCAt(2)])
    assert "memorax: the last interval is running: it ends, is checkpointed and evaluated" in capsys.readouterr().err
    assert run.evaluation.exists() and [r["interval"] for r in run.records()] == [0, 1, 2]


def test_a_half_written_checkpoint_is_ignored_and_a_corrupt_one_is_reported(tmp_path, uninterrupted):
    run = Run(tmp_path / "copy")
    subprocess.run(["cp", "-r", str(uninterrupted.directory), str(run.directory)], check=True)
    latest = max(int(p.name) for p in run.checkpoints.iterdir() if p.name.isdigit())
    # orbax writes under a temporary name and renames when done: a kill mid-write leaves only this behind.
    partial = run.checkpoints / f"{latest + 1}.orbax-checkpoint-tmp-0"
    (partial / "state").mkdir(parents=True)
    assert load(run.directory)[3]["interval"] == latest

    data = sorted(p for p in (run.checkpoints / str(latest) / "state").rglob("*") if p.is_file() and p.stat().st_size)
    for path in data:
        path.write_bytes(b"")
    before = {p: p.stat().st_mtime_ns for p in run.checkpoints.rglob("*")}
    with pytest.raises(CheckpointError, match=rf"checkpoint .*{latest} cannot be read .* left as it is"):
        load(run.directory)
    assert {p: p.stat().st_mtime_ns for p in run.checkpoints.rglob("*")} == before


def test_a_checkpoint_of_another_model_is_named_as_such(tmp_path, uninterrupted):
    """orbax restored it with a page of its tree (or, for a dtype, cast it silently)."""
    run = Run(tmp_path / "copy")
    shutil.copytree(uninterrupted.directory, run.directory)
    config = json.loads(run.config.read_text())
    run.config.write_text(json.dumps(config | {"torso": config["torso"] | {"hidden": 24}}))
    with pytest.raises(CheckpointError, match=r"checkpoint .* does not fit this run's state \(\d+ arrays saved, \d+ expected; the state "
                       r"has an array of shape \[.*24.*\] .*another model, number of seeds or version of memorax\? It was left"):
        load(run.directory)


def test_a_new_run_never_overwrites_an_old_one(uninterrupted, capsys):
    with pytest.raises(SystemExit) as exit:
        main(["train", *TINY, "--run-dir", str(uninterrupted.directory)])
    assert exit.value.code == 2
    assert f"already holds a run; resume it with --resume {uninterrupted.directory}" in capsys.readouterr().err


def test_a_run_that_ended_before_its_first_interval_is_named_as_such(tmp_path, capsys):
    """A run whose first interval failed (an environment argument of the wrong type, say) left config.json alone, and
    the same command again was told to resume it, with the options that failed."""
    run = Run(tmp_path / "failed")
    run.directory.mkdir()
    run.config.write_text(OPTIONS.to_json())
    run.metrics.write_text("")
    with pytest.raises(SystemExit) as exit:
        main(["train", *TINY, "--run-dir", str(run.directory)])
    assert exit.value.code == 2
    assert f"{run.directory} holds a run with no finished interval (it failed or was stopped" in capsys.readouterr().err


def test_a_run_started_in_the_same_directory_while_this_one_compiled_is_not_overwritten(tmp_path, monkeypatch):
    options = dataclasses.replace(OPTIONS, run_dir=tmp_path / "raced")
    real_agent = build.agent

    def agent_while_another_run_starts(options):
        options.run_dir.mkdir(parents=True)
        (options.run_dir / "config.json").write_text("the other run's")
        return real_agent(options)

    monkeypatch.setattr(build, "agent", agent_while_another_run_starts)
    with pytest.raises(FileExistsError, match="already holds a run, started while this one compiled"):
        train(options)
    assert (options.run_dir / "config.json").read_text() == "the other run's"


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--algorithm", "a2c"], r"invalid choice 'a2c' for argument '--algorithm'. Expected one of \('ppo', 'pqn', 'dqn', 'sac'\)"),
        (["train", "--torso.kind", "rnn"], r"invalid choice 'rnn' for argument '--torso.kind'. Expected one of \('mlp', 'lstm', 'gru'"),
        (["train", "--env", "memorax::Nope"], r"unknown memorax environment 'Nope'; valid ids: RepeatPrevious-Easy"),
        (["train", "--ppo.num-minibatches", "3"], r"^memorax: error: PPOOptions.num_envs \(32\) must be divisible by num_minibatches \(3\)"),
        (["train", "--total-steps", "0"], r"--total-steps is 0; expected a positive value"),
        (["train", "--devices", "0"], r"--devices is 0; expected a positive value"),
        (["train", "--learning-rate", "nan"], r"--learning-rate is nan; expected a positive value"),
        (["train", "--seed", "-1"], r"--seed is -1; expected 0 or more"),
        (["train", "--total-steps", "two"], r"^memorax: error: --total-steps: invalid literal for int\(\) with base 10: 'two'"),
        (["train", "--devices", "3"], r"devices is 3; expected 1 to 1, the cpu devices JAX sees"),
        (["train", "--seeds", "3", "--seed-devices", "2"], r"--seeds \(3\) must be divisible by --seed-devices \(2\)"),
        (["train", "--distributed"], r"--distributed: start the run with the memorax command \(or python -m memorax\)"),
        (["train", "--algorithm", "pqn", "--env", "gymnax::Pendulum-v1"], r"--algorithm pqn needs discrete actions"),
        (["train", "--env-kwargs", "length"], r"--env-kwargs has 'length'; expected NAME=VALUE"),
        (["train", "--env-kwargs", "nope=1"], r"make: memorax::RepeatPrevious-Easy rejected the arguments \['nope'\]: .*unexpected keyword"),
        (["evaluate", "/nonexistent/run"], r"/nonexistent/run is not a memorax run: it has no config.json"),
        (["evaluate", "/nonexistent/run", "--episodes", "0"], r"evaluate: episodes \(--episodes\) is 0; expected at least 1"),
        (["train", "--torso.num-heads", "0"], r"--torso.num-heads is 0; expected 1 or more"),
        (["train", "--torso.hidden", "0"], r"--torso.hidden is 0; expected 1 or more"),
        (["train", "--encoder.features", "16", "0"], r"--encoder.features is \[16, 0\]; expected positive widths"),
        (["train", "--torso.kind", "s5", "--torso.hidden", "3"], r"--torso.hidden is 3 and --torso.num-heads 4; expected an even --torso.hidden for s5"),
        (["train", "--torso.kind", "mamba2", "--torso.hidden", "12"], r"expected a --torso.hidden that is a multiple of 8 for mamba2"),
        (
            ["train", "--torso.stack", "lru", "attention", "--torso.hidden", "12"],
            r"--torso.hidden is 12 and --torso.num-heads 4; expected an even --torso.hidden / --torso.num-heads for attention",
        ),
        (["train", "--encoder.features"], r"--encoder.features is \[\]; expected positive widths"),
        (["train", "--env", "memorax::TMaze", "--env-kwargs", "corridor_length=2.5"], r"memorax::TMaze's corridor_length is 2.5; expected an integer"),
        (
            ["train", "--algorithm", "dqn", "--total-steps", "1024", "--log-every", "1024"],
            r"--total-steps is 1024 \(trained as 1024, whole intervals\); expected at least --dqn.learning-starts \(2000\)",
        ),
        (["evaluate", "/nonexistent/run", "--seed", "-1"], r"evaluate: seed \(--seed\) is -1; expected 0 or more"),
        (["diagnose", "/nonexistent/run", "--seed", "-1"], r"--seed is -1; expected 0 or more"),
        (["diagnose", "/nonexistent/run", "--num-envs", "1"], r"--num-envs is 1; expected 2 or more"),
        (["diagnose", "/nonexistent/run", "--num-steps", "8"], r"--max-lag is 16; expected 0 to 7, below --num-steps \(8\)"),
        (["compare", "--output", "x.png"], r"compare: no run directories given; expected at least one"),
        (["compare", "/nonexistent/a", "/nonexistent/b", "--labels", "x", "x"], r"compare: the runs' names \['x', 'x'\] repeat"),
        (["compare", "/nonexistent/a", "--output", "plot.v2"], r"--output plot.v2: matplotlib writes no .v2 files; expected one of .*png"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(args, message, capsys, tmp_path):
    with pytest.raises(SystemExit) as exit:
        main(args + (["--run-dir", str(tmp_path / "run")] if args[0] == "train" else []))
    assert exit.value.code == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and error.startswith("memorax: error:"), error
    assert re.search(message, error), error
    assert not (tmp_path / "run").exists()


def test_what_a_new_run_refuses_a_saved_one_still_loads_with():
    """Checks of a run's start, not of its options: a run an older memorax started must still resume and evaluate."""
    options = TrainOptions(algorithm="dqn", total_steps=1024, log_every=1024)
    assert TrainOptions.from_json(options.to_json()) == options
    with pytest.raises(ValueError, match=r"expected at least --dqn.learning-starts \(2000\)"):
        options.check_learning_starts()
    with pytest.raises(ValueError, match=r"PPOOptions.total_timesteps is 1000000.0; expected an integer"):  # a tyro.conf.Suppress[int]
        dataclasses.replace(options.ppo, total_timesteps=1e6)


def test_a_run_directory_that_is_a_file_is_refused_and_the_file_kept(tmp_path, capsys):
    path = tmp_path / "notes.txt"
    path.write_text("mine")
    with pytest.raises(SystemExit) as exit:
        main(["train", "--run-dir", str(path)])
    assert exit.value.code == 2 and path.read_text() == "mine"
    assert f"--run-dir {path} is a file; expected a directory" in capsys.readouterr().err


def test_a_run_whose_options_this_memorax_does_not_know_is_one_line_too(uninterrupted, tmp_path, capsys):
    config = json.loads(uninterrupted.config.read_text())
    config["ppo"]["new_option"] = 1
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(SystemExit) as exit:
        main(["evaluate", str(tmp_path)])
    assert exit.value.code == 2
    assert "PPOOptions has no fields ['new_option']: were these options written by another version" in capsys.readouterr().err


def test_resume_takes_the_layout_of_devices_from_the_command_line(monkeypatch, tmp_path):
    """Only --devices and --seed-devices reach a resumed run or benchmark; their own --seeds is checked against them there."""
    calls = []
    monkeypatch.setattr(cli, "train", lambda **kwargs: calls.append(kwargs))
    monkeypatch.setattr(cli, "benchmark", lambda **kwargs: calls.append(kwargs))
    for command in ("train", "benchmark"):
        main([command, "--resume", str(tmp_path), "--seed-devices", "2", "--devices", "1"])
        main([command, "--resume", str(tmp_path)])
    given, own = dict(resume=tmp_path, devices=1, seed_devices=2), dict(resume=tmp_path, devices=None, seed_devices=None)
    assert calls == [given, own, given, own]


def test_the_schedules_run_over_the_steps_the_run_trains():
    options = dataclasses.replace(OPTIONS, total_steps=100)  # intervals of 64 steps: it trains 128
    assert (options.interval_steps, options.trained_steps, options.algorithm_config.total_timesteps) == (64, 128, 128)


@pytest.mark.parametrize("command", ["train", "benchmark"])
def test_options_given_with_resume_are_refused_not_ignored(command, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit:
        main([command, "--resume", str(tmp_path), "--total-steps", "800000", "--torso.kind", "lstm", "--devices", "1"])
    assert exit.value.code == 2
    assert "--resume continues with the options recorded in its directory; --total-steps, --torso.kind would be ignored" in (
        capsys.readouterr().err
    )
    with pytest.raises(SystemExit):  # typed, though equal to the default: refused all the same
        main([command, "--resume", str(tmp_path), "--ppo.num-envs=32", "--seed-devices", "1"])
    assert "; --ppo.num-envs would be ignored" in capsys.readouterr().err


def test_resume_takes_the_layout_and_a_multi_host_launch_in_either_spelling():
    """The processes of a multi-host run join by the launch options, resumed too; tyro takes --seed_devices as well."""
    cli.refuse_options_beside_resume(
        ["--resume", "runs/x", "--distributed", "--coordinator-address=h:1234", "--num_processes", "2", "--process-id", "0",
         "--seed_devices", "1", "--devices=2"]
    )  # fmt: skip


def test_env_kwargs_are_python_literals_or_else_strings():
    options = TrainOptions(env_kwargs=("length=12", "scale=0.5", "partial=True", "mode=hard", "sizes=(3, 4)"))
    assert options.env_arguments == dict(length=12, scale=0.5, partial=True, mode="hard", sizes=(3, 4))


def test_bad_input_in_a_real_process_has_no_traceback():
    result = memorax("train", "--torso.kind", "transformer")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "memorax: error: invalid choice 'transformer' for argument '--torso.kind'. "
        "Expected one of ('mlp', 'lstm', 'gru', 'mingru', 'minlstm', 'mamba', 'mamba2', 's5', 'lru', 'attention', 'linear_attention', 'ffm', 'deltanet', 'gated_deltanet', 'mlstm', 'slstm')."
    ]
    joined = memorax("train", "--distributed")  # joins before parsing the command: no coordinator, no cluster here
    assert joined.returncode == 2
    assert joined.stderr.strip().splitlines() == ["memorax: error: --distributed: coordinator_address should be defined."]


def test_sac_on_a_box_action_space_trains_checkpoints_and_evaluates(tmp_path):
    """A recurrent SAC run: its state holds a replay of sequences with the stored carries of the actor and both critics."""
    sac = SACOptions(num_envs=4, batch_size=8, buffer_size=1_000, learning_starts=96)  # updates from the second interval
    options = dataclasses.replace(OPTIONS, algorithm="sac", env="gymnax::Pendulum-v1", sac=sac, run_dir=tmp_path / "sac")
    run = train(options)
    assert run.options() == dataclasses.replace(options, learning_rate=1e-3)
    records = run.records()
    assert [r["env_steps"] for r in records] == [64, 128, 192]
    assert records[0]["critic_loss"] is None and all(isinstance(r[k], float) for r in records[1:] for k in ("critic_loss", "alpha"))
    report = evaluate_run(run.directory, episodes=2)
    assert report["env_steps"] == 192 and report["mean_length"] == 200 and -2_000 < report["mean_return"] <= 0


@pytest.mark.parametrize(
    "torso",
    [TorsoOptions(kind=kind, hidden=16) for kind in ("mlp", "lstm", "gru", "mingru", "minlstm", "mamba", "mamba2", "s5", "lru", "attention", "linear_attention", "ffm", "deltanet", "gated_deltanet", "mlstm", "slstm")]
    + [TorsoOptions(stack=("lru", "attention"), hidden=16)],
    ids=lambda torso: "-".join(torso.stack) or torso.kind,
)
def test_every_torso_choice_builds_a_working_network(torso):
    options = dataclasses.replace(OPTIONS, torso=torso)
    network = build.network(options, heads.VNetwork())
    observation, done = jnp.ones((2, 3, 5)), jnp.zeros((2, 3), bool).at[:, 0].set(True)
    network.init(0, observation, done)
    _, values = network(observation, done)
    assert values.shape == (2, 3) and np.isfinite(values).all()


@pytest.mark.parametrize("fed_back", [False, True])
def test_a_stack_runs_at_its_hidden_width_after_a_dense_layer_from_another_input_width(fed_back):
    """The POPGym preset's torso input is the encoder's 128 and 16 each for the previous action and reward: 160."""
    encoder = EncoderOptions(features=(16,), previous_action=fed_back, previous_reward=fed_back)
    options = dataclasses.replace(OPTIONS, encoder=encoder, torso=TorsoOptions(stack=("mingru",), hidden=16))
    network = build.network(options, heads.VNetwork())
    observation, done = jnp.ones((2, 3, 5)), jnp.zeros((2, 3), bool).at[:, 0].set(True)
    action, reward = jnp.zeros((2, 3, 4)).at[:, :, 1].set(1.0), jnp.ones((2, 3))
    network.init(0, observation, done, action, reward)
    _, values = network(observation, done, None, action, reward)
    assert values.shape == (2, 3) and np.isfinite(values).all()
    stack = next(module for _, module in nnx.iter_graph(network) if isinstance(module, Stack))
    assert len(stack.blocks) == 2 + fed_back
    if fed_back:
        assert stack.blocks[0].model.layers[0].kernel.shape == (16 + 2 * build.PREVIOUS_FEATURES, 16)


def test_previous_action_and_reward_options_feed_them_to_the_network():
    encoder = EncoderOptions(features=(16,), previous_action=True, previous_reward=True)
    network = build.network(dataclasses.replace(OPTIONS, encoder=encoder), heads.VNetwork())
    observation, done = jnp.ones((2, 3, 5)), jnp.zeros((2, 3), bool).at[:, 0].set(True)
    action, reward = jnp.zeros((2, 3, 4)).at[:, :, 1].set(1.0), jnp.ones((2, 3))
    network.init(0, observation, done, action, reward)
    _, values = network(observation, done, None, action, reward)
    _, other_action = network(observation, done, None, jnp.roll(action, 1, axis=-1), reward)
    _, other_reward = network(observation, done, None, action, -reward)
    assert not np.allclose(values, other_action) and not np.allclose(values, other_reward)


@pytest.mark.parametrize(
    ("kind", "shape", "convolutions"), [("auto", (40, 40, 3), 3), ("auto", (7, 7, 3), 0), ("mlp", (40, 40, 3), 0), ("cnn", (36, 48, 1), 3)]
)
def test_the_encoder_kind_puts_convolutions_before_the_mlp_for_images(kind, shape, convolutions):
    options = dataclasses.replace(OPTIONS, encoder=EncoderOptions(kind=kind, features=(16,)))
    network = build.network(options, heads.VNetwork(), shape)
    observation, done = jnp.ones((2, 3, *shape)), jnp.zeros((2, 3), bool)
    network.init(0, observation, done)
    _, values = network(observation, done)
    assert values.shape == (2, 3)
    assert sum(isinstance(module, nnx.Conv) for _, module in nnx.iter_graph(network)) == convolutions


def test_a_cnn_encoder_refuses_observations_that_are_not_images():
    options = dataclasses.replace(OPTIONS, encoder=EncoderOptions(kind="cnn"))
    with pytest.raises(ValueError, match=r"--encoder.kind cnn needs image observations .* of shape \(7, 7, 3\)"):
        build.network(options, heads.VNetwork(), (7, 7, 3))


def test_curves_are_smoothed_by_an_exponential_moving_average():
    np.testing.assert_allclose(smooth(np.array([0.0, 1.0, 1.0]), 0.5), [0.0, 0.5, 0.75])
    np.testing.assert_allclose(smooth(np.array([np.nan, 1.0, np.nan, 3.0]), 0.5), [np.nan, 1.0, 1.0, 2.0])


def test_the_band_over_seeds_is_the_students_t_interval_of_their_mean():
    values = np.array([[0.2, 0.5, 0.9, np.nan], [1.0, np.nan, np.nan, np.nan], [0.2, 0.5, 0.9, np.inf]])
    mean, low, high = mean_interval(values, axis=1)
    expected = stats.t.interval(0.95, 2, loc=np.mean(values[0, :3]), scale=stats.sem(values[0, :3]))
    np.testing.assert_allclose([mean[0], low[0], high[0]], [np.mean(values[0, :3]), *expected])
    assert mean[1] == low[1] == high[1] == 1.0
    np.testing.assert_allclose([mean[2], low[2], high[2]], [mean[0], low[0], high[0]])  # inf, as NaN, counts as missing
    evaluation = run_module.evaluation_record(
        [dict(mean_return=value, std_return=0.1, mean_length=10) for value in (0.2, 0.5, 0.9, np.nan)], [0, 1, 2, 3]
    )
    assert run_module.describe(evaluation).endswith(" over the 3 of 4 seeds with a finite return")


def test_a_malformed_launch_option_is_one_line_too(capsys):
    """The entry point reads --distributed and its options before the commands; a bad value is still reported by them."""
    with pytest.raises(SystemExit) as exit:
        launch.main(["train", "--num-processes", "two"])
    assert exit.value.code == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and error.startswith("memorax: error:") and "--num-processes" in error, error


@pytest.mark.parametrize("command", ["train", "benchmark", "evaluate", "compare", "diagnose"])
def test_help_states_each_default_once(command, capsys):
    """A field whose help says its default itself (``--run-dir``) does not get tyro's "(default: None)" after it too."""
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = re.sub(r"[│\s]+", " ", capsys.readouterr().out)
    assert "(default:" in text
    twice = re.findall(r"--[\w.-]+ [^-]*\(default: [^()]*(?:\([^()]*\)[^()]*)*\)\.? \(default: [^)]*\)", text)
    assert not twice, twice
