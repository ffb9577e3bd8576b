"""Held-out extrapolation check (Choshen et al. 2024, "A Hitchhiker's Guide to Scaling
Law Estimation", arXiv:2410.11840): fit on small runs, score on the larger ones."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..data import load_runs
from ..laws import AbstractLaw, get_law
from ._fit import fit
from ._result import FitResult


@dataclass(frozen=True)
class HoldoutReport:
    """Absolute relative error of a law fitted on small runs, on held-out larger runs.

    **Fields:** `fit` (the fit on the training runs), `n_train`, `n_test`, `threshold`
    (the compute C above which runs were held out), `predicted`, `actual`, `abs_rel_error`
    (per held-out run, $|\\hat L - L| / L$), `mean_abs_rel_error`, `max_abs_rel_error`.
    """

    fit: FitResult
    n_train: int
    n_test: int
    threshold: float
    predicted: np.ndarray
    actual: np.ndarray
    abs_rel_error: np.ndarray

    @property
    def mean_abs_rel_error(self) -> float:
        return float(np.mean(self.abs_rel_error))

    @property
    def max_abs_rel_error(self) -> float:
        return float(np.max(self.abs_rel_error))

    def as_dict(self) -> dict[str, Any]:
        return {
            "threshold_C": self.threshold,
            "n_train": self.n_train,
            "n_test": self.n_test,
            "mean_abs_rel_error": self.mean_abs_rel_error,
            "max_abs_rel_error": self.max_abs_rel_error,
        }


def holdout(
    law: str | type[AbstractLaw] | AbstractLaw,
    data: Any,
    *,
    above: float | None = None,
    largest: int | None = None,
    by: str = "C",
    query: str | None = None,
    **fit_kwargs: Any,
) -> HoldoutReport:
    """Fit on runs with `by` (default compute `C`) at most `above` — or on all but the
    `largest` k runs — and report the absolute relative error on the held-out runs.

    **Arguments:** `law`, `data`, `query` as in [`fit`][]; exactly one of `above` or
    `largest`; `by`, the column that orders runs by scale; `fit_kwargs` go to [`fit`][].
    """
    if (above is None) == (largest is None):
        raise ValueError("holdout: give exactly one of above= (a threshold) or largest= (a count).")
    template = get_law(law)
    runs = load_runs(data, query=query)
    runs.require([by], why="holdout orders runs by it")
    scale = runs[by]
    if above is not None:
        if not np.isfinite(above) or above <= 0:
            raise ValueError(f"above={above!r}: expected a positive threshold on column {by!r}.")
        threshold = float(above)
        train_mask = scale <= threshold
    else:
        if not 1 <= int(largest) < len(runs):
            raise ValueError(f"largest={largest!r}: expected between 1 and {len(runs) - 1}.")
        cut = np.sort(scale)[-int(largest)]
        train_mask = scale < cut
        threshold = float(np.max(scale[train_mask])) if train_mask.any() else float(cut)
    if train_mask.all():
        raise ValueError(f"above={above!r}: no run lies above the threshold, so nothing is held out.")
    if not train_mask.any():
        raise ValueError(f"above={above!r}: no run lies at or below the threshold, so nothing to fit.")
    train, test = runs.subset(train_mask), runs.subset(~train_mask)
    result = fit(template, train, **fit_kwargs)
    target = result.target
    predicted = np.asarray(result.law.predict(test.arrays(result.inputs)))
    actual = test[target]
    return HoldoutReport(
        fit=result,
        n_train=len(train),
        n_test=len(test),
        threshold=threshold,
        predicted=predicted,
        actual=actual,
        abs_rel_error=np.abs(predicted - actual) / actual,
    )
