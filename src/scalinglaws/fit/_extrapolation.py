r"""How wrong a law gets as it extrapolates: the noise term of predictive intervals.

A forecast for a new run's observed loss is uncertain for three reasons: the coefficients
are uncertain (bootstrap replicates or posterior draws), a run's loss scatters around the
law (seeds, data order: residual noise), and the law itself is only an approximation whose
error grows the further it extrapolates beyond the fitted runs. Intervals that carry only
the first part covered the held-out truth in half the cases or fewer (issue 10).

The last two parts are estimated here from the user's own runs, by *leave-largest-out*
refits (Choshen et al. 2024, "A Hitchhiker's Guide to Scaling Law Estimation",
arXiv:2410.11840, who score laws by fitting on smaller runs and predicting the larger):
the law is refitted on the runs below successive thresholds of scale, and the log errors
$e_j$ of the held-out larger runs are recorded with their distance beyond the largest
fitted run, $d_j = \max(0, \log_{10}(C_j / C_{\max}))$. The errors are modelled as

$$e_j \sim \mathcal N\big(0,\ \sigma_0^2 + (s\,d_j)^2\big),$$

a discrepancy term in the spirit of Kennedy & O'Hagan 2001 ("Bayesian calibration of
computer models", JRSS B 63:425) whose scale grows linearly with log-distance; $\sigma_0$
(at least the robust scale of the in-sample residuals) and $s$ are fitted by maximum
likelihood on a grid. A predictive draw for a new run at distance $d$ is then a replicate's
log prediction plus one draw of this noise.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConvergenceWarning, IdentifiabilityError, InputError

# Fractions of runs (ordered by their largest scale) kept for fitting in the successive
# leave-largest-out splits: four refits, each predicting every larger run.
LLO_FRACTIONS = (0.5, 0.625, 0.75, 0.875)
# The robust scale of residuals: 1.4826 x median absolute deviation equals the standard
# deviation for Normal residuals and ignores a few outlying runs.
_MAD_TO_SD = 1.4826


def robust_scale(residuals: np.ndarray) -> float:
    """$1.4826\\,\\mathrm{median}|r - \\mathrm{median}(r)|$: a standard deviation that a few
    outliers do not inflate."""
    r = np.asarray(residuals, dtype=float)
    r = r[np.isfinite(r)]
    if r.size == 0:
        return 0.0
    return float(_MAD_TO_SD * np.median(np.abs(r - np.median(r))))


def scale_column(columns, inputs, by: str | None = None) -> str | None:
    """The column that orders runs by scale: `by` if given, else `C` when present (or
    derivable as 6ND), else the law's single input among `N`, `D`, `C`; `None` if none."""
    columns = set(columns)
    if by is not None:
        if by not in columns and not (by == "C" and {"N", "D"} <= columns):
            raise InputError(f"by={by!r}: no such column; choose C, N or D (a column of the data).")
        return by
    if "C" in columns or {"N", "D"} <= columns:
        return "C"
    scalar = [c for c in inputs if c in ("N", "D", "C")]
    return scalar[0] if scalar else None


def scale_values(x: Mapping[str, Any], by: str) -> np.ndarray:
    """Values of the scale column `by` at covariates `x` (C from 6ND when only N and D
    are given, the convention of Kaplan et al. 2020)."""
    if by in x:
        return np.asarray(x[by], dtype=float)
    if by == "C" and "N" in x and "D" in x:
        return 6.0 * np.asarray(x["N"], dtype=float) * np.asarray(x["D"], dtype=float)
    raise InputError(f"x: give {by!r} (the scale the extrapolation noise grows with), e.g. {by}=1e22.")


@dataclass(frozen=True)
class ExtrapolationNoise:
    r"""Noise of a new run's log loss around the law, growing with extrapolation distance:
    $\sigma(d)^2 = \sigma_0^2 + (s\,d)^2$, $d = \max(0, \log_{10}(x_{by} / x_{\max}))$.

    **Fields:** `sigma0` (noise at or inside the fitted range, log units), `slope` ($s$,
    per decade of `by`), `by` (the scale column, or `None` when not estimated), `scale_max`
    (the largest fitted value of `by`), `n_errors` and `n_splits` (held-out errors and
    leave-largest-out refits it was estimated from), `note` (how it was obtained).
    """

    sigma0: float
    slope: float
    by: str | None
    scale_max: float
    n_errors: int = 0
    n_splits: int = 0
    note: str = ""

    def distance(self, x: Mapping[str, Any], n: int) -> np.ndarray:
        """Decades of `by` beyond the largest fitted run (0 inside), one per point."""
        if self.by is None or self.slope == 0.0:
            return np.zeros(n)
        return np.maximum(0.0, np.log10(scale_values(x, self.by) / self.scale_max)) * np.ones(n)

    def sigma(self, x: Mapping[str, Any], n: int) -> np.ndarray:
        """Standard deviation of a new run's log loss about the law at each point."""
        d = self.distance(x, n)
        return np.sqrt(self.sigma0**2 + (self.slope * d) ** 2)

    def as_dict(self) -> dict[str, Any]:
        return {
            "sigma0": self.sigma0, "slope_per_decade": self.slope, "by": self.by, "scale_max": self.scale_max,
            "n_errors": self.n_errors, "n_splits": self.n_splits, "note": self.note,
        }


