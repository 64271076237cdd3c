"""A training run: jitted chunks of training between which the host logs, plots and checkpoints.

Interval ``i`` trains ``interval_steps`` environment steps with the key
``fold_in(train_key, i)`` from the state interval ``i - 1`` ended with, then
saves that state. A run resumed from the checkpoint of interval ``i``
therefore continues exactly as if it had never stopped.

Across several processes (``jax.distributed``) every process trains,
evaluates and checkpoints (orbax coordinates the writes); only the first
writes the run's other files and reports progress.
"""

from __future__ import annotations

import dataclasses
import json
import math
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np
from jax.experimental import multihost_utils
from rich.console import Console

from memorax.algorithms import DQN, PPO, PQN, SAC
from memorax.files import read_json, write_json
from memorax.loggers import JsonLinesLogger, Logger, ProgressBar, TensorBoardLogger, WandbLogger, read_records
from memorax.training import build
from memorax.training.checkpoints import Checkpoints
from memorax.training.options import EvalPolicy, TrainOptions, from_fields
from memorax.training.plots import plot_curves, plot_formats
from memorax.training.seeds import Seeds
from memorax.training.statistics import mean_interval


@dataclasses.dataclass(frozen=True)
class Run:
    """The files of a run directory."""

    directory: Path

    @property
    def config(self) -> Path:
        return self.directory / "config.json"

    @property
    def metrics(self) -> Path:
        return self.directory / "metrics.jsonl"

    @property
    def curve(self) -> Path:
        return self.directory / "curve.png"

    @property
    def checkpoints(self) -> Path:
        return self.directory / "checkpoints"

    @property
    def evaluation(self) -> Path:
        return self.directory / "evaluation.json"

    @property
    def failure(self) -> Path:
        """Where a benchmark records the error that ended the run's cell."""
        return self.directory / "failure.json"

    @property
    def ended(self) -> bool:
        """Whether the run finished (it has an evaluation) or failed as a benchmark's cell."""
        return self.evaluation.exists() or self.failure.exists()

    def options(self) -> TrainOptions:
        if not self.config.exists():
            raise FileNotFoundError(f"{self.directory} is not a memorax run: it has no config.json.")
        return from_fields(TrainOptions, read_json(self.config))

    def records(self) -> list[dict]:
        return read_records(self.metrics) if self.metrics.exists() else []


def seed_record(metrics: dict) -> dict:
    """One seed's record from an interval's per-update metrics: means, with episode statistics weighted by episodes.

    A mean over no values (no episode ended, no update ran) is None: NaN marks
    those, so a NaN is dropped, except as the return of ended episodes.

    Raises:
      FloatingPointError: naming a metric that is infinite, or an ended episodes' return or length that is NaN.
    """
    metrics = jax.tree.map(np.asarray, metrics)
    episodes = metrics.pop("episodes")
    record = {"env_steps": int(metrics.pop("env_steps")[-1]), "episodes": int(episodes.sum())}
    for name in ("episode_return", "episode_length"):
        values = metrics.pop(name)
        if not np.isfinite(values[episodes > 0]).all():
            raise FloatingPointError(f"{name} of the episodes that ended is {values[episodes > 0].tolist()}")
        record[name] = float(np.sum(values * episodes, where=episodes > 0) / episodes.sum()) if episodes.sum() else None
    for name, values in metrics.items():
        if np.isinf(values).any():
            raise FloatingPointError(f"the metric {name} is infinite")
        record[name] = float(np.nanmean(values)) if np.isfinite(values).any() else None
    return record


def interval_record(interval: int, metrics: Sequence[dict], seeds: Sequence[int], seconds: float, steps: int) -> dict:
    """The record of an interval from each seed's per-update metrics.

    With one seed, its record. With several, each seed's record (with its
    ``seed``) goes in ``seeds``, and the interval's fields are their means
    over the seeds that have a value (``episodes`` their sum);
    ``steps_per_second`` counts every seed's steps.
    """
    records = [seed_record(seed_metrics) for seed_metrics in metrics]
    if len(records) == 1:
        return {"interval": interval, **records[0], "seconds": seconds, "steps_per_second": steps / seconds}
    record = {"interval": interval}
    for name in records[0]:
        values = [seed[name] for seed in records if seed[name] is not None]
        record[name] = sum(values) if name == "episodes" else float(np.mean(values)) if values else None
    record["env_steps"] = records[0]["env_steps"]
    return dict(
        record,
        seconds=seconds,
        steps_per_second=len(records) * steps / seconds,
        seeds=[{"seed": seed, **seed_record} for seed, seed_record in zip(seeds, records)],
    )


