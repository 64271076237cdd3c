"""Statistics over seeds: means with 95% confidence intervals."""

from __future__ import annotations

import numpy as np
from scipy import stats


def mean_interval(values: np.ndarray, axis: int = -1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The mean over ``axis`` and its 95% Student-t confidence interval, over the finite values only.

    ``mean ± t_{0.975, n-1} · s / √n`` with ``s`` the sample standard
    deviation of the ``n`` finite values; with fewer than two values the
    interval is the mean itself (NaN with none). NaN and ±inf both count as
    missing (an infinite value would make the mean infinite and the interval NaN).
    """
    values = np.asarray(values, float)
    values = np.where(np.isfinite(values), values, np.nan)
    count = np.isfinite(values).sum(axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nansum(values, axis) / count
        squares = np.nansum((values - np.expand_dims(mean, axis)) ** 2, axis)
        spread = np.sqrt(squares / np.maximum(count - 1, 1))
        half = np.where(count > 1, stats.t.ppf(0.975, np.maximum(count - 1, 1)) * spread / np.sqrt(count), 0.0)
    return mean, mean - half, mean + half
