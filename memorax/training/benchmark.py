"""``memorax benchmark``: a grid of sequence models × environments, each cell one run of several seeds trained at once.

The benchmark directory holds ``benchmark.json`` (its options), one run
directory per cell in ``cells/`` (a ``memorax train --seeds`` run: config,
metrics, checkpoints, evaluation), and, once every cell has ended,
``results.json`` and the report (``report.md`` and its plots, see
:mod:`memorax.training.report`). Cells run one after another; a cell with an
``evaluation.json`` is finished and never run again, a cell that raised is
recorded in its ``failure.json`` and reported, not retried, and an
interrupted benchmark resumed with ``--resume`` continues its cell from the
last checkpoint.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import itertools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import jax
import tyro
from rich.console import Console

from memorax.environments import make
from memorax.files import read_json, write_json
from memorax.loggers import BenchmarkProgress, Logger
from memorax.parallel import data_mesh
from memorax.training.options import DescribedDefault, TorsoKind, TorsoOptions, TrainOptions, from_fields
from memorax.training.report import write_report
from memorax.training.run import Run, StopRequests, layout_flags, resume_layout, train


@dataclasses.dataclass(frozen=True)
class GridTorsoOptions(TorsoOptions):
    """The sequence models to compare, and the settings they share."""

    kind: tuple[TorsoKind, ...] = ("mlp", "gru")
    """The models, one row of the report each; mlp, without memory, is the baseline."""

    @property
    def kinds(self) -> tuple[TorsoKind, ...]:
        """The grid's models (a grid has no stack)."""
        return self.kind


@dataclasses.dataclass(frozen=True)
class BenchmarkOptions(TrainOptions):
    """A grid: every --torso.kind on every --env, --seeds seeds each; every other option as `memorax train` has it."""

    env: tuple[str, ...] = ("memorax::RepeatPrevious-Easy", "memorax::CountRecall-Easy")
    """Environment ids, one column of the report each."""
    torso: GridTorsoOptions = GridTorsoOptions()
    seeds: int = 3
    """Seeds per cell (seed, seed + 1, ...), trained at once in one compiled program."""
    run_dir: Annotated[Path | None, DescribedDefault] = None
    """The benchmark directory; it must not hold one already (default: the first free benchmarks/ALGORITHM-N)."""
    learning_rates: tyro.conf.Suppress[tuple[float, ...] | None] = None
    """Each --torso.kind's learning rate, fixed when the grid starts (--learning-rate, or each kind's default then) and kept
    in benchmark.json, so that a grid resumed by a memorax with other defaults trains its remaining cells alike."""

    def __post_init__(self):
        if self.torso.stack:
            raise ValueError("--torso.stack: a benchmark compares the models of --torso.kind, each on its own.")
        for name in ("env", "torso.kind"):
            values = self.env if name == "env" else self.torso.kind
            if not values or len(set(values)) != len(values):
                raise ValueError(f"--{name} is {values}; expected at least one, each once.")
        if self.learning_rates is not None and len(self.learning_rates) != len(self.torso.kind):
            raise ValueError(f"learning_rates is {self.learning_rates}; expected one rate per --torso.kind {self.torso.kind}.")
        self.cells()  # building each cell's TrainOptions checks them

    @property
    def directory(self) -> Path:
        """``run_dir``, or the first free ``benchmarks/ALGORITHM-N``."""
        if self.run_dir is not None:
            return self.run_dir
        candidates = (Path("benchmarks") / f"{self.algorithm}-{n}" for n in itertools.count(1))
        return next(path for path in candidates if not path.exists())

    def cells(self) -> list[tuple[TorsoKind, str, TrainOptions]]:
        """``(kind, env, options)`` of each cell, row by row; a cell's run directory is ``cells/KIND--ENV``."""
        shared = {field.name: getattr(self, field.name) for field in dataclasses.fields(TrainOptions)}
        cells_dir = self.directory / "cells"
        logger = tuple(name for name in self.logger if name != "console")  # the grid shows progress
        cells = []
        rates = dict(zip(self.torso.kind, self.learning_rates, strict=True)) if self.learning_rates is not None else {}
        for kind, env in itertools.product(self.torso.kind, self.env):
            torso = TorsoOptions(**{**dataclasses.asdict(self.torso), "kind": kind})
            run_dir = cells_dir / f"{kind}--{env.replace('::', '-')}"
            fields = {**shared, "env": env, "torso": torso, "run_dir": run_dir, "logger": logger}
            cells.append((kind, env, TrainOptions(**{**fields, "learning_rate": rates.get(kind, self.learning_rate)})))
        return cells

    def with_learning_rates(self) -> BenchmarkOptions:
        """These options with each kind's learning rate fixed (``learning_rates``) as this memorax resolves it."""
        rates = {kind: options.optimizer_learning_rate for kind, _, options in self.cells()}
        return dataclasses.replace(self, learning_rates=tuple(rates[kind] for kind in self.torso.kind))


