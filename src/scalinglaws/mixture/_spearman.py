"""Spearman rank correlation with NumPy only (scipy is not a runtime dependency)."""

from __future__ import annotations

import numpy as np


def rankdata(values) -> np.ndarray:
    """Ranks from 1 to n, ties given their average rank (as `scipy.stats.rankdata`)."""
    values = np.asarray(values, dtype=float)
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    # Boundaries of runs of equal values; each run gets the mean of its positions.
    starts = np.r_[True, sorted_values[1:] != sorted_values[:-1]]
    run_id = np.cumsum(starts) - 1
    first = np.flatnonzero(starts)
    last = np.r_[first[1:], len(values)] - 1
    average = 0.5 * (first + last) + 1.0
    ranks = np.empty(len(values))
    ranks[order] = average[run_id]
    return ranks


def spearman(predicted, actual) -> float:
    r"""Spearman's $\rho$: the Pearson correlation of the (average-tie) ranks.

    **Arguments:** `predicted`, `actual`: 1-D arrays of the same length (at least 2).

    **Returns:** a float in $[-1, 1]$ (NaN if either input is constant).
    """
    a = np.asarray(predicted, dtype=float).ravel()
    b = np.asarray(actual, dtype=float).ravel()
    if a.shape != b.shape or a.size < 2:
        raise ValueError(
            f"spearman(): expected two arrays of the same length >= 2, got shapes {a.shape} and {b.shape}."
        )
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("spearman(): inputs must be finite.")
    ra, rb = rankdata(a), rankdata(b)
    ra -= ra.mean()
    rb -= rb.mean()
    denominator = np.sqrt((ra @ ra) * (rb @ rb))
    return float(ra @ rb / denominator) if denominator > 0 else float("nan")
