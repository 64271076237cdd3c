"""Learning curves: episode return against environment steps, raw and smoothed."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: runs happen on machines without a display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def smooth(values: np.ndarray, weight: float) -> np.ndarray:
    """Exponential moving average ``s_t = w s_{t-1} + (1 - w) v_t``, started at the first value (TensorBoard's smoothing)."""
    smoothed = np.empty_like(values)
    running = values[0]
    for index, value in enumerate(values):
        running = weight * running + (1 - weight) * value
        smoothed[index] = running
    return smoothed


def returns_of(records: Sequence[dict]) -> tuple[np.ndarray, np.ndarray]:
    """Env steps and mean episode return of the intervals in which episodes ended."""
    points = [(r["env_steps"], r["episode_return"]) for r in records if r.get("episode_return") is not None]
    steps, returns = zip(*points) if points else ((), ())
    return np.asarray(steps, float), np.asarray(returns, float)


def plot_curves(curves: dict[str, Sequence[dict]], path: Path, title: str) -> None:
    """One line per labelled run in a PNG at ``path``: smoothed over about 5% of the run, the raw values faint.

    The smoothing weight is ``1 - 20 / points`` (at most 0.95), an average over
    about ``points / 20`` intervals, so that short runs are not drawn lagging behind.
    """
    figure, axes = plt.subplots(figsize=(7, 4.2), dpi=110)
    for index, (label, records) in enumerate(curves.items()):
        steps, returns = returns_of(records)
        if len(steps) == 0:
            continue
        weight = float(np.clip(1 - 20 / len(steps), 0.0, 0.95))
        color = f"C{index}"
        axes.plot(steps, returns, color=color, alpha=0.25, linewidth=1)
        axes.plot(steps, smooth(returns, weight), color=color, linewidth=2, label=label)
    axes.set_xlabel("environment steps")
    axes.set_ylabel("mean episode return")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    if axes.get_legend_handles_labels()[0]:
        axes.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
