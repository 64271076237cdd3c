"""A benchmark's results and report: interquartile means with stratified-bootstrap intervals (rliable), MMER, and plots.

For each cell (a model on a task) the score of a seed is its final
evaluation return (greedy, unless the options' ``eval_policy`` is sampled).
The report gives, per cell, the interquartile mean (IQM) of the seeds'
scores with a 95% bootstrap confidence interval, and the MMER of the POPGym
paper (Morad et al., ICLR 2023): for each seed the maximum over
logging intervals of the interval's mean episode return, averaged over
seeds. Per model it aggregates over tasks: the IQM of all its runs with a
95% stratified-bootstrap interval (runs resampled within each task; Agarwal
et al., NeurIPS 2021, through their rliable library). Scores are not
normalised: the aggregate means most where tasks share a scale, as the
built-in POPGym tasks' returns in [-1, 1] do. Intervals use 2,000 bootstrap
samples, each interval drawn from the same fixed seed: a report is reproducible,
and a cell's interval depends only on its own scores, not on the cells beside it.

Below 5 seeds a cell's interval says less than its name: over 2.5% of the
resamples have the lowest seed's return as their IQM (3 seeds: all three draws
the lowest, 1/27; 4 seeds: three of four, 5%), and as many the highest, so the
95% percentile interval is the lowest and highest seeds' returns; and the IQM
of 2 or 3 values trims none (it is their mean). The report's legend says so.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from memorax.files import read_json, write_json  # noqa: E402
from memorax.training.options import TrainOptions  # noqa: E402
from memorax.training.plots import draw_curves, returns_of  # noqa: E402
from memorax.training.run import Run  # noqa: E402

BOOTSTRAP_SAMPLES = 2_000
BOOTSTRAP_SEED = 0
FEWEST_SEEDS_FOR_AN_INTERVAL = 5  # with fewer, over 2.5% of the bootstrap's resamples have the lowest seed's return as IQM
CURVE_COLUMNS = 4  # wider grids shrink each task's panel past reading on a screen


@contextlib.contextmanager
def seeded_numpy(seed: int) -> Iterator[None]:
    """NumPy's global generator seeded with ``seed`` inside, restored after.

    rliable's bootstraps (1.2.0) draw their indices from the global generator
    (``np.random.choice`` in ``StratifiedBootstrap.update_indices``) and ignore
    the ``random_state`` they are given: without this, two reports of the same
    runs differed in their intervals' last digits.
    """
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def iqm_interval(scores: np.ndarray) -> tuple[float, float, float]:
    """``(IQM, low, high)`` of ``scores [runs, tasks]``: the interquartile mean with its 95% stratified-bootstrap interval."""
    from rliable import library, metrics  # imported here: its bootstrap pulls in pandas and arch

    with seeded_numpy(BOOTSTRAP_SEED):
        estimate, interval = library.get_interval_estimates(
            {"scores": scores}, lambda x: np.array([metrics.aggregate_iqm(x)]), reps=BOOTSTRAP_SAMPLES
        )
    return float(estimate["scores"][0]), float(interval["scores"][0, 0]), float(interval["scores"][1, 0])


def interval_text(estimate: tuple[float, float, float]) -> str:
    """``IQM [low, high]`` of an :func:`iqm_interval` estimate, to three decimals."""
    iqm, low, high = estimate
    return f"{iqm:+.3f} [{low:+.3f}, {high:+.3f}]"


def cell_text(cell: dict, mmer: float | None = None) -> str:
    """A report's cell for a results.json entry: its seeds' IQM [95% bootstrap CI] · MMER, or ``failed (Error)``.

    The MMER is the mean of the seeds' own unless ``mmer`` is given; it is left
    out where no seed logged an interval with an episode's end.
    """
    if cell["status"] == "failed":
        return f"failed ({cell['error'].split(':')[0]})"
    text = interval_text(iqm_interval(np.array([[seed["final_return"]] for seed in cell["seeds"]])))
    if mmer is None:
        mmers = [seed["mmer"] for seed in cell["seeds"] if seed.get("mmer") is not None]
        mmer = float(np.mean(mmers)) if mmers else None
    return text if mmer is None else f"{text} · MMER {mmer:+.3f}"


def cell_results(kind: str, env: str, options: TrainOptions, records: list[dict]) -> dict:
    """One cell's entry of results.json from its run's ``records``: its config, and per seed its final return, MMER and curve (or its error).

    The config is the run's own config.json where it has one (a grid resumed on
    another layout of devices ran its earlier cells on the first), else ``options``.
    """
    run = Run(options.run_dir)
    config = read_json(run.config) if run.config.exists() else json.loads(options.to_json())
    entry = {"torso": kind, "env": env, "config": config}
    if run.failure.exists():
        return dict(entry, status="failed", error=read_json(run.failure)["error"])
    evaluation = read_json(run.evaluation)
    finals = evaluation.get("seeds", [dict(evaluation, seed=options.seed)])
    steps, returns = returns_of(records)
    seeds = []
    for index, final in enumerate(finals):
        curve = returns[:, index]
        seeds.append(
            {
                "seed": final["seed"],
                "final_return": final["mean_return"],
                "mmer": float(np.nanmax(curve)) if np.isfinite(curve).any() else None,
                "curve": {"env_steps": steps.tolist(), "episode_return": [None if np.isnan(v) else float(v) for v in curve]},
            }
        )
    return dict(entry, status="done", seeds=seeds)


def write_report(options, cells: Sequence[tuple[str, str, TrainOptions]], directory: Path) -> Path:
    """Writes results.json, report.md, curves.png, iqm.png and profile.png in ``directory``; returns report.md's path."""
    records = {(kind, env): Run(cell.run_dir).records() for kind, env, cell in cells}
    results = [cell_results(kind, env, cell, records[kind, env]) for kind, env, cell in cells]
    write_json(directory / "results.json", {"cells": results})
    kinds, envs = list(dict.fromkeys(r["torso"] for r in results)), list(dict.fromkeys(r["env"] for r in results))
    by_cell = {(r["torso"], r["env"]): r for r in results}

    finished = {kind: all(by_cell[kind, env]["status"] == "done" for env in envs) for kind in kinds}
    scores = {
        kind: np.array([[seed["final_return"] for seed in by_cell[kind, env]["seeds"]] for env in envs]).T
        for kind in kinds
        if finished[kind]
    }  # [seeds, tasks]
    aggregates = {kind: iqm_interval(kind_scores) for kind, kind_scores in scores.items()}
    rows = []
    for kind in kinds:
        row = [kind]
        row.extend(cell_text(by_cell[kind, env]) for env in envs)
        row.append(interval_text(aggregates[kind]) if kind in aggregates else "— (a cell failed)")
        rows.append(row)

    steps = cells[0][2].trained_steps
    cell_legend = (
        "IQM over seeds [95% bootstrap CI]"
        if options.seeds >= FEWEST_SEEDS_FOR_AN_INTERVAL
        else f"IQM over seeds [lowest, highest seed: what the 95% bootstrap CI of {options.seeds} values is]"
    )
    left_out = [kind for kind in kinds if not finished[kind]]
    lines = [
        f"# Benchmark: {options.algorithm}, {options.seeds} seeds per cell, {steps:,} environment steps per seed",
        "",
        f"Final {options.eval_policy} evaluation return: {cell_legend} · MMER (mean over seeds of the best interval's mean return).",
        "The last column aggregates a model over tasks: IQM of all its runs [95% stratified-bootstrap CI]"
        + (", a single point with one seed per cell (each task's only run is all its resamples draw)." if options.seeds == 1 else "."),
        "",
        "| model | " + " | ".join(envs) + " | all tasks |",
        "| --- |" + " --- |" * (len(envs) + 1),
        *("| " + " | ".join(row) + " |" for row in rows),
        "",
        *([f"The IQM chart and the profile leave out the models with a failed cell: {', '.join(left_out)}.", ""] if left_out else []),
        "![learning curves](curves.png)",
        "![IQM over tasks](iqm.png)",
        "![performance profile](profile.png)",
        "",
    ]
    report = directory / "report.md"
    report.write_text("\n".join(lines))
    plot_task_curves(directory / "curves.png", kinds, envs, records)
    colours = {kind: f"C{index}" for index, kind in enumerate(kinds)}  # the curves' colours, models with a failed cell included
    _plot_iqm(directory / "iqm.png", aggregates, colours)
    _plot_profile(directory / "profile.png", scores, colours)
    return report


