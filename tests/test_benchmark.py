"""`memorax benchmark`: a grid of models × tasks × seeds that reports, survives a failed cell, and resumes where it stopped."""

import dataclasses
import io
import json
import re
import signal
import threading
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
from rich.console import Console

from memorax.cli import parse
from memorax.loggers import BenchmarkProgress, benchmark_progress
from memorax.training import EncoderOptions, Run, TrainOptions
from memorax.training import benchmark as benchmark_module
from memorax.training import options as options_module
from memorax.training import report as report_module
from memorax.training.benchmark import BenchmarkOptions, GridTorsoOptions, benchmark
from memorax.training.options import from_fields
from memorax.training.report import FEWEST_SEEDS_FOR_AN_INTERVAL, iqm_interval, plot_task_curves
from memorax.training.run import train

OPTIONS = BenchmarkOptions(
    torso=GridTorsoOptions(kind=("mlp", "gru", "lstm"), hidden=16),
    env=("memorax::RepeatPrevious-Easy",),
    seeds=2,
    total_steps=256,
    log_every=128,
    eval_episodes=4,
    eval_policy="sampled",
    encoder=EncoderOptions(features=(16,)),
    ppo=dataclasses.replace(TrainOptions.ppo, num_envs=4, num_steps=32, num_minibatches=2),
    logger=(),
)


class StopAtRecord:
    """Presses Ctrl-C once the n-th record of the benchmark (counting every cell's) has been logged."""

    def __init__(self, n: int):
        self.n, self.seen = n, 0

    def log(self, record: dict) -> None:
        self.seen += 1
        if self.seen == self.n:
            raise KeyboardInterrupt

    def close(self) -> None:
        pass


class CtrlCAtRecord(StopAtRecord):
    """Sends this process SIGINT, as Ctrl-C does, once the n-th record has been logged."""

    def log(self, record: dict) -> None:
        self.seen += 1
        if self.seen == self.n:
            signal.raise_signal(signal.SIGINT)


def test_the_grid_reports_every_cell_survives_a_failed_one_and_resumes_without_rerunning(tmp_path, monkeypatch):
    trained, layouts = [], []
    real_train = benchmark_module.train

    def train(options=None, resume=None, **kwargs):
        kind = (options or Run(resume).options()).torso.kind
        trained.append((kind, resume is not None))
        layouts.append(kwargs.get("devices", options and options.devices))
        if kind == "lstm":
            raise FloatingPointError("interval 0: training made parameters NaN or infinite")
        return real_train(options, resume, **kwargs)

    monkeypatch.setattr(benchmark_module, "train", train)
    assert threading.current_thread() is threading.main_thread()  # where Ctrl-C's handlers are
    directory = tmp_path / "bench"
    monkeypatch.chdir(tmp_path)
    options = dataclasses.replace(OPTIONS, run_dir=Path("bench"))  # recorded relative to where it was made
    with pytest.raises(KeyboardInterrupt):
        benchmark(options, loggers=[CtrlCAtRecord(2)])  # in mlp's last interval: mlp ends, evaluated; gru never starts
    finished = (directory / "cells" / "mlp--memorax-RepeatPrevious-Easy" / "evaluation.json").stat().st_mtime_ns
    with pytest.raises(FileExistsError, match="already holds a benchmark; resume it"):
        benchmark(options)
    monkeypatch.chdir(tmp_path / "bench" / "cells")  # resumed from elsewhere, it continues in its own directory
    with pytest.raises(KeyboardInterrupt):
        benchmark(resume=directory, loggers=[StopAtRecord(1)])  # in gru's first interval
    with pytest.raises(ValueError, match=r"the grid resumes with --devices None and --seed-devices 2 \(as given\): seed_devices is 2; "):
        benchmark(resume=directory, seed_devices=2)  # before any cell
    benchmark(resume=directory, devices=1)  # the interrupted cell and those not run yet on the layout given
    assert trained == [("mlp", False), ("gru", False), ("gru", True), ("lstm", False)]
    assert layouts == [None, None, 1, 1]
    assert (directory / "cells" / "mlp--memorax-RepeatPrevious-Easy" / "evaluation.json").stat().st_mtime_ns == finished
    assert [r["interval"] for r in Run(directory / "cells" / "gru--memorax-RepeatPrevious-Easy").records()] == [0, 1]

    cells = {cell["torso"]: cell for cell in json.loads((directory / "results.json").read_text())["cells"]}
    assert cells["lstm"]["status"] == "failed" and "NaN" in cells["lstm"]["error"]
    assert cells["mlp"]["config"]["devices"] is None and cells["lstm"]["config"]["devices"] == 1  # the layouts they ran on
    for kind in ("mlp", "gru"):
        assert cells[kind]["status"] == "done" and [seed["seed"] for seed in cells[kind]["seeds"]] == [0, 1]
        assert all(-1 <= seed["final_return"] <= 1 and seed["curve"]["env_steps"] for seed in cells[kind]["seeds"])
        assert cells[kind]["config"]["torso"]["kind"] == kind and cells[kind]["config"]["seeds"] == 2
        run = Run(directory / "cells" / f"{kind}--memorax-RepeatPrevious-Easy")
        assert json.loads(run.evaluation.read_text())["policy"] == "sampled"
        for index, seed in enumerate(cells[kind]["seeds"]):  # the MMER: the seed's best interval, from its own records
            intervals = [record["seeds"][index] for record in run.records()]
            assert all(interval["seed"] == seed["seed"] for interval in intervals)
            returns = [interval["episode_return"] for interval in intervals if interval["episode_return"] is not None]
            assert returns and seed["mmer"] == pytest.approx(max(returns))
    report = (directory / "report.md").read_text()
    assert "Final sampled evaluation return: IQM over seeds [lowest, highest seed: what the 95% bootstrap CI of 2 values is]" in report
    assert "| lstm | failed (FloatingPointError) | — (a cell failed) |" in report
    assert "The IQM chart and the profile leave out the models with a failed cell: lstm." in report
    assert len(re.findall(r"\] · MMER [+-]\d\.\d{3} \|", report)) == 2
    for image in ("curves.png", "iqm.png", "profile.png"):
        assert matplotlib.image.imread(directory / image).ndim == 3

    benchmark(resume=directory, seed_devices=2)  # everything has ended: nothing trains again, on any layout
    assert len(trained) == 4
    (directory / "cells" / "gru--memorax-RepeatPrevious-Easy" / "evaluation.json").write_text('{"mean_return": 0.')
    with pytest.raises(ValueError, match=r"gru--memorax-RepeatPrevious-Easy/evaluation.json is not a JSON file"):
        benchmark(resume=directory)
    with pytest.raises(FileNotFoundError, match=r"--resume .*cells: not a benchmark directory \(it has no benchmark.json\)"):
        benchmark(resume=directory / "cells")


