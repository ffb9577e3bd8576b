r"""Per-checkpoint schedule features: forward area $S_1$, annealing area $S_2$ (Tissue et
al. 2024) and the quadrature terms of Luo et al. 2025's multi-power law."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ..laws.curves import multipower_columns
from ._schedule import Schedule

__all__ = ["DEFAULT_LAMBDA", "curve_features", "schedule_features"]

# Tissue et al. 2024 (arXiv:2408.11029, §3) use a decay factor between 0.99 and 0.999 for
# the momentum of the annealing area, 0.999 in most of their fits.
DEFAULT_LAMBDA = 0.999
_BLOCK = 1024


def _check_lr(lr: Any, argument: str) -> np.ndarray:
    values = np.asarray(lr, dtype=np.float64)
    if values.ndim != 1 or values.size < 1:
        raise InputError(f"{argument}: expected a 1-D array of learning rates (one per step), got shape {values.shape}.")
    if not np.all(np.isfinite(values)) or (values < 0).any():
        raise InputError(f"{argument}: learning rates must be finite and non-negative.")
    if not (values > 0).any():
        raise InputError(f"{argument}: every learning rate is zero; the forward area S1 would be 0.")
    return values


def _drops(lr: np.ndarray) -> np.ndarray:
    """$\\eta_{i-1} - \\eta_i$ per step, zero up to the first peak (warmup is not annealing)."""
    delta = np.zeros_like(lr)
    delta[1:] = lr[:-1] - lr[1:]
    peak = int(np.argmax(lr))  # first index of the maximum
    delta[: peak + 1] = 0.0
    return delta


def _momentum(delta: np.ndarray, lam: float) -> np.ndarray:
    """$m_i = \\lambda m_{i-1} + \\Delta_i$ along the last axis, vectorised in blocks.

    Within a block starting at $s$, $m_{s+k} = \\sum_{j \\le k} \\lambda^{k-j}\\Delta_{s+j} +
    \\lambda^{k+1} m_{s-1}$; blocks keep $\\lambda^{-k}$ far from overflow."""
    out = np.empty_like(delta)
    carry = np.zeros(delta.shape[:-1])
    k = np.arange(_BLOCK, dtype=np.float64)
    up, down = lam**k, lam ** (-k)
    for start in range(0, delta.shape[-1], _BLOCK):
        d = delta[..., start : start + _BLOCK]
        n = d.shape[-1]
        m = up[:n] * np.cumsum(d * down[:n], axis=-1) + (lam * up[:n]) * carry[..., None]
        out[..., start : start + n] = m
        carry = m[..., -1]
    return out


def _check_steps(steps: Any, total: int, argument: str) -> np.ndarray:
    if steps is None:
        return np.arange(1, total + 1)
    values = np.asarray(steps, dtype=np.float64)
    if values.ndim != 1 or not np.all(np.isfinite(values)) or np.any(values != np.round(values)):
        raise InputError(f"{argument}: steps must be a 1-D array of integers.")
    if (values < 1).any() or (values > total).any():
        raise InputError(
            f"{argument}: steps must lie between 1 and the schedule's length {total}; "
            f"got {values.min():g} to {values.max():g}."
        )
    return values.astype(np.int64)


def schedule_features(
    lr: Any,
    steps: Any = None,
    *,
    lam: float = DEFAULT_LAMBDA,
    n_terms: int | None = None,
) -> dict[str, np.ndarray]:
    r"""Schedule features of the checkpoints of one run.

    For learning rates $\eta_1, \dots, \eta_T$ (step $i$ uses $\eta_i$) and a checkpoint
    after step $s$:

    - `S1` $= \sum_{i \le s} \eta_i$, the forward area (Tissue et al. 2024,
        arXiv:2408.11029, eq. 1; Luo et al. 2025's $S_1 + S_W$, warmup included);
    - `S2` $= \sum_{i \le s} m_i$, $m_i = \lambda m_{i-1} + (\eta_{i-1} - \eta_i)$, the
        annealing area in Tissue et al.'s momentum form (§3). Steps up to the first peak
        of the schedule (the warmup) contribute no annealing;
    - with `n_terms`, the quadrature columns of [`scalinglaws.laws.MultiPower`][]
        (Luo et al. 2025, arXiv:2503.12811): the run's drops $\eta_{k-1} - \eta_k$ are
        split into `n_terms` bins of equal share of (total drop + total steps)/2 (so that
        no bin is wide in either), and per checkpoint and bin $j$: `mp_w{j}` the drop so
        far, `mp_eta{j}` and `mp_S{j}` the drop-weighted means of $\eta_k$ and
        $S_k(s) = \sum_{\tau=k}^{s}\eta_\tau$.

    **Arguments:** `lr`: learning rate at every step (length $T$); `steps`: checkpoint
    steps in $1..T$ (default: every step); `lam`: the momentum decay $\lambda \in (0, 1)$;
    `n_terms`: number of multi-power bins (omit for S1 and S2 only).

    **Returns:** dict of float64 arrays, one entry per checkpoint: `step`, `lr`, `S1`,
    `S2` (and the `mp_*` columns).

    **Example:**

    ```python
    from scalinglaws.curves import Schedule, schedule_features
    f = schedule_features(Schedule("cosine", 3e-3, 10_000, warmup=100).learning_rates(), [5000, 10000])
    ```
    """
    lr = _check_lr(lr, "lr")
    if not (isinstance(lam, (int, float)) and 0.0 < lam < 1.0):
        raise InputError(f"lam={lam!r}: the momentum decay must lie in (0, 1) (Tissue et al. use 0.99-0.999).")
    steps = _check_steps(steps, lr.size, "steps")
    s1_all = np.cumsum(lr)
    delta = _drops(lr)
    s2_all = np.cumsum(_momentum(delta, float(lam)))
    index = steps - 1
    out = {
        "step": steps.astype(np.float64),
        "lr": lr[index],
        "S1": s1_all[index],
        "S2": s2_all[index],
    }
    if n_terms is not None:
        if int(n_terms) != n_terms or n_terms < 1:
            raise InputError(f"n_terms={n_terms!r}: expected a positive integer number of bins.")
        out.update(_multipower_terms(lr, delta, s1_all, index, int(n_terms)))
    return out


def _multipower_terms(lr, delta, s1_all, index, n_terms) -> dict[str, np.ndarray]:
    t = lr.size
    total_drop = np.abs(delta).sum()
    # Bin by a measure that mixes drop and steps so that no bin is wide in either.
    measure = np.abs(delta) / total_drop if total_drop > 0 else np.zeros(t)
    measure = 0.5 * measure + 0.5 / t
    position = np.cumsum(measure) - 0.5 * measure
    bins = np.minimum((position * n_terms).astype(np.int64), n_terms - 1)
    # S1(k - 1): the area before step k.
    s1_before = np.concatenate([[0.0], s1_all[:-1]])
    columns: dict[str, np.ndarray] = {}
    n = index.size
    for j in range(n_terms):
        in_bin = np.where(bins == j, delta, 0.0)
        cw = np.cumsum(in_bin)[index]
        ceta = np.cumsum(in_bin * lr)[index]
        cs = np.cumsum(in_bin * s1_before)[index]
        safe = np.abs(cw) > 0
        w = np.where(safe, cw, 0.0)
        eta = np.where(safe, ceta / np.where(safe, cw, 1.0), 1.0)
        s = np.where(safe, s1_all[index] - cs / np.where(safe, cw, 1.0), 0.0)
        columns[f"mp_w{j}"] = w
        columns[f"mp_eta{j}"] = np.maximum(eta, 1e-300) if n else eta
        columns[f"mp_S{j}"] = np.maximum(s, 0.0)
    assert set(columns) == set(multipower_columns(n_terms))
    return columns


def _schedule_from_row(row: Mapping[str, Any], run_id: Any) -> Schedule:
    def get(name, default=None):
        value = row.get(name, default)
        return default if value is None or (isinstance(value, float) and np.isnan(value)) else value

    try:
        peak = float(get("peak_lr"))
        final = get("final_lr")
        if final is None:
            final = float(get("final_lr_ratio", 0.0)) * peak
        return Schedule(
            kind=str(get("schedule")),
            peak=peak,
            total_steps=int(get("total_steps")),
            warmup=int(get("warmup", 0)),
            final=float(final),
            decay_fraction=float(get("decay_fraction", 0.2)),
            decay_shape=str(get("decay_shape", "linear")),
        )
    except (TypeError, ValueError) as error:
        raise InputError(f"data: run {run_id!r}: cannot build its schedule from the schedule columns ({error}).") from None


def curve_features(
    data: Any,
    *,
    schedule: Schedule | Mapping[Any, Schedule] | Callable[[Any], Schedule] | None = None,
    run: str = "run",
    step: str = "step",
    lr: str = "lr",
    lam: float = DEFAULT_LAMBDA,
    n_terms: int | None = None,
    columns: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    r"""Add the schedule features (`S1`, `S2`, optionally the multi-power columns) to a table
    of checkpoints.

    Each row is a checkpoint of a run (column `run`) after `step` optimiser steps. The
    learning rate of every step of a run comes from, in order of precedence:

    1. `schedule`: one [`Schedule`][] for every run, a mapping run id -> `Schedule`, or a
       function of the run id;
    2. schedule columns: `schedule` (`cosine`, `wsd`, `constant`), `peak_lr`,
       `total_steps`, and optionally `warmup`, `final_lr` (or `final_lr_ratio`),
       `decay_fraction`, `decay_shape` (constant within a run);
    3. a learning-rate column `lr` logged at the checkpoints: the schedule between logged
       steps is interpolated linearly (log densely enough to resolve the decay: the
       features are only as good as this reconstruction).

    **Returns:** a copy of the table with `S1`, `S2` (and `lr` if it was absent) added,
    rows in their original order.
    """
    from ..data import KNOWN_SPELLINGS, read_table, rename_columns

    frame, _ = read_table(data, argument="data", kind="a checkpoint table")
    # The fitter recognises `final_loss` as `loss` (say); the features table must agree.
    frame = rename_columns(frame, columns, argument="data", known=KNOWN_SPELLINGS)
    frame = frame.reset_index(drop=True).copy()
    for column in (run, step):
        if column not in frame:
            raise InputError(
                f"data: missing column {column!r}; a curve table has one row per checkpoint with a run id "
                f"(run={run!r}) and the optimiser step (step={step!r}). Columns are {list(frame.columns)}."
            )
    steps_all = pd.to_numeric(frame[step], errors="coerce").to_numpy(dtype=float)
    if not np.all(np.isfinite(steps_all)) or (steps_all < 1).any() or np.any(steps_all != np.round(steps_all)):
        raise InputError(f"data: column {step!r} must hold positive integer steps in every row.")
    has_columns = {"schedule", "peak_lr", "total_steps"} <= set(frame.columns)
    if schedule is None and not has_columns and lr not in frame:
        raise InputError(
            "schedule=None: give each run's learning rates: schedule=Schedule(...) (or a dict run -> "
            "Schedule), schedule columns ('schedule', 'peak_lr', 'total_steps', ...), or a learning-rate "
            f"column (lr={lr!r}) logged at the checkpoints."
        )
    new: dict[str, np.ndarray] = {}
    for run_id, rows in frame.groupby(run, sort=False):
        index = rows.index.to_numpy()
        s = steps_all[index].astype(np.int64)
        if schedule is not None:
            sched = schedule if isinstance(schedule, Schedule) else (
                schedule[run_id] if isinstance(schedule, Mapping) else schedule(run_id)
            )
            if not isinstance(sched, Schedule):
                raise InputError(f"schedule: run {run_id!r} got {type(sched).__name__}, not a Schedule.")
            rates = sched.learning_rates()
        elif has_columns:
            first = rows.iloc[0].to_dict()
            rates = _schedule_from_row(first, run_id).learning_rates()
        else:
            logged = pd.to_numeric(rows[lr], errors="coerce").to_numpy(dtype=float)
            order = np.argsort(s)
            rates = np.interp(np.arange(1, s.max() + 1), s[order], logged[order])
        if s.max() > rates.size:
            raise InputError(
                f"data: run {run_id!r} has a checkpoint at step {s.max()} beyond its schedule's "
                f"{rates.size} steps; check total_steps."
            )
        feats = schedule_features(rates, s, lam=lam, n_terms=n_terms)
        for name, values in feats.items():
            if name == "step":
                continue
            new.setdefault(name, np.full(len(frame), np.nan))[index] = values
    for name, values in new.items():
        if name == "lr" and lr in frame:
            continue
        frame[name] = values
    return frame
