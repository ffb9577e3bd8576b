r"""Hoffmann et al. 2022's Approach 1: the lower envelope of loss against FLOPs over every
checkpoint of every run gives $N^*(C)$ and $D^*(C)$."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from ..data import load_runs
from ..errors import InputError

__all__ = ["EnvelopeResult", "envelope_analysis", "envelope_points", "isoflop_slices"]


@dataclasses.dataclass(frozen=True)
class EnvelopeResult:
    r"""Result of [`envelope_analysis`][].

    **Fields:** `a`, `b` (point estimates of $N^* \propto C^a$, $D^* \propto C^b$),
    `a_interval`, `b_interval` (bootstrap percentile intervals over runs, at `level`),
    `a_se`, `b_se` (bootstrap standard deviations), `n_coef`, `d_coef` (prefactors),
    `envelope` (DataFrame: `C`, `loss`, `N`, `D`, `run` of the envelope at each FLOP
    value), `replicates` (`(n, 2)` bootstrap draws of `(a, b)`), `n_runs`, `n_sizes`,
    `level`.
    """

    a: float
    b: float
    a_interval: tuple[float, float]
    b_interval: tuple[float, float]
    a_se: float
    b_se: float
    n_coef: float
    d_coef: float
    envelope: pd.DataFrame
    replicates: np.ndarray
    n_runs: int
    n_sizes: int
    level: float

    def summary(self) -> str:
        pct = f"{self.level:.0%}"
        return "\n".join(
            [
                "Approach 1 (Hoffmann et al. 2022, §3.1): envelope of loss vs FLOPs over all checkpoints",
                f"N* ~ C^a: a = {self.a:.4f}  [{pct}: {self.a_interval[0]:.4f}, {self.a_interval[1]:.4f}]  (se {self.a_se:.4f})",
                f"D* ~ C^b: b = {self.b:.4f}  [{pct}: {self.b_interval[0]:.4f}, {self.b_interval[1]:.4f}]  (se {self.b_se:.4f})",
                f"{self.n_runs} runs of {self.n_sizes} model sizes; {len(self.envelope)} FLOP values on the envelope; "
                f"intervals: bootstrap over runs ({len(self.replicates)} resamples)",
            ]
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.a, "b": self.b, "a_interval": list(self.a_interval), "b_interval": list(self.b_interval),
            "a_se": self.a_se, "b_se": self.b_se, "n_coef": self.n_coef, "d_coef": self.d_coef,
            "n_runs": self.n_runs, "n_sizes": self.n_sizes, "level": self.level,
            "method": "envelope of loss vs FLOPs over all checkpoints (Hoffmann et al. 2022, Approach 1)",
        }


def _prepare(data, query, run, target):
    runs = load_runs(data, query=query)
    runs.require(["N", "D", "C", target], why="the envelope reads each checkpoint's N, D, C = FLOPs and loss")
    frame = runs.frame
    if run not in frame:
        raise InputError(
            f"run={run!r}: no such column; name the column that identifies the run each checkpoint belongs to. "
            f"Columns are {list(frame.columns)}."
        )
    return frame


def _interpolated(frame: pd.DataFrame, run: str, target: str, log_grid: np.ndarray):
    """Per run: log loss and log D interpolated (linearly in log C) on the FLOP grid, NaN outside."""
    ids = list(pd.unique(frame[run]))
    n_grid = log_grid.size
    log_loss = np.full((len(ids), n_grid), np.nan)
    log_d = np.full((len(ids), n_grid), np.nan)
    sizes = np.empty(len(ids))
    for i, rid in enumerate(ids):
        rows = frame[frame[run] == rid]
        n = rows["N"].to_numpy(float)
        if np.ptp(np.log(n)) > 1e-9:
            raise InputError(f"run={run!r}: run {rid!r} has several model sizes N; a run is one model.")
        sizes[i] = n[0]
        lc = np.log(rows["C"].to_numpy(float))
        order = np.argsort(lc)
        lc = lc[order]
        ll = np.log(rows[target].to_numpy(float))[order]
        ld = np.log(rows["D"].to_numpy(float))[order]
        inside = (log_grid >= lc[0]) & (log_grid <= lc[-1])
        if lc.size >= 2:
            log_loss[i, inside] = np.interp(log_grid[inside], lc, ll)
            log_d[i, inside] = np.interp(log_grid[inside], lc, ld)
    return ids, sizes, log_loss, log_d


def _envelope(sizes, log_loss, log_d, log_grid, min_runs):
    finite = np.isfinite(log_loss)
    covered = np.sum(finite, axis=0) >= min_runs
    filled = np.where(finite, log_loss, np.inf)
    best = np.argmin(filled, axis=0)
    cols_all = np.arange(log_grid.size)
    # Keep only FLOP values where the best run is bracketed: a smaller and a larger model
    # also reach that C. Elsewhere the true optimum may be a size whose curve does not
    # reach C (too early or too late in its run), and the envelope would be biased.
    n_best = sizes[best]
    smaller = np.any(finite & (sizes[:, None] < n_best[None, :]), axis=0)
    larger = np.any(finite & (sizes[:, None] > n_best[None, :]), axis=0)
    keep = covered & np.isfinite(filled[best, cols_all]) & smaller & larger
    cols = np.flatnonzero(keep)
    return cols, best[cols]


def _slopes(log_c, log_n, log_d):
    if log_c.size < 2 or np.ptp(log_c) == 0:
        return np.nan, np.nan, np.nan, np.nan
    a, ka = np.polyfit(log_c, log_n, 1)
    b, kb = np.polyfit(log_c, log_d, 1)
    return a, b, ka, kb


def envelope_points(
    data: Any, *, run: str = "run", query: str | None = None, target: str = "loss", n_grid: int = 200,
    min_runs: int = 2,
) -> pd.DataFrame:
    """The envelope itself: for each of `n_grid` log-spaced FLOP values covered by at least
    `min_runs` runs, the run with the lowest (interpolated) loss and its `N`, `D`."""
    frame = _prepare(data, query, run, target)
    lc = np.log(frame["C"].to_numpy(float))
    log_grid = np.linspace(lc.min(), lc.max(), int(n_grid))
    ids, sizes, log_loss, log_d = _interpolated(frame, run, target, log_grid)
    cols, best = _envelope(sizes, log_loss, log_d, log_grid, min_runs)
    return pd.DataFrame(
        {
            "C": np.exp(log_grid[cols]),
            "loss": np.exp(log_loss[best, cols]),
            "N": sizes[best],
            "D": np.exp(log_d[best, cols]),
            "run": [ids[i] for i in best],
        }
    )


def envelope_analysis(
    data: Any,
    *,
    run: str = "run",
    query: str | None = None,
    target: str = "loss",
    n_grid: int = 200,
    min_runs: int = 2,
    n_bootstrap: int = 1000,
    seed: int = 0,
    level: float = 0.9,
) -> EnvelopeResult:
    r"""Approach 1 of Hoffmann et al. 2022 (arXiv:2203.15556, §3.1): fix model sizes, vary
    training length, and read the compute-optimal frontier off the envelope of all curves.

    Each run's loss curve is interpolated linearly in $(\log C, \log L)$ between its
    checkpoints. On a grid of `n_grid` log-spaced FLOP values $C$ (those covered by at least
    `min_runs` runs), the envelope is the lowest loss over runs; the run attaining it
    gives $N^*(C)$, and its tokens at $C$ give $D^*(C)$. Then $\log N^* = a\log C + k_N$
    and $\log D^* = b\log C + k_D$ by least squares over the grid (Hoffmann et al. fit
    the same power laws to their envelope). With a handful of model sizes $N^*(C)$ is a
    staircase, so $a$ is only as good as the spread of sizes.

    Intervals: a bootstrap over runs (whole runs drawn with replacement; the envelope and
    both slopes recomputed), percentile intervals at `level`.

    **Arguments:** `data` checkpoints with `N`, `D`, `C` (derived from $6ND$ when absent),
    the loss and a run id (`run`); `query` a row filter; `target` the loss column;
    `n_bootstrap`, `seed`, `level` for the intervals.

    **Returns:** an [`EnvelopeResult`][].
    """
    if int(n_grid) != n_grid or n_grid < 10:
        raise InputError(f"n_grid={n_grid!r}: expected an integer >= 10.")
    if int(min_runs) != min_runs or min_runs < 1:
        raise InputError(f"min_runs={min_runs!r}: expected an integer >= 1.")
    if int(n_bootstrap) != n_bootstrap or n_bootstrap < 2:
        raise InputError(f"n_bootstrap={n_bootstrap!r}: expected an integer >= 2.")
    if not 0 < level < 1:
        raise InputError(f"level={level!r}: expected a probability in (0, 1).")
    frame = _prepare(data, query, run, target)
    lc = np.log(frame["C"].to_numpy(float))
    log_grid = np.linspace(lc.min(), lc.max(), int(n_grid))
    ids, sizes, log_loss, log_d = _interpolated(frame, run, target, log_grid)
    n_sizes = np.unique(sizes).size
    if n_sizes < 2:
        raise InputError(
            f"data: the runs have {n_sizes} model size; the envelope needs runs of at least 2 sizes "
            "(Approach 1 compares model sizes at equal FLOPs)."
        )
    cols, best = _envelope(sizes, log_loss, log_d, log_grid, min_runs)
    if cols.size < 2:
        raise InputError(
            f"data: fewer than 2 FLOP values are covered by {min_runs} runs; lower min_runs or add runs whose "
            "FLOP ranges overlap."
        )
    log_n = np.log(sizes[best])
    log_dd = log_d[best, cols]
    a, b, ka, kb = _slopes(log_grid[cols], log_n, log_dd)
    rng = np.random.default_rng(int(seed))
    draws = np.full((int(n_bootstrap), 2), np.nan)
    for r in range(int(n_bootstrap)):
        pick = np.unique(rng.integers(0, len(ids), len(ids)))  # duplicates do not change a minimum
        if np.unique(sizes[pick]).size < 2:
            continue
        c_r, best_r = _envelope(sizes[pick], log_loss[pick], log_d[pick], log_grid, min_runs)
        if c_r.size < 2:
            continue
        ar, br, _, _ = _slopes(log_grid[c_r], np.log(sizes[pick][best_r]), log_d[pick][best_r, c_r])
        draws[r] = ar, br
    ok = np.all(np.isfinite(draws), axis=1)
    if ok.sum() < 2:
        raise InputError("data: too few runs for a bootstrap of the envelope; add runs of more sizes.")
    q = [(1 - level) / 2, 1 - (1 - level) / 2]
    a_int = tuple(float(v) for v in np.quantile(draws[ok, 0], q))
    b_int = tuple(float(v) for v in np.quantile(draws[ok, 1], q))
    envelope = pd.DataFrame(
        {"C": np.exp(log_grid[cols]), "loss": np.exp(log_loss[best, cols]), "N": sizes[best],
         "D": np.exp(log_dd), "run": [ids[i] for i in best]}
    )
    return EnvelopeResult(
        a=float(a), b=float(b), a_interval=a_int, b_interval=b_int,
        a_se=float(np.std(draws[ok, 0], ddof=1)), b_se=float(np.std(draws[ok, 1], ddof=1)),
        n_coef=float(np.exp(ka)), d_coef=float(np.exp(kb)), envelope=envelope, replicates=draws[ok],
        n_runs=len(ids), n_sizes=int(n_sizes), level=float(level),
    )


def isoflop_slices(
    data: Any, *, run: str = "run", query: str | None = None, target: str = "loss", budgets: Any = None,
    n_budgets: int = 8,
) -> pd.DataFrame:
    r"""IsoFLOP slices through checkpoint curves, for Approach 2 on the same runs: each run's
    loss interpolated (linearly in $\log C$) at each budget it spans, one row per (budget,
    run) with `C`, `N`, `D`, `loss`, `run`. Feed it to
    [`scalinglaws.allocate.isoflop_analysis`][]. Note that an intermediate checkpoint of a
    long cosine run is not a run trained to that length (Hoffmann et al. 2022, §3.1 and
    App. A), so these slices are biased toward larger models at small budgets."""
    frame = _prepare(data, query, run, target)
    lc = np.log(frame["C"].to_numpy(float))
    if budgets is None:
        log_b = np.linspace(lc.min(), lc.max(), int(n_budgets) + 2)[1:-1]
        values = np.exp(log_b)
    else:
        values = np.atleast_1d(np.asarray(budgets, dtype=float))
        if values.ndim != 1 or not np.all(np.isfinite(values) & (values > 0)):
            raise InputError(f"budgets={budgets!r}: expected positive FLOP values.")
        log_b = np.log(values)
    ids, sizes, log_loss, log_d = _interpolated(frame, run, target, log_b)
    rows = []
    for j, c in enumerate(values):
        for i, rid in enumerate(ids):
            if np.isfinite(log_loss[i, j]):
                rows.append({"C": float(c), "N": sizes[i], "D": float(np.exp(log_d[i, j])),
                             target: float(np.exp(log_loss[i, j])), "run": rid})
    return pd.DataFrame(rows)