def test_the_command_line_takes_several_models_and_tasks():
    command = parse(["benchmark", "--torso.kind", "mlp", "gru", "s5", "--env", "memorax::RepeatPrevious-Easy", "gymnax::CartPole-v1",
                     "--seeds", "5", "--total-steps", "2000000"])  # fmt: skip
    cells = command.options.cells()
    assert [(kind, env) for kind, env, _ in cells][:2] == [("mlp", "memorax::RepeatPrevious-Easy"), ("mlp", "gymnax::CartPole-v1")]
    assert len(cells) == 6 and all(options.seeds == 5 and options.total_steps == 2_000_000 for _, _, options in cells)


def test_train_and_benchmark_take_options_or_a_directory_to_resume_not_both():
    for run in (train, benchmark):
        for arguments in ({}, {"options": OPTIONS, "resume": Path("somewhere")}):
            with pytest.raises(ValueError, match="give either options .* or resume .*, not both or neither"):
                run(**arguments)


def test_a_grid_with_a_repeated_model_is_refused():
    with pytest.raises(ValueError, match=r"--torso.kind is \('gru', 'gru'\)"):
        dataclasses.replace(OPTIONS, torso=GridTorsoOptions(kind=("gru", "gru")))


def test_a_layout_of_devices_the_seeds_or_the_machine_do_not_fit_is_refused_before_the_grid_starts(tmp_path):
    """Not recorded as the failure of every cell, and nothing written: a corrected command can use the directory."""
    with pytest.raises(ValueError, match=r"--seeds \(3\) must be divisible by --seed-devices \(2\)"):
        benchmark(dataclasses.replace(OPTIONS, seeds=3, seed_devices=2, run_dir=tmp_path / "grid"))
    with pytest.raises(ValueError, match="seed_devices is 2; expected 1 to 1"):
        benchmark(dataclasses.replace(OPTIONS, seed_devices=2, run_dir=tmp_path / "grid"))
    assert not (tmp_path / "grid").exists()