class StopRequests:
    """Within its block, Ctrl-C and SIGTERM ask the run to stop after the current interval; a second one interrupts at once.

    Stopping between intervals means a signal can never land inside a
    checkpoint write. Signal handlers exist only in the main thread; elsewhere
    the block changes nothing. Blocks nest (a benchmark's around each cell's
    run): the inner one starts with the outer one's request and hands its own
    back on leaving, so a request the inner block did not act on (one in a
    run's last interval) stops the outer one.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)
    STOPPING = "stopping after the current interval (Ctrl-C again stops at once)."
    FINISHING = "the last interval is running: it ends, is checkpointed and evaluated (Ctrl-C again stops at once)."

    def __init__(self):
        self.requested = False
        self.previous = {}
        self.notice = self.STOPPING  # what a first request prints: the run says when it is in its last interval

    def __enter__(self) -> StopRequests:
        if threading.current_thread() is threading.main_thread():
            self.previous = {number: signal.signal(number, self._request) for number in self.SIGNALS}
        self.requested = self.requested or getattr(self._outer(), "requested", False)
        return self

    def __exit__(self, *exception) -> None:
        for number, handler in self.previous.items():
            signal.signal(number, handler)
        if self.requested and (outer := self._outer()) is not None:
            outer.requested = True

    def _outer(self) -> StopRequests | None:
        """The enclosing block, whose handler this one replaced, if any."""
        outer = getattr(self.previous.get(signal.SIGINT), "__self__", None)
        return outer if isinstance(outer, StopRequests) else None

    def _request(self, number, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print(f"memorax: {self.notice}", file=sys.stderr, flush=True)


def resume_layout(devices: int | None, seed_devices: int | None) -> dict[str, int]:
    """The layout of devices given on resuming, as option overrides: only the ones given (not ``None``)."""
    return {name: value for name, value in (("devices", devices), ("seed_devices", seed_devices)) if value is not None}


def layout_flags(layout: dict[str, int]) -> str:
    """The command-line flags of a layout of devices given on resuming (``{"devices": 4}``: `` --devices 4``)."""
    return "".join(f" --{name.replace('_', '-')} {value}" for name, value in layout.items())


def train(
    options: TrainOptions | None = None,
    resume: Path | None = None,
    loggers: Sequence[Logger] = (),
    console: Console | None = None,
    devices: int | None = None,
    seed_devices: int | None = None,
) -> Run:
    """Trains the agent ``options`` describe (or resumes the run in ``resume``) and evaluates it.

    Resuming a run that stopped before its first checkpoint starts it again;
    ``devices`` and ``seed_devices``, where given, resume it on another layout of devices than its own.

    Writes config.json, metrics.jsonl, curve.png, checkpoints/ and
    evaluation.json in the run directory. Ctrl-C or SIGTERM stops at the end
    of the current interval, checkpointed, by raising ``KeyboardInterrupt``
    (a second one raises it at once). ``loggers`` receive each record after the ones the
    options ask for.
    """
    if (options is None) == (resume is None):
        raise ValueError("train: give either options (a new run) or resume (a run directory), not both or neither.")
    console = console or Console(stderr=True)
    writer = jax.process_index() == 0
    layout = resume_layout(devices, seed_devices)
    if resume is not None:
        run = Run(resume)
        options = dataclasses.replace(run.options(), **layout)
    else:
        if options.run_dir is None and jax.process_count() > 1:
            raise ValueError("a run on several processes needs --run-dir, the same directory on a filesystem they share.")
        # config.json records the rate the run trains at, not None: a later memorax with other defaults resumes it alike.
        options = dataclasses.replace(options, run_dir=options.directory, learning_rate=options.optimizer_learning_rate)
        run = Run(options.run_dir)
    options.check_seed_devices()
    if resume is None:
        options.check_learning_starts()
    if run.directory.exists() and not run.directory.is_dir():
        raise ValueError(f"--run-dir {run.directory} is a file; expected a directory (new, or a run's).")
    if resume is None and run.config.exists():
        if not (run.metrics.exists() and run.metrics.read_text().strip()):
            raise FileExistsError(
                f"{run.directory} holds a run with no finished interval (it failed or was stopped before one ended, or is still "
                f"starting); resume it with --resume {run.directory} to start it again with its own options, or, once it is "
                "not running, delete it to start with others; or choose another --run-dir."
            )
        raise FileExistsError(
            f"{run.directory} already holds a run; resume it with --resume {run.directory} or choose another --run-dir."
        )
    if jax.process_count() > 1:  # every process has checked the directory before the first writes to it
        multihost_utils.sync_global_devices("memorax: run directory checked")
    steps = options.interval_steps
    seeds = Seeds(build.agent(options), options.seed, options.seeds, steps)
    state = seeds.init()
    checkpoints = Checkpoints(run.checkpoints)
    start = 0
    if resume is not None and checkpoints.latest() is not None:
        state, progress = checkpoints.restore(state)
        start = progress["interval"] + 1
    elif resume is None and writer:
        run.directory.mkdir(parents=True, exist_ok=True)
        try:
            with open(run.config, "x") as config:  # created only if absent: a run started there since the check keeps it
                config.write(options.to_json())
        except FileExistsError:
            raise FileExistsError(
                f"{run.directory} already holds a run, started while this one compiled; choose another --run-dir."
            ) from None

    num_intervals = math.ceil(options.total_steps / steps)
    owned: list[Logger] = []  # the loggers this run opens, and closes
    try:
        if writer:
            metrics_file = JsonLinesLogger(run.metrics, keep_below=start)
            owned.append(metrics_file)
            if "tensorboard" in options.logger:
                # Interval i's record is at env_steps (i + 1) * steps: those past the checkpoint's are logged again.
                owned.append(TensorBoardLogger(run.directory / "tensorboard", purge_step=start * steps + 1 if start else None))
            if "wandb" in options.logger:
                owned.append(WandbLogger(run.directory, run.directory.name, json.loads(options.to_json())))
            if "console" in options.logger:
                name = f"{options.algorithm}-{'-'.join(options.torso.kinds)}"
                name += f" ×{options.seeds} seeds" if options.seeds > 1 else ""
                owned.append(ProgressBar(name, num_intervals * steps, start * steps, console))
    except BaseException:  # a logger that cannot open (wandb failing to start, say) leaves none of the others open
        for logger in owned:
            logger.close()
        checkpoints.close()
        raise
    saved = completed = start - 1
    try:
        with StopRequests() as stop:
            for interval in range(start, num_intervals):
                stop.notice = stop.FINISHING if interval + 1 == num_intervals else stop.STOPPING
                began = time.perf_counter()
                next_state, metrics = seeds.train(interval, state)
                if not all(bool(np.isfinite(leaf).all()) for leaf in jax.tree.leaves(next_state.params)):
                    raise FloatingPointError(
                        f"interval {interval}: training made parameters NaN or infinite; {_last_checkpoint(saved)}."
                    )
                state, completed = next_state, interval
                if writer:  # logged before the checkpoint: a resume drops a line past it, but never lacks one before it
                    seconds = time.perf_counter() - began
                    try:
                        record = interval_record(interval, seeds.per_seed(metrics), seeds.values, seconds, steps)
                    except FloatingPointError as error:
                        raise FloatingPointError(f"interval {interval}: {error}; {_last_checkpoint(saved)}.") from None
                    for logger in (*owned, *loggers):
                        logger.log(record)
                    plot_curves({run.directory.name: metrics_file.records}, run.curve, f"{options.algorithm} on {options.env}")
                checkpoints.save(interval, state, {"interval": interval, "env_steps": (interval + 1) * steps})
                saved = interval
                if stop.requested and interval + 1 < num_intervals:
                    raise KeyboardInterrupt
    except KeyboardInterrupt:
        recorded = not writer or (metrics_file.records and metrics_file.records[-1]["interval"] == completed)
        # Saved only with its record (a second Ctrl-C may land before it is written, or after the save committed).
        if completed > saved and recorded and checkpoints.latest() != completed:
            checkpoints.save(completed, state, {"interval": completed, "env_steps": (completed + 1) * steps})
        saved = completed if checkpoints.latest() == completed else saved
        where = f"after interval {saved + 1} of {num_intervals}" if saved >= 0 else "before the first interval ended"
        if writer:
            console.print(f"Stopped {where}. Continue with: memorax train --resume {run.directory}{layout_flags(layout)}", soft_wrap=True)
        raise
    finally:
        for logger in owned:
            logger.close()
        checkpoints.close()

    results = seeds.evaluate(state, options.eval_episodes, greedy=options.eval_policy == "greedy")
    evaluation = dict(evaluation_record(results, seeds.values), policy=options.eval_policy)
    if not writer:
        return run
    write_json(run.evaluation, evaluation)
    console.print(
        f"{run.directory}: {num_intervals * steps:,} steps; evaluation over {options.eval_episodes} episodes: "
        f"return {describe(evaluation)}",
        soft_wrap=True,  # one line in a log, where a wrapped path could not be copied
    )
    return run


def _last_checkpoint(saved: int) -> str:
    """What a run stopped by an error keeps, ``saved`` being the last checkpointed interval (−1 for none)."""
    return f"the run keeps its last checkpoint ({'none' if saved < 0 else f'interval {saved}'})"


def evaluation_record(results: Sequence[dict], seeds: Sequence[int]) -> dict:
    """Mean, spread and length of the returns of one seed's evaluation.

    With several seeds, each seed's (with its ``seed``) goes in ``seeds``;
    ``mean_return`` and ``mean_length`` are their means over seeds, and
    ``ci95_return`` is the 95% confidence interval of the mean return over seeds.
    """
    records = [{name: float(result[name]) for name in ("mean_return", "std_return", "mean_length")} for result in results]
    if len(records) == 1:
        return records[0]
    mean, low, high = mean_interval(np.array([record["mean_return"] for record in records]))
    return {
        "mean_return": float(mean),
        "ci95_return": [float(low), float(high)],
        "mean_length": float(np.mean([record["mean_length"] for record in records])),
        "seeds": [{"seed": seed, **record} for seed, record in zip(seeds, records)],
    }


def describe(evaluation: dict) -> str:
    """An evaluation's return in words: ``+0.912 ± 0.050``, or over seeds with its confidence interval."""
    if "seeds" not in evaluation:
        return f"{evaluation['mean_return']:+.3f} ± {evaluation['std_return']:.3f}"
    low, high = evaluation["ci95_return"]
    seeds = len(evaluation["seeds"])
    finite = sum(bool(np.isfinite(seed["mean_return"])) for seed in evaluation["seeds"])
    over = f"{seeds} seeds" if finite == seeds else f"the {finite} of {seeds} seeds with a finite return"
    return f"{evaluation['mean_return']:+.3f} (95% CI {low:+.3f} to {high:+.3f}) over {over}"


