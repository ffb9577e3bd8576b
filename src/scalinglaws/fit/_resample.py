"""The one resampler of the package: bootstrap weights over rows or over runs.

Every bootstrap in the package (coefficient standard errors in `scalinglaws.bayes`, the
mixture bootstrap in `scalinglaws.mixture`, the leave-largest-out calibration of predictive
intervals) draws its replicates here, so that "resample runs, not checkpoints" holds
everywhere.

Why runs: checkpoints of one training run share that run's noise (its seed, its data
order, its learning-rate schedule). Resampling rows treats 12 checkpoints of a run as 12
independent observations and makes standard errors several times too small; the cluster
bootstrap (Davison & Hinkley 1997, "Bootstrap Methods and their Application", sec. 3.8;
Cameron, Gelbach & Miller 2008) draws whole runs with replacement instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError

__all__ = ["RUN_CONFIG_COLUMNS", "resample_weights", "run_groups"]

# When rows carry a `step` column (checkpoints) and no `group` column, a run is identified
# by its model size N together with whichever of these configuration columns are present:
# rows that share all of them are checkpoints of one run.
RUN_CONFIG_COLUMNS = ("N", "U", "lr", "peak_lr", "learning_rate", "batch_size", "seed", "family", "model",
                      "model_name", "dataset")


def run_groups(runs: Any, group: str | None = None) -> np.ndarray | None:
    """Integer run id (0, 1, ...) of every row, or `None` when rows are independent runs.

    **Arguments:**

    - `runs`: a `scalinglaws.Runs` (or anything with a pandas `frame`).
    - `group`: the column holding a run id (any type: names, numbers). When it is `None`
        the rule is: a column named `group` is used if present; otherwise, if a `step`
        column is present (rows are checkpoints), runs are the distinct values of `N`
        together with those of `RUN_CONFIG_COLUMNS` present (learning rate, seed, ...);
        otherwise every row is its own run and `None` is returned.

    **Returns:** an `int64` array of run ids, one per row, numbered in order of first
    appearance; or `None`.
    """
    frame = runs.frame
    if group is not None:
        if not isinstance(group, str):
            raise InputError(f"group={group!r}: expected a column name (a string).")
        if group not in frame:
            raise InputError(
                f"group={group!r}: no such column; columns are {list(frame.columns)}. "
                "Name the column that identifies the run each row (checkpoint) belongs to."
            )
        key = frame[[group]]
    elif "group" in frame:
        key = frame[["group"]]
    elif "step" in frame:
        columns = [c for c in RUN_CONFIG_COLUMNS if c in frame]
        if not columns:
            return None
        key = frame[columns]
    else:
        return None
    if key.isna().to_numpy().any():
        raise InputError(
            f"group: the run-id column(s) {list(key.columns)} have missing values; fill them so that every "
            "row belongs to a run."
        )
    codes = key.groupby(list(key.columns), sort=False).ngroup().to_numpy()
    return codes.astype(np.int64)


def resample_weights(n_points: int, n: int, seed: int, groups: np.ndarray | None = None) -> np.ndarray:
    """Bootstrap weights: `(n, n_points)` integer counts, row `r` for replicate `r`.

    Without `groups`, rows are drawn with replacement (a multinomial draw of `n_points`
    rows, as in Besiroglu et al. 2024's bootstrap of Chinchilla). With `groups` (one run id
    per row, e.g. from [`run_groups`][]), whole runs are drawn with replacement (the cluster
    bootstrap): each row's weight is the number of times its run was drawn, so the
    checkpoints of a run enter or leave a replicate together.

    **Arguments:** `n_points` rows; `n` replicates; `seed` the NumPy seed; `groups` an
    integer array of length `n_points` or `None`.

    **Returns:** a float64 array of integer counts, shape `(n, n_points)`.
    """
    rng = np.random.default_rng(seed)
    if groups is None:
        return rng.multinomial(n_points, np.full(n_points, 1.0 / n_points), size=n).astype(np.float64)
    groups = np.asarray(groups)
    if groups.shape != (n_points,):
        raise InputError(f"groups: expected one run id per row ({n_points}), got shape {groups.shape}.")
    labels, codes = np.unique(groups, return_inverse=True)
    n_groups = labels.size
    counts = rng.multinomial(n_groups, np.full(n_groups, 1.0 / n_groups), size=n)
    return counts[:, codes].astype(np.float64)