def test_a_resumed_grid_trains_its_cells_at_the_rates_it_started_with(monkeypatch):
    """benchmark.json recorded learning_rate null: a memorax whose defaults had changed trained the remaining cells at
    its own, so one row of the report could mix rates (the FFM's went from 3e-3 to 2e-3 so)."""
    started = dataclasses.replace(OPTIONS, torso=dataclasses.replace(OPTIONS.torso, kind=("mlp", "gru", "ffm"))).with_learning_rates()
    assert started.learning_rates == (3e-3, 3e-3, 2e-3)
    monkeypatch.setitem(options_module.PPO_KIND_RATES, "gru", 1e-4)  # a later memorax's default
    resumed = from_fields(BenchmarkOptions, json.loads(started.to_json()))
    assert [options.learning_rate for _, _, options in resumed.cells()] == [3e-3, 3e-3, 2e-3]
    assert dataclasses.replace(started, learning_rates=None).with_learning_rates().learning_rates == (3e-3, 1e-4, 2e-3)  # started now
    with pytest.raises(ValueError, match=r"learning_rates is \(0.001,\); expected one rate per --torso.kind"):
        dataclasses.replace(started, learning_rates=(1e-3,))


def test_a_misspelt_environment_is_refused_before_the_grid_starts(tmp_path):
    """It was found only when its cells ran, each recorded as failed, hours into the grid."""
    options = dataclasses.replace(OPTIONS, env=("memorax::RepeatPrevious-Easy", "memorax::CountRecal-Easy"), run_dir=tmp_path / "grid")
    with pytest.raises(ValueError, match=r"^--env memorax::CountRecal-Easy: make: unknown memorax environment 'CountRecal-Easy'"):
        benchmark(options)
    assert not (tmp_path / "grid").exists()


def test_the_iqm_chart_draws_a_bound_an_ulp_inside_its_estimate(tmp_path):
    """trim_mean's last bit depends on the order of its inputs, so a bootstrap bound can land just inside the estimate."""
    estimate = 0.709
    report_module._plot_iqm(tmp_path / "iqm.png", {"gru": (estimate, np.nextafter(estimate, 1.0), 0.8)}, {"gru": "C1"})
    assert matplotlib.image.imread(tmp_path / "iqm.png").ndim == 3


def test_an_interrupted_cell_whose_own_layout_does_not_fit_is_refused_not_recorded_as_failed(tmp_path):
    """The cell resumes on the layout of its config.json, which the grid's own check does not see."""
    options = dataclasses.replace(OPTIONS, run_dir=tmp_path / "grid")
    options.run_dir.mkdir()
    (options.run_dir / "benchmark.json").write_text(options.to_json())
    kind, env, cell = options.cells()[0]
    Run(cell.run_dir).directory.mkdir(parents=True)
    Run(cell.run_dir).config.write_text(dataclasses.replace(cell, seed_devices=2).to_json())
    with pytest.raises(ValueError, match=rf"the interrupted cell {kind} × {env} resumes with .*seed-devices 2 \(as .*config.json records\): seed_devices is 2"):
        benchmark(resume=options.run_dir)
    assert not Run(cell.run_dir).failure.exists()


def test_an_interval_is_the_same_at_every_call_and_leaves_numpys_generator_alone():
    """rliable draws its bootstrap from NumPy's global generator whatever it is given (two calls differed); the report seeds it."""
    scores = np.random.default_rng(1).uniform(-1, 1, (5, 16))  # [runs, tasks]
    np.random.seed(7)
    expected_next = np.random.random()
    np.random.seed(7)
    first = iqm_interval(scores)
    assert iqm_interval(scores) == first and first[1] < first[0] < first[2]
    assert np.random.random() == expected_next


def test_below_five_seeds_a_cells_interval_is_its_lowest_and_highest_seed():
    """As the report's legend says: 3 or 4 seeds' bootstrap interval is their range; from 5 it lies inside it."""
    for seeds in (3, FEWEST_SEEDS_FOR_AN_INTERVAL - 1):
        assert iqm_interval(np.linspace(0, 1, seeds)[:, None])[1:] == pytest.approx((0.0, 1.0))
    _, low, high = iqm_interval(np.linspace(0, 1, FEWEST_SEEDS_FOR_AN_INTERVAL)[:, None])
    assert 0 < low < high < 1


def test_the_curves_of_many_tasks_wrap_into_rows_of_four(tmp_path):
    """Six tasks: two rows of four 600 x 420 panels (the last two blank), not one strip 3,600 pixels wide."""
    records = [{"env_steps": 100 * (i + 1), "episode_return": 0.1 * i} for i in range(3)]
    envs = [f"memorax::Task{i}" for i in range(6)]
    plot_task_curves(tmp_path / "curves.png", ["gru"], envs, {("gru", env): records for env in envs})
    assert matplotlib.image.imread(tmp_path / "curves.png").shape[:2] == (2 * 420, 4 * 600)