def load(directory: Path) -> tuple[TrainOptions, PPO | PQN | DQN | SAC, Any, dict]:
    """A run's options, its agent on one device, and the state and progress of its latest checkpoint.

    The state of a run of several seeds has a leading seed axis.
    """
    options, seeds, state, progress = _load_seeds(directory)
    return options, seeds.agent, state, progress


def _load_seeds(directory: Path) -> tuple[TrainOptions, Seeds, Any, dict]:
    options = dataclasses.replace(Run(directory).options(), devices=1, seed_devices=1)
    seeds = Seeds(build.agent(options), options.seed, options.seeds, options.interval_steps)
    checkpoints = Checkpoints(Run(directory).checkpoints)
    try:
        state, progress = checkpoints.restore(seeds.init())
    finally:
        checkpoints.close()
    return options, seeds, state, progress


def evaluate_run(directory: Path, episodes: int = 64, seed: int = 0, policy: EvalPolicy | None = None) -> dict:
    """Plays ``episodes`` episodes with a run's latest checkpoint: mean, spread and length of returns.

    One seed plays with ``key(seed)``; a run of several seeds evaluates each
    (with the keys ``split(key(seed), seeds)``) as ``evaluation_record`` describes.
    ``policy`` is greedy or sampled, as ``--eval-policy`` (default: the run's).
    """
    if episodes < 1:
        raise ValueError(f"evaluate: episodes (--episodes) is {episodes}; expected at least 1.")
    if seed < 0:  # jax.random.key(-1) is key(2**32 - 1), as for train's --seed
        raise ValueError(f"evaluate: seed (--seed) is {seed}; expected 0 or more.")
    options, seeds, state, progress = _load_seeds(directory)
    policy = policy or options.eval_policy
    keys = jax.random.split(jax.random.key(seed), options.seeds) if seeds.batched else jax.random.key(seed)[None]
    results = seeds.evaluate(state, episodes, keys, greedy=policy == "greedy")
    return dict(evaluation_record(results, seeds.values), policy=policy, episodes=episodes, env_steps=progress["env_steps"])


def compare_runs(directories: Sequence[Path], output: Path, labels: Sequence[str] = ()) -> Path:
    """Draws the learning curves of several runs in one plot; returns its path (``output``, with ``.png`` if it had no suffix)."""
    if not directories:
        raise ValueError("compare: no run directories given; expected at least one.")
    output = output if output.suffix else output.with_suffix(".png")  # what matplotlib writes to
    formats = plot_formats()
    if output.suffix[1:].lower() not in formats:
        raise ValueError(f"--output {output}: matplotlib writes no {output.suffix} files; expected one of {', '.join(sorted(formats))}.")
    runs = [Run(directory) for directory in directories]
    names = list(labels) or [run.directory.name for run in runs]
    if not labels and len(set(names)) < len(names):  # e.g. the same cell of two benchmarks
        names = [str(run.directory) for run in runs]
    if len(names) != len(runs):
        raise ValueError(f"--labels has {len(names)} names for {len(runs)} runs; expected one per run.")
    if len(set(names)) < len(names):
        raise ValueError(f"compare: the runs' names {names} repeat, and one curve would hide another; expected each once.")
    environments = {run.options().env for run in runs}
    plot_curves({name: run.records() for name, run in zip(names, runs)}, output, " / ".join(sorted(environments)))
    return output