def plot_task_curves(path: Path, kinds: list[str], envs: list[str], records: dict[tuple[str, str], list[dict]]) -> None:
    """One panel per task, at most ``CURVE_COLUMNS`` a row, one line per model: the mean of the seeds' smoothed curves with its 95% band."""
    columns = min(len(envs), CURVE_COLUMNS)
    rows = -(-len(envs) // columns)
    figure, panels = plt.subplots(rows, columns, figsize=(6 * columns, 4.2 * rows), dpi=100, squeeze=False)
    for panel, env in zip(panels.flat, envs):
        draw_curves(panel, {kind: records[kind, env] for kind in kinds}, env)
    for panel in panels.flat[len(envs) :]:
        panel.set_axis_off()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def _plot_iqm(path: Path, estimates: dict[str, tuple[float, float, float]], colours: dict[str, str]) -> None:
    """Each model's IQM over all tasks and runs, with its 95% stratified-bootstrap interval."""
    figure, axes = plt.subplots(figsize=(6, 0.6 * len(estimates) + 1.5), dpi=100)
    for row, (kind, (iqm, low, high)) in enumerate(estimates.items()):
        # A bound can fall an ulp inside the estimate (trim_mean's rounding depends on order); matplotlib refuses negative bars.
        bars = [[max(iqm - low, 0.0)], [max(high - iqm, 0.0)]]
        axes.errorbar(iqm, row, xerr=bars, fmt="o", color=colours[kind], capsize=4, linewidth=2)
    axes.set_yticks(range(len(estimates)), list(estimates))
    axes.set_xlabel("IQM of final return over tasks and seeds (95% CI)")
    axes.grid(alpha=0.3, axis="x")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def _plot_profile(path: Path, scores: dict[str, np.ndarray], colours: dict[str, str]) -> None:
    """The performance profile: the fraction of runs whose final return exceeds τ, with 95% bootstrap bands."""
    from rliable import library

    figure, axes = plt.subplots(figsize=(6, 4.2), dpi=100)
    if scores:
        everything = np.concatenate([s.ravel() for s in scores.values()])
        taus = np.linspace(everything.min() - 1e-6, everything.max() + 1e-6, 101)
        with seeded_numpy(BOOTSTRAP_SEED):
            profiles, bands = library.create_performance_profile(scores, taus, reps=BOOTSTRAP_SAMPLES)
        for kind in scores:
            axes.plot(taus, profiles[kind], color=colours[kind], linewidth=2, label=kind)
            axes.fill_between(taus, bands[kind][0], bands[kind][1], color=colours[kind], alpha=0.2, linewidth=0)
        axes.legend()
    axes.set_xlabel("final return τ")
    axes.set_ylabel("fraction of runs with return > τ")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