def test_off_a_terminal_the_progress_is_a_line_for_each_cell_run(monkeypatch):
    """A benchmark logged to a file shows a line per cell it runs, with the time left; cells found done print nothing."""
    clock = iter([100.0, 100.0, 220.0, 220.0, 460.0, 460.0])  # made; cells of 2 and 4 minutes, then a resumed one
    monkeypatch.setattr(benchmark_progress.time, "monotonic", lambda: next(clock))
    output = io.StringIO()
    kinds, env = ["mlp", "gru", "lstm", "s5"], "memorax::RepeatFirst-Easy"
    progress = BenchmarkProgress(kinds, [env], 100, console=Console(file=output, width=200))
    progress.finish("mlp", env, "+0.500")
    for kind, steps in (("gru", 100), ("lstm", 50)):  # lstm fails half way
        progress.start(kind, env)
        progress.log({"env_steps": steps})
        progress.finish(kind, env, "+1.000" if kind == "gru" else "failed")
    progress.start("s5", env, completed=90)  # its last 10 steps, compiling and evaluating in 1 min
    progress.log({"env_steps": 100})
    progress.finish("s5", env, "+0.900")
    progress.close()
    assert progress.live is None and output.getvalue().splitlines() == [
        f"2 of 4 cells done; gru × {env}: +1.000; about 4 min left",  # 100 steps in 2 min, 200 left
        f"3 of 4 cells done; lstm × {env}: failed; about 4 min left",  # 150 steps in 6 min, 100 left
        f"4 of 4 cells done; s5 × {env}: +0.900",
    ]


def test_the_time_left_of_lines_leaves_out_a_resumed_cells_compilation(monkeypatch):
    """A resumed cell's last 10 steps took 82 s with its compilation and evaluation: as a rate, the 11 cells of 100 steps
    left would take 2 h 30 min. The line waits for a cell run whole (190 s), then says 10 cells of those, 32 min."""
    clock = iter([0.0, 0.0, 82.0, 272.0])  # made; m0 starts; m1 starts; m1 ends
    monkeypatch.setattr(benchmark_progress.time, "monotonic", lambda: next(clock))
    output, env = io.StringIO(), "memorax::RepeatFirst-Easy"
    progress = BenchmarkProgress([f"m{index}" for index in range(12)], [env], 100, console=Console(file=output, width=200))
    for kind, completed in (("m0", 90), ("m1", 0)):
        progress.start(kind, env, completed=completed)
        progress.log({"env_steps": 100})
        progress.finish(kind, env, "+1.000")
    assert output.getvalue().splitlines() == [
        f"1 of 12 cells done; m0 × {env}: +1.000",
        f"2 of 12 cells done; m1 × {env}: +1.000; about 32 min left",
    ]


def test_the_time_left_counts_intervals_longer_than_half_a_minute_and_not_the_cells_done_before_a_resume():
    """Intervals of 40 s, 100 steps each, after a cell found done: 200 steps left at 2.5 steps/s, 80 s (not 200 at the
    cell found done's 500 steps in no time, and not none: rich's own window of 30 s holds one interval)."""
    now = [0.0]
    progress = BenchmarkProgress(["mlp", "gru"], ["memorax::RepeatFirst-Easy"], 500, enabled=False)
    progress.progress.get_time = lambda: now[0]
    progress.finish("mlp", "memorax::RepeatFirst-Easy", "+0.500")
    progress.start("gru", "memorax::RepeatFirst-Easy")
    for now[0], steps in ((0.0, 100), (40.0, 200), (80.0, 300)):
        progress.log({"env_steps": steps})
    assert progress.progress.tasks[0].time_remaining == pytest.approx(80.0)


def test_the_time_left_leaves_out_the_steps_a_failed_cell_did_not_run():
    """Cells of 500 steps at 2.5 steps/s, the second failing at once: 700 steps left after the third's 300, 280 s."""
    now, env = [0.0], "memorax::RepeatFirst-Easy"
    progress = BenchmarkProgress(["mlp", "gru", "lstm", "s5"], [env], 500, enabled=False)
    progress.progress.get_time = lambda: now[0]
    progress.start("mlp", env)
    for now[0], steps in ((40.0, 100), (80.0, 200), (120.0, 300), (160.0, 400), (200.0, 500)):
        progress.log({"env_steps": steps})
    progress.finish("mlp", env, "+0.500")
    progress.start("gru", env)
    progress.finish("gru", env, "failed")
    progress.start("lstm", env)
    for now[0], steps in ((240.0, 100), (280.0, 200), (320.0, 300)):
        progress.log({"env_steps": steps})
    assert progress.progress.tasks[0].time_remaining == pytest.approx(280.0)