def benchmark(
    options: BenchmarkOptions | None = None,
    resume: Path | None = None,
    loggers: Sequence[Logger] = (),
    console: Console | None = None,
    devices: int | None = None,
    seed_devices: int | None = None,
) -> Path:
    """Runs the grid ``options`` describe (or resumes the benchmark in ``resume``) and writes its report; returns its directory.

    ``devices`` and ``seed_devices``, where given, resume it on another layout
    of devices than its own: the interrupted cell and the cells not run yet.
    Ctrl-C stops the cell running at the end of its interval, checkpointed,
    by raising ``KeyboardInterrupt``. ``loggers`` receive every cell's records.
    """
    console = console or Console(stderr=True)
    if (options is None) == (resume is None):
        raise ValueError("benchmark: give either options (a new grid) or resume (a benchmark directory), not both or neither.")
    if importlib.util.find_spec("rliable") is None:
        raise ValueError("memorax benchmark reports with rliable: install it with pip install 'memorax[benchmark]'.")
    layout = resume_layout(devices, seed_devices)
    if resume is not None:
        if not (resume / "benchmark.json").exists():
            raise FileNotFoundError(f"--resume {resume}: not a benchmark directory (it has no benchmark.json).")
        recorded = from_fields(BenchmarkOptions, read_json(resume / "benchmark.json"))
        options = dataclasses.replace(recorded, run_dir=resume, **layout)  # where it is now, not where it was made from
    if resume is None or not all(Run(cell.run_dir).ended for _, _, cell in options.cells()):
        source = None if resume is None else "as given" if layout else f"as {resume}/benchmark.json records"
        _check_layout(options, "the grid", source)
    if resume is None:
        for env in options.env:  # a misspelt id would otherwise fail its cells one by one, hours into the grid
            try:
                make(env, **options.env_arguments)
            except ValueError as error:
                raise ValueError(f"--env {env}: {error}") from None
        options.cells()[0][2].check_learning_starts()  # every cell trains the same steps with the same algorithm
        options = dataclasses.replace(options, run_dir=options.directory).with_learning_rates()
        if (options.run_dir / "benchmark.json").exists():
            raise FileExistsError(
                f"{options.run_dir} already holds a benchmark; resume it with --resume {options.run_dir} or choose another --run-dir."
            )
        options.run_dir.mkdir(parents=True, exist_ok=True)
        write_json(options.run_dir / "benchmark.json", json.loads(options.to_json()))
    cells = options.cells()
    for kind, env, cell in cells:  # an interrupted cell resumes on its own layout: refused here too, not recorded as its failure
        run = Run(cell.run_dir)
        if run.config.exists() and not run.ended:
            source = "as given" if layout else f"as {run.config} records"
            _check_layout(dataclasses.replace(run.options(), **layout), f"the interrupted cell {kind} × {env}", source)
    steps_per_cell = cells[0][2].trained_steps
    progress = BenchmarkProgress(options.torso.kind, options.env, steps_per_cell, "console" in options.logger, console)
    quiet = Console(quiet=True)
    resume_command = f"memorax benchmark --resume {options.run_dir}{layout_flags(layout)}"
    try:
        with StopRequests() as stop:  # a request in a cell's last interval stops the grid after that cell
            stop.notice = "stopping the grid after the current cell (Ctrl-C again stops at once)."
            for kind, env, cell in cells:
                run = Run(cell.run_dir)
                if run.ended:
                    progress.finish(kind, env, _outcome(run))
                    continue
                records = run.records() if run.config.exists() else []
                progress.start(kind, env, completed=records[-1]["env_steps"] if records else 0)
                try:
                    if run.config.exists():
                        train(resume=run.directory, loggers=[progress, *loggers], console=quiet, **layout)
                    else:
                        train(cell, loggers=[progress, *loggers], console=quiet)
                except KeyboardInterrupt:
                    console.print(f"Stopped in cell {kind} × {env}. Continue with: {resume_command}", soft_wrap=True)
                    raise
                except Exception as error:  # a failed cell (a NaN, say) is reported, and the grid goes on
                    run.directory.mkdir(parents=True, exist_ok=True)
                    write_json(run.failure, {"error": f"{type(error).__name__}: {error}"})
                progress.finish(kind, env, _outcome(run))
                jax.clear_caches()  # a cell's programs never run again; kept, a grid's could pass Linux's mapping limit (cli.md)
                if stop.requested and cell is not cells[-1][2]:
                    console.print(f"Stopped after cell {kind} × {env}. Continue with: {resume_command}", soft_wrap=True)
                    raise KeyboardInterrupt
    finally:
        progress.close()
    report = write_report(options, cells, options.run_dir)
    console.print(f"{options.run_dir}: {len(cells)} cells × {options.seeds} seeds; report in {report}", soft_wrap=True)
    return options.run_dir


def _check_layout(options: TrainOptions, what: str, source: str | None) -> None:
    """Refuses a layout of devices this machine lacks before any cell runs (not as the failure of every cell).

    ``source`` says where a resumed layout comes from; None for a new grid's, whose own message names its flags.
    """
    try:
        options.check_seed_devices()
        data_mesh(options.devices, options.seed_devices)
    except ValueError as error:
        if source is None:
            raise
        raise ValueError(
            f"benchmark: {what} resumes with --devices {options.devices} and --seed-devices {options.seed_devices} "
            f"({source}): {error} Give --devices and --seed-devices that fit this machine."
        ) from None


def _outcome(run: Run) -> str:
    """A finished cell in a few characters: its mean evaluation return, or ``failed``."""
    if run.failure.exists():
        return "failed"
    return f"{read_json(run.evaluation)['mean_return']:+.3f}"
