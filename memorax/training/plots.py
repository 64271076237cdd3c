"""Learning curves: episode return against environment steps, smoothed; over several seeds, their mean with a 95% band."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: runs happen on machines without a display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from memorax.training.statistics import mean_interval  # noqa: E402


def smooth(values: np.ndarray, weight: float) -> np.ndarray:
    """Exponential moving average ``s_t = w s_{t-1} + (1 - w) v_t``, started at the first value (TensorBoard's smoothing).

    A NaN value (no episode ended) keeps the average where it was; before the first value it is NaN.
    """
    smoothed = np.empty_like(values)
    running = np.nan
    for index, value in enumerate(values):
        if np.isnan(running):
            running = value
        elif not np.isnan(value):
            running = weight * running + (1 - weight) * value
        smoothed[index] = running
    return smoothed


def returns_of(records: Sequence[dict]) -> tuple[np.ndarray, np.ndarray]:
    """Env steps ``[intervals]`` and each seed's mean episode return ``[intervals, seeds]`` (NaN where none ended).

    A record of several seeds holds them in its ``seeds`` field; intervals
    in which no seed's episode ended are left out.
    """
    rows = [
        (record["env_steps"], [np.nan if seed.get("episode_return") is None else seed["episode_return"] for seed in record.get("seeds", [record])])
        for record in records
    ]
    rows = [(steps, returns) for steps, returns in rows if not np.isnan(returns).all()]
    if not rows:
        return np.zeros(0), np.zeros((0, len(records[0].get("seeds", [None])) if records else 1))
    steps, returns = zip(*rows)
    return np.asarray(steps, float), np.asarray(returns, float)


def plot_curves(curves: dict[str, Sequence[dict]], path: Path, title: str) -> None:
    """One line per labelled run in a PNG at ``path``, drawn by :func:`draw_curves`."""
    figure, axes = plt.subplots(figsize=(7, 4.2), dpi=110)
    draw_curves(axes, curves, title)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def draw_curves(axes: plt.Axes, curves: dict[str, Sequence[dict]], title: str) -> None:
    """One line per labelled run's records on ``axes``: smoothed over about 5% of the run.

    The smoothing weight is ``1 - 20 / points`` (at most 0.95), an average over
    about ``points / 20`` intervals, so that short runs are not drawn lagging
    behind. A run of one seed shows its raw values faint behind the line; a
    run of several shows the mean of the smoothed seeds and its 95%
    confidence band.
    """
    for index, (label, records) in enumerate(curves.items()):
        steps, returns = returns_of(records)
        if len(steps) == 0:
            continue
        weight = float(np.clip(1 - 20 / len(steps), 0.0, 0.95))
        color = f"C{index}"
        smoothed = np.stack([smooth(seed, weight) for seed in returns.T], axis=1)
        mean, low, high = mean_interval(smoothed, axis=1)
        seeds = returns.shape[1]
        if seeds == 1:
            axes.plot(steps, returns[:, 0], color=color, alpha=0.25, linewidth=1)
        else:
            axes.fill_between(steps, low, high, color=color, alpha=0.2, linewidth=0)
            label = f"{label} ({seeds} seeds, 95% CI)"
        axes.plot(steps, mean, color=color, linewidth=2, label=label)
    axes.set_xlabel("environment steps")
    axes.set_ylabel("mean episode return")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    if axes.get_legend_handles_labels()[0]:
        axes.legend()


def plot_formats() -> set[str]:
    """The file suffixes (without the dot) matplotlib writes figures to: png, pdf, svg, ..."""
    return set(plt.Figure().canvas.get_supported_filetypes())  # a figure outside pyplot's: nothing to close