def group_maxima(scale: np.ndarray, groups: np.ndarray | None) -> np.ndarray:
    """Each row's run's largest scale (a row's own scale when rows are independent runs)."""
    if groups is None:
        return np.asarray(scale, dtype=float)
    codes = np.unique(groups, return_inverse=True)[1]
    top = np.full(codes.max() + 1, -np.inf)
    np.maximum.at(top, codes, scale)
    return top[codes]


def leave_largest_out(
    template,
    runs,
    *,
    by: str,
    groups: np.ndarray | None = None,
    weights: np.ndarray | None = None,
    fractions: tuple[float, ...] = LLO_FRACTIONS,
    **fit_kwargs: Any,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Refit on the runs below successive thresholds of `by` and record the log errors
    (observed minus predicted) of the larger held-out runs and their distances (decades
    beyond the largest fitted value). A run goes to the held-out side when its *largest*
    checkpoint lies above the threshold, so no run is split.

    Held-out rows get weight zero instead of being removed, so every refit has the shapes
    of the full fit and reuses its compiled program.

    **Returns:** `(errors, distances, n_splits)`.
    """
    from ._fit import fit

    scale = _scale_of(runs, by)
    top = group_maxima(scale, groups)
    levels = np.unique(top)
    w = np.ones(len(runs)) if weights is None else np.asarray(weights, dtype=float)
    target = fit_kwargs.pop("target", None) or type(template).target
    y = runs[target]
    thresholds = sorted({float(levels[max(0, int(np.floor(f * levels.size)) - 1)]) for f in fractions})
    errors, distances, n_splits = [], [], 0
    for threshold in thresholds:
        train = top <= threshold
        if train.all() or not train.any():
            continue
        with warnings.catch_warnings():
            # These refits only measure extrapolation error; a doubtful one still measures it.
            warnings.simplefilter("ignore", ConvergenceWarning)
            try:
                result = fit(template, runs, weights=w * train, target=target, **fit_kwargs)
            except IdentifiabilityError:
                continue
        predicted = np.asarray(result.law.predict(runs.arrays(result.inputs)))
        ok = ~train & np.isfinite(predicted) & (predicted > 0)
        if not ok.any():
            continue
        errors.append(np.log(y[ok]) - np.log(predicted[ok]))
        distances.append(np.maximum(0.0, np.log10(scale[ok] / threshold)))
        n_splits += 1
    if not errors:
        return np.zeros(0), np.zeros(0), 0
    return np.concatenate(errors), np.concatenate(distances), n_splits


def fit_noise(errors: np.ndarray, distances: np.ndarray, floor: float) -> tuple[float, float]:
    r"""Maximum-likelihood $(\sigma_0, s)$ of $e \sim \mathcal N(0, \sigma_0^2 + s^2 d^2)$ on a
    grid, with $\sigma_0 \ge$ `floor` (the in-sample residual scale)."""
    e, d = np.asarray(errors, float), np.asarray(distances, float)
    floor = max(float(floor), 1e-6)
    top = max(floor * 1.01, float(np.sqrt(np.mean(e**2))) * 2.0)
    sigma0 = np.geomspace(floor, top, 60)
    slopes = np.concatenate([[0.0], np.geomspace(1e-4, 2.0, 120)])
    var = sigma0[:, None, None] ** 2 + (slopes[None, :, None] * d[None, None, :]) ** 2
    loglik = -0.5 * np.sum(np.log(var) + e[None, None, :] ** 2 / var, axis=-1)
    i, j = np.unravel_index(np.argmax(loglik), loglik.shape)
    return float(sigma0[i]), float(slopes[j])


def estimate_extrapolation_noise(
    template,
    runs,
    *,
    residuals: np.ndarray,
    by: str | None = None,
    groups: np.ndarray | None = None,
    weights: np.ndarray | None = None,
    **fit_kwargs: Any,
) -> ExtrapolationNoise:
    """The [`ExtrapolationNoise`][] of a law on `runs`: leave-largest-out refits (see
    [`leave_largest_out`][]) and a maximum-likelihood fit of $(\\sigma_0, s)$, with
    $\\sigma_0$ at least the robust scale of the full fit's log `residuals`.

    With fewer than 4 runs, or no scale column, only the residual scale is used (`slope`
    0, and `note` says so)."""
    floor = robust_scale(residuals)
    by = scale_column(runs.columns, template.inputs, by)
    n_runs = len(runs) if groups is None else int(np.unique(groups).size)
    if by is None or n_runs < 4:
        why = "no scale column (C, N or D)" if by is None else f"only {n_runs} runs"
        return ExtrapolationNoise(floor, 0.0, None, np.inf, note=f"residual scale only ({why})")
    scale = _scale_of(runs, by)
    errors, distances, n_splits = leave_largest_out(
        template, runs, by=by, groups=groups, weights=weights, **fit_kwargs
    )
    if errors.size < 2:
        return ExtrapolationNoise(floor, 0.0, by, float(scale.max()), note="residual scale only (no usable split)")
    sigma0, slope = fit_noise(errors, distances, floor)
    return ExtrapolationNoise(
        sigma0, slope, by, float(scale.max()), n_errors=int(errors.size), n_splits=n_splits,
        note="leave-largest-out (Choshen et al. 2024)",
    )


def _scale_of(runs, by: str) -> np.ndarray:
    if by in runs.columns:
        return runs[by]
    return scale_values(runs.arrays(["N", "D"]), by)
