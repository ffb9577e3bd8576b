"""Held-out extrapolation check (Choshen et al. 2024, "A Hitchhiker's Guide to Scaling
Law Estimation", arXiv:2410.11840): fit on small runs, score the forecasts of the larger
ones, with intervals whose coverage says whether the uncertainty was honest."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from ..data import load_runs
from ..errors import InputError
from ..laws import AbstractLaw, get_law
from ..precision import float64
from ._extrapolation import group_maxima, scale_values
from ._fit import fit
from ._resample import run_groups
from ._result import FitResult

IntervalMethod = Literal["bootstrap", "laplace", "nuts", "none"]
INTERVAL_METHODS = ("bootstrap", "laplace", "nuts", "none")


@dataclass(frozen=True)
class HoldoutReport:
    r"""Forecasts of held-out runs by a law fitted on the others, with intervals.

    **Fields:** `fit` (the fit on the training runs), `n_train`, `n_test` (rows),
    `threshold` (the value of `by` above which runs were held out; NaN for `train=`/`test=`
    splits), `by`, `predicted` (point forecasts), `actual` (observed, also `observed`),
    `lo`, `hi` (interval bounds, NaN with `interval="none"`), `interval` (the method),
    `kind` (`"predictive"`: for a new run's observed loss; `"mean"`: for the law), `level`.

    **Properties:** `abs_rel_error` ($|\hat L - L| / L$ per point), `mean_abs_rel_error`,
    `max_abs_rel_error`, `rmse_log` ($\sqrt{\overline{(\log\hat L - \log L)^2}}$),
    `coverage` (fraction of held-out points inside their interval), `mean_log_width`
    (mean of $\log(hi/lo)$).
    """

    fit: FitResult
    n_train: int
    n_test: int
    threshold: float
    predicted: np.ndarray
    actual: np.ndarray
    lo: np.ndarray = field(default_factory=lambda: np.zeros(0))
    hi: np.ndarray = field(default_factory=lambda: np.zeros(0))
    by: str = "C"
    interval: str = "none"
    kind: str = "predictive"
    level: float = 0.9
    details: dict = field(default_factory=dict)
    draws: dict = field(default_factory=dict, repr=False)

    def with_level(self, level: float, kind: str | None = None) -> HoldoutReport:
        """The same forecasts with central `level` intervals of `kind` (default: this
        report's), from the stored draws of the log target (`interval="bootstrap"` stores
        both kinds)."""
        kind = kind or self.kind
        if kind not in self.draws:
            raise InputError(
                f"with_level: no stored {kind!r} draws for interval={self.interval!r}; rerun holdout(level=..., kind=...)."
            )
        if not 0 < level < 1:
            raise InputError(f"level={level!r}: expected a probability in (0, 1), e.g. 0.5.")
        lo, hi = np.exp(np.quantile(self.draws[kind], [(1 - level) / 2, (1 + level) / 2], axis=0))
        return dataclasses.replace(self, lo=lo, hi=hi, level=float(level), kind=kind)

    @property
    def observed(self) -> np.ndarray:
        return self.actual

    @property
    def abs_rel_error(self) -> np.ndarray:
        return np.abs(self.predicted - self.actual) / self.actual

    @property
    def mean_abs_rel_error(self) -> float:
        return float(np.mean(self.abs_rel_error))

    @property
    def max_abs_rel_error(self) -> float:
        return float(np.max(self.abs_rel_error))

    @property
    def rmse_log(self) -> float:
        return float(np.sqrt(np.mean((np.log(self.predicted) - np.log(self.actual)) ** 2)))

    @property
    def coverage(self) -> float:
        """Fraction of held-out points inside their interval (NaN without intervals)."""
        if self.interval == "none" or self.lo.size == 0:
            return float("nan")
        return float(np.mean((self.lo <= self.actual) & (self.actual <= self.hi)))

    @property
    def mean_log_width(self) -> float:
        if self.interval == "none" or self.lo.size == 0:
            return float("nan")
        return float(np.mean(np.log(self.hi / self.lo)))

    def as_dict(self) -> dict[str, Any]:
        """What `scalinglaws holdout --json` prints."""
        from ..io import law_name

        # Undefined values (no interval, no threshold) are null, never NaN.
        def number(v):
            return float(v) if np.isfinite(v) else None

        lo = self.lo if self.lo.size else np.full(self.n_test, np.nan)
        hi = self.hi if self.hi.size else np.full(self.n_test, np.nan)
        return {
            "law": law_name(self.fit.law),
            "n_train": self.n_train,
            "n_test": self.n_test,
            "mean_abs_rel_error": self.mean_abs_rel_error,
            "max_abs_rel_error": self.max_abs_rel_error,
            "rmse_log": self.rmse_log,
            "coverage": number(self.coverage),
            "mean_log_width": number(self.mean_log_width),
            "interval": self.interval,
            "kind": self.kind,
            "level": self.level,
            "by": self.by,
            "threshold": number(self.threshold),
            "threshold_C": number(self.threshold) if self.by == "C" else None,
            "converged": bool(self.fit.converged),
            "points": [
                {"observed": float(o), "predicted": float(p), "lo": number(a), "hi": number(b)}
                for o, p, a, b in zip(self.actual, self.predicted, lo, hi)
            ],
            **({"details": self.details} if self.details else {}),
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (alias of `as_dict`, the name every result shares)."""
        return self.as_dict()

    def __repr__(self) -> str:
        # Values, not arrays of every point (issue 12.6); `summary()` and `to_dict()` have more.
        from ..results import value_repr

        return value_repr("HoldoutReport", {
            "n_train": self.n_train, "n_test": self.n_test, "by": self.by,
            "threshold": self.threshold if np.isfinite(self.threshold) else None,
            "mean_abs_rel_error": self.mean_abs_rel_error, "max_abs_rel_error": self.max_abs_rel_error,
            "rmse_log": self.rmse_log, "interval": self.interval,
            "coverage": None if self.interval == "none" else self.coverage,
            "level": None if self.interval == "none" else self.level,
            "converged": self.fit.converged,
        })

    def summary(self) -> str:
        lines = [
            f"held out {self.n_test} rows"
            + (f" of runs with {self.by} > {self.threshold:.3g}" if np.isfinite(self.threshold) else "")
            + f" (fit on {self.n_train}): mean |rel. error| {self.mean_abs_rel_error:.4%}, "
            f"max {self.max_abs_rel_error:.4%}, rmse(log) {self.rmse_log:.4g}"
        ]
        if self.interval != "none":
            lines.append(
                f"{self.level:.0%} {self.kind} intervals ({self.interval}): coverage {self.coverage:.1%}, "
                f"mean log width {self.mean_log_width:.4g}"
            )
        return "\n".join(lines)


def split_runs(
    runs,
    *,
    above: float | None = None,
    largest: int | None = None,
    by: str = "C",
    train: str | None = None,
    test: str | None = None,
    groups: np.ndarray | None = None,
) -> tuple[np.ndarray, float, np.ndarray]:
    """`(train_mask, threshold, test_mask)` of a held-out split; no run is ever split.

    The rule: a run (a group of rows, see [`run_groups`][]; each row is a run without
    groups) goes to the test side when its *largest* value of `by` lies above the threshold
    (`above`, or just below the `largest` runs). With `train=`/`test=` expressions the
    sides are those rows, and a run with rows on both sides is an error.
    """
    explicit = train is not None or test is not None
    chosen = sum(v is not None for v in (above, largest)) + (1 if explicit else 0)
    if chosen != 1 or (explicit and (train is None or test is None)):
        raise InputError(
            "holdout: give exactly one of above= (a threshold), largest= (a count) or train= and test= "
            "(two row filters)."
        )
    if explicit:
        train_mask = _mask(runs, train, "train")
        test_mask = _mask(runs, test, "test")
        if groups is not None:
            both = np.intersect1d(groups[train_mask], groups[test_mask])
            if both.size:
                raise InputError(
                    f"train={train!r}, test={test!r}: {both.size} run(s) have checkpoints on both sides; a "
                    "held-out check must hold out whole runs. Split by a run-level column, or give group=."
                )
        if (train_mask & test_mask).any():
            raise InputError(f"train={train!r}, test={test!r}: {int((train_mask & test_mask).sum())} rows match both.")
        if not train_mask.any() or not test_mask.any():
            raise InputError(f"train={train!r}, test={test!r}: one side has no rows.")
        return train_mask, float("nan"), test_mask
    if by not in runs.columns and not (by == "C" and {"N", "D"} <= set(runs.columns)):
        raise InputError(f"by={by!r}: no such column (holdout orders runs by it); choose C, N or D.")
    top = group_maxima(scale_values(runs.arrays([c for c in ("N", "D", by) if c in runs.columns]), by), groups)
    if above is not None:
        if not np.isfinite(above) or above <= 0:
            raise InputError(f"above={above!r}: expected a positive threshold on column {by!r}.")
        threshold = float(above)
        train_mask = top <= threshold
    else:
        levels = np.unique(top)
        if isinstance(largest, bool) or not 1 <= int(largest) < levels.size:
            raise InputError(f"largest={largest!r}: expected between 1 and {levels.size - 1} (runs to hold out).")
        threshold = float(levels[-int(largest) - 1])
        train_mask = top <= threshold
    if train_mask.all():
        raise InputError(f"above={above!r}: no run lies above the threshold, so nothing is held out.")
    if not train_mask.any():
        raise InputError(f"above={above!r}: no run lies at or below the threshold, so nothing to fit.")
    return train_mask, threshold, ~train_mask


def _mask(runs, expression: str, argument: str) -> np.ndarray:
    try:
        selected = runs.frame.query(expression, engine="python")
    except Exception as error:  # pandas raises many types for a bad expression
        raise InputError(f"{argument}={expression!r}: could not evaluate the expression ({error}).") from None
    mask = np.zeros(len(runs), dtype=bool)
    mask[runs.frame.index.get_indexer(selected.index)] = True
    return mask


def check_interval_options(interval: str, kind: str, level: float) -> None:
    """The interval settings shared by [`holdout`][] and `holdout_sweep`, checked once."""
    if interval not in INTERVAL_METHODS:
        raise InputError(f"interval={interval!r}: expected one of {list(INTERVAL_METHODS)}.")
    if kind not in ("predictive", "mean"):
        raise InputError(f"kind={kind!r}: expected 'predictive' (a new run's loss) or 'mean' (the law).")
    if not 0 < level < 1:
        raise InputError(f"level={level!r}: expected a probability in (0, 1), e.g. 0.9.")


@float64
def holdout(
    law: str | type[AbstractLaw] | AbstractLaw,
    data: Any,
    *,
    above: float | None = None,
    largest: int | None = None,
    by: str = "C",
    train: str | None = None,
    test: str | None = None,
    query: str | None = None,
    columns: Mapping[str, str] | None = None,
    interval: IntervalMethod = "bootstrap",
    kind: Literal["predictive", "mean"] = "predictive",
    level: float = 0.9,
    group: str | None = None,
    n_boot: int = 200,
    seed: int = 0,
    per: str | None = None,
    **fit_kwargs: Any,
) -> HoldoutReport:
    r"""Fit on the smaller runs, forecast the held-out larger ones, and score the forecasts
    and their intervals (Choshen et al. 2024's leave-largest-out check).

    **Arguments:**

    - `law`, `data`, `query`, `columns`: as in [`fit`][].
    - The split, exactly one of: `above` (runs whose largest `by` exceeds it are held
        out), `largest` (hold out the `largest` runs), or `train` and `test` (row filters,
        pandas syntax). A run is never split: see [`split_runs`][].
    - `by`: the column that orders runs by scale (`C`, derived as 6ND when absent; or `N`,
        `D`).
    - `interval`: `"bootstrap"` (default: cluster bootstrap refits plus the
        leave-largest-out noise of [`ExtrapolationNoise`][]), `"laplace"` or `"nuts"`
        (posterior from `scalinglaws.bayes.infer`), or `"none"`.
    - `kind`: `"predictive"` (default: intervals for the observed loss of each held-out
        run) or `"mean"` (intervals for the law itself). `level`: nominal coverage.
    - `group`: the run-id column (see [`run_groups`][]). `n_boot`, `seed`: bootstrap
        settings. `fit_kwargs` go to [`fit`][].
    - `per`: check every group of this column separately (each group's own largest runs
        held out), point fits batched in one sweep; `law` may then be a list. Returns a
        [`scalinglaws.fit.HoldoutSweep`][] (see [`scalinglaws.fit.holdout_sweep`][]).

    **Returns:** a [`HoldoutReport`][] with per-point `observed`, `predicted`, `lo`, `hi`,
    and `coverage`, `mean_log_width`, `rmse_log`, `mean_abs_rel_error`.
    """
    if per is not None:
        from ._sweep import holdout_sweep

        return holdout_sweep(
            law, data, per=per, above=above, largest=largest, by=by, train=train, test=test, query=query,
            columns=columns, interval=interval, kind=kind, level=level, group=group, n_boot=n_boot, seed=seed,
            **fit_kwargs,
        )
    check_interval_options(interval, kind, level)
    template = get_law(law)
    runs = load_runs(data, query=query, columns=columns)
    groups = run_groups(runs, group)
    train_mask, threshold, test_mask = split_runs(
        runs, above=above, largest=largest, by=by, train=train, test=test, groups=groups
    )
    train_runs, test_runs = runs.subset(train_mask), runs.subset(test_mask)
    result = fit(template, train_runs, group=group, **fit_kwargs)
    x_test = test_runs.arrays(result.inputs)
    for extra in ("N", "D", "C", by):
        if extra in test_runs.columns and extra not in x_test:
            x_test[extra] = test_runs[extra]
    predicted = np.asarray(result.law.predict({c: x_test[c] for c in result.inputs}))
    actual = test_runs[result.target]
    lo = hi = np.full(len(test_runs), np.nan)
    details: dict[str, Any] = {}
    draws: dict[str, np.ndarray] = {}
    passed = {k: v for k, v in fit_kwargs.items() if k in ("target", "weights", "fix", "tie", "loss", "delta")}
    if interval == "bootstrap":
        from ..bayes import bootstrap

        boot = bootstrap(
            template, train_runs, n=n_boot, seed=seed, group=group, init=result,
            by=by, **passed,
        )
        draws = {k: boot.draws(x_test, kind=k, seed=seed) for k in ("predictive", "mean")}
        lo, hi = np.exp(np.quantile(draws[kind], [(1 - level) / 2, (1 + level) / 2], axis=0))
        details = {"n_failed": boot.n_failed, "noise": None if boot.noise is None else boot.noise.as_dict()}
    elif interval in ("laplace", "nuts"):
        lo, hi = _posterior_interval(template, train_runs, result, x_test, interval, kind, level, seed, group, passed)
    return HoldoutReport(
        fit=result,
        n_train=len(train_runs),
        n_test=len(test_runs),
        threshold=threshold,
        predicted=predicted,
        actual=actual,
        lo=np.asarray(lo, dtype=float),
        hi=np.asarray(hi, dtype=float),
        by=by,
        interval=interval,
        kind=kind,
        level=float(level),
        details=details,
        draws=draws,
    )


def _posterior_interval(template, train_runs, result, x_test, method, kind, level, seed, group, passed):
    """Intervals from a posterior of `scalinglaws.bayes`: `Posterior.forecast(..., kind=,
    level=)` (the posterior predictive includes the run-level and discrepancy terms)."""
    from ..bayes import infer

    posterior = infer(template, train_runs, method=method, init=result, seed=seed, group=group, **passed)
    band = posterior.forecast(x_test, kind=kind, level=level, seed=seed)
    return np.asarray(band["lo"]), np.asarray(band["hi"])
