"""The command line: ``memorax train``, ``memorax benchmark``, ``memorax evaluate RUN_DIR``, ``memorax compare RUN_DIR...``
and ``memorax diagnose RUN_DIR``.

Run it through the entry point, ``memorax.launch.main`` (the ``memorax`` command
or ``python -m memorax``), which joins the hosts of a ``--distributed`` run first.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import re
import sys
from pathlib import Path
from typing import Annotated, Union

import jax
import tyro

from memorax.launch_options import Launch
from memorax.training import TrainOptions, compare_runs, evaluate_run, train
from memorax.training.benchmark import BenchmarkOptions, benchmark
from memorax.training.checkpoints import CheckpointError
from memorax.training.diagnose import diagnose_run, summary
from memorax.training.options import DescribedDefault, EvalPolicy
from memorax.training.presets import Preset, with_preset

USAGE_ERROR = 2
INTERRUPTED = 130


@dataclasses.dataclass(frozen=True)
class Train:
    """Train an agent; with no options, PPO with a GRU on memorax::RepeatPrevious-Easy, which it solves in under a minute on a CPU."""

    options: Annotated[TrainOptions, tyro.conf.arg(name="")]
    preset: Preset | None = None
    """Start from option values chosen for a family of tasks (docs/benchmarks.md); options given here override them."""
    resume: Path | None = None
    """Continue the run in this directory from its last checkpoint, with its config.json's options (other options than --devices and
    --seed-devices are refused)."""
    launch: Annotated[Launch, tyro.conf.arg(name="")] = Launch()

    def run(self) -> None:
        if self.launch.distributed and not jax.distributed.is_initialized():
            raise ValueError(
                "--distributed: start the run with the memorax command (or python -m memorax), which joins the processes first."
            )
        if self.resume is not None:
            train(resume=self.resume, devices=self.options.devices, seed_devices=self.options.seed_devices)
        else:
            train(self.options)


@dataclasses.dataclass(frozen=True)
class Benchmark:
    """Train every --torso.kind on every --env with --seeds seeds each (one program per cell); report IQMs with 95% CIs, MMER and plots."""

    options: Annotated[BenchmarkOptions, tyro.conf.arg(name="")]
    preset: Preset | None = None
    """Start from option values chosen for a family of tasks (docs/benchmarks.md); options given here override them."""
    resume: Path | None = None
    """Continue the benchmark in this directory: finished cells are kept, the interrupted one resumes from its checkpoint
    (with its benchmark.json's options: other options than --devices and --seed-devices are refused)."""

    def run(self) -> None:
        if self.resume is not None:
            benchmark(resume=self.resume, devices=self.options.devices, seed_devices=self.options.seed_devices)
        else:
            benchmark(self.options)


@dataclasses.dataclass(frozen=True)
class Evaluate:
    """Play episodes with a run's last checkpoint and report the mean and spread of their returns (JSON on stdout)."""

    run_dir: tyro.conf.Positional[Path]
    """The run directory."""
    episodes: int = 64
    """Episodes to play, in parallel."""
    seed: int = 0
    """Seeds the environments and, for stochastic policies, the actions."""
    policy: Annotated[EvalPolicy | None, DescribedDefault] = None
    """greedy or sampled, as train's --eval-policy (default: the run's)."""

    def run(self) -> None:
        print(json.dumps(evaluate_run(self.run_dir, self.episodes, self.seed, self.policy), indent=2))


@dataclasses.dataclass(frozen=True)
class Compare:
    """Draw the learning curves of several runs in one plot, e.g. a GRU against an MLP on a memory task."""

    run_dirs: tyro.conf.Positional[Annotated[tuple[Path, ...], DescribedDefault]]
    """The run directories, one or more."""
    output: Path = Path("compare.png")
    """The image to write: a PNG, or the format its suffix names (matplotlib's); without a suffix, NAME.png."""
    labels: Annotated[tuple[str, ...], DescribedDefault] = ()
    """One legend label per run (default: the directory names)."""

    def run(self) -> None:
        print(compare_runs(self.run_dirs, self.output, self.labels))


@dataclasses.dataclass(frozen=True)
class Diagnose:
    """Measure how far back a run's trained policy looks (its memory horizon); writes RUN_DIR/diagnostics/."""

    run_dir: tyro.conf.Positional[Path]
    """The run directory."""
    max_lag: int = 16
    """The largest lag k whose sensitivity is measured."""
    num_envs: int = 16
    """Sequences of the run's environment, played by the trained policy, to average over."""
    num_steps: int = 128
    """Steps per sequence."""
    seed: int = 0
    """Seeds the sequences, the probe directions and the untrained network."""

    def run(self) -> None:
        print(summary(diagnose_run(self.run_dir, self.max_lag, self.num_envs, self.num_steps, self.seed)))


RESUME_OPTIONS = ("--resume", "--devices", "--seed-devices", *(f"--{field.name.replace('_', '-')}" for field in dataclasses.fields(Launch)))
"""What --resume takes beside it: the layout of devices and how the processes of a multi-host run join."""


def refuse_options_beside_resume(args: list[str]) -> None:
    """Raises a ValueError naming the options typed with --resume, which takes its own from the directory, but the layout."""
    given = list(dict.fromkeys(arg.split("=")[0] for arg in args if arg.startswith("--")))
    refused = [option for option in given if option.replace("_", "-") not in RESUME_OPTIONS]
    if refused:
        raise ValueError(
            f"--resume continues with the options recorded in its directory; {', '.join(refused)} would be ignored. "
            "Give only --devices, --seed-devices and the options of a multi-host launch with it, or start a new run."
        )


def commands(preset: Preset | None = None, env: str | tuple[str, ...] | None = None):
    """The subcommands; ``train`` and ``benchmark`` default to ``preset``'s values for ``env`` (a preset may read the task)."""
    train_options, grid_options = TrainOptions(), BenchmarkOptions()
    if isinstance(env, str):
        train_options = dataclasses.replace(train_options, env=env)
    elif env is not None:
        grid_options = dataclasses.replace(grid_options, env=env)
    train = Train(options=with_preset(train_options, preset), preset=preset)
    grid = Benchmark(options=with_preset(grid_options, preset), preset=preset)
    return Union[
        Annotated[Train, tyro.conf.subcommand("train", default=train)],
        Annotated[Benchmark, tyro.conf.subcommand("benchmark", default=grid)],
        Annotated[Evaluate, tyro.conf.subcommand("evaluate")],
        Annotated[Compare, tyro.conf.subcommand("compare")],
        Annotated[Diagnose, tyro.conf.subcommand("diagnose")],
    ]


def one_line(report: str) -> str:
    """tyro's boxed error report as one line: its message, without the box, the help text or the hint."""
    message = []
    for line in report.splitlines()[1:]:  # the first line is the box's title
        text = line.strip().strip("│|").strip()
        if not text or set(text) <= set("─-╰╯+"):  # a rule: above the message (ASCII boxes) or below it
            if message:
                break
            continue
        message.append(text)
    text = " ".join(message)
    parsing = re.match(r"Error parsing (\S+): (.*)", text)
    if parsing is None:
        return text or report.strip()
    argument, problem = parsing.groups()
    # A config's own check names its field already (PPOOptions.num_envs, --total-steps), where tyro's path to it
    # would only confuse; tyro's own messages (a value of the wrong type) do not, so they get the argument's name.
    return problem if re.match(r"--|[A-Z]\w*\.\w+", problem) else f"{argument}: {problem}"


def parse(args: list[str] | None) -> Train | Benchmark | Evaluate | Compare | Diagnose:
    """The command; a bad one exits with code 2 and one line naming the problem (and, for a choice, the valid ones)."""
    report = io.StringIO()
    try:
        with contextlib.redirect_stderr(report):
            command = tyro.cli(commands(), args=args, prog="memorax", description=__doc__)
            if getattr(command, "resume", None) is not None:
                refuse_options_beside_resume(sys.argv[1:] if args is None else args)
            if getattr(command, "preset", None) is not None:  # parsed again, from the preset's values for the task
                command = tyro.cli(commands(command.preset, command.options.env), args=args, prog="memorax", description=__doc__)
            return command
    except SystemExit as exit:
        if exit.code != USAGE_ERROR:
            raise
        print(f"memorax: error: {one_line(report.getvalue())}", file=sys.stderr)
        raise
    except ValueError as error:  # a check across options, which tyro leaves to the application
        print(f"memorax: error: {error}", file=sys.stderr)
        sys.exit(USAGE_ERROR)


def main(args: list[str] | None = None) -> None:
    command = parse(args)
    try:
        command.run()
    except KeyboardInterrupt:
        sys.exit(INTERRUPTED)
    except (ValueError, FileNotFoundError, FileExistsError, CheckpointError) as error:
        print(f"memorax: error: {error}", file=sys.stderr)
        sys.exit(USAGE_ERROR)
    except FloatingPointError as error:
        print(f"memorax: error: {error}", file=sys.stderr)
        sys.exit(1)
