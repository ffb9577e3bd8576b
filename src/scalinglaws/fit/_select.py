r"""Which law to trust: rank candidate laws by how well they extrapolate, and stack them.

Three views of each candidate law, on the user's own runs:

- *Leave-largest-out extrapolation error* (Choshen et al. 2024, "A Hitchhiker's Guide to
  Scaling Law Estimation", arXiv:2410.11840): fit on the smaller runs, forecast the larger
  ones; report the error of the point forecasts and the log score of the predictive
  intervals (see [`holdout`][]).
- *PSIS-LOO* (Vehtari, Gelman & Gabry 2017, "Practical Bayesian model evaluation using
  leave-one-out cross-validation and WAIC"): the expected log predictive density of a
  left-out run, from a Laplace posterior (`scalinglaws.bayes.infer(method="laplace")` and
  `scalinglaws.bayes.loo`). It measures interpolation, not extrapolation, so it ranks
  second.
- *Stacking weights* (Yao, Vehtari, Simpson & Gelman 2018, "Using stacking to average
  Bayesian predictive distributions", Bayesian Analysis 13:917): the weights $w$ on the
  simplex that maximise $\sum_j \log \sum_k w_k\,p_k(y_j)$ over the held-out runs $j$,
  where $p_k$ is law $k$'s predictive density fitted on the smaller runs. Yao et al. stack
  leave-one-out densities; stacking the leave-largest-out ones instead weights laws by how
  they extrapolate, which is what a forecast needs. Solved by the EM fixed point for
  mixture weights (the objective is concave in $w$).

[`Selection.forecast`][] then forecasts with the ensemble: a mixture of the laws'
predictive distributions (each law refitted on all runs with the bootstrap) in proportion
to the stacking weights.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..data import load_runs
from ..errors import ConvergenceWarning, InputError
from ..precision import float64
from ._extrapolation import group_maxima, scale_values
from ._holdout import HoldoutReport, holdout
from ._resample import run_groups

# Predictive densities of held-out log losses are Normal with the scale implied by the
# predictive interval: sd = log(hi / lo) / (2 z), z the Normal quantile of the level.
_LEVEL = 0.9
_Z90 = 1.6448536269514722
# Held-out fraction of runs when neither `above` nor `largest` is given.
DEFAULT_HELDOUT_FRACTION = 0.2


@dataclass(frozen=True)
class Selection:
    """What [`select`][] returns: candidate laws ranked, weighted, and an ensemble forecast.

    **Fields:** `rows` (one dict per law: `law`, `mean_abs_rel_error`, `rmse_log`,
    `coverage`, `log_score` (sum of held-out log predictive densities, in log-loss units),
    `elpd_loo`, `loo_se`, `weight` (stacking), `converged`, `note`), `by`, `threshold`,
    `n_train`, `n_test`, and `bootstraps` (law -> a `BootstrapResult` on all runs, for
    laws with weight > 0; used by `forecast`).
    """

    rows: list[dict[str, Any]]
    by: str
    threshold: float
    n_train: int
    n_test: int
    bootstraps: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def weights(self) -> dict[str, float]:
        return {row["law"]: row["weight"] for row in self.rows}

    @property
    def best(self) -> str:
        """The law with the smallest leave-largest-out error (rmse of log loss)."""
        return self.rows[0]["law"]

    @float64
    def forecast(self, x: Mapping[str, Any] | None = None, /, *, level: float = 0.9, seed: int = 0,
                 **covariates: Any) -> dict[str, Any]:
        """Ensemble predictive intervals at new covariates: a mixture of each law's
        bootstrap predictive distribution (fitted on all runs), in proportion to the
        stacking weights.

        **Returns:** dict with `interval` (`"predictive"`), `level`, `weights`, and arrays
        `median`, `lo`, `hi` (one value per point).
        """
        if not 0 < level < 1:
            raise InputError(f"level={level!r}: expected a probability in (0, 1), e.g. 0.9.")
        merged = {**dict(x or {}), **covariates}
        rng = np.random.default_rng(seed)
        pieces = []
        for name, boot in self.bootstraps.items():
            draws = boot.draws(merged, kind="predictive", seed=seed)
            take = int(round(self.weights[name] * 8000))
            if take:
                pieces.append(draws[rng.integers(0, draws.shape[0], take)])
        if not pieces:
            raise InputError("forecast: no law has a positive stacking weight.")
        mixed = np.concatenate(pieces)
        lo, median, hi = np.exp(np.quantile(mixed, [(1 - level) / 2, 0.5, (1 + level) / 2], axis=0))
        return {"interval": "predictive", "level": float(level), "weights": self.weights,
                "median": median, "lo": lo, "hi": hi}

    def as_dict(self) -> dict[str, Any]:
        """What `scalinglaws select --json` prints."""
        return {
            "by": self.by,
            "threshold": self.threshold if np.isfinite(self.threshold) else None,
            "n_train": self.n_train,
            "n_test": self.n_test,
            "best": self.best,
            "laws": [{k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in row.items()}
                     for row in self.rows],
        }

    def table(self) -> str:
        lines = [
            f"held out {self.n_test} rows of the largest runs ({self.by} > {self.threshold:.3g}); "
            f"fit on {self.n_train}",
            f"{'law':<20} {'|rel.err|':>10} {'rmse log':>10} {'cov90':>7} {'log score':>10} "
            f"{'elpd_loo':>10} {'weight':>7}",
        ]
        for r in self.rows:
            lines.append(
                f"{r['law']:<20} {r['mean_abs_rel_error']:>10.4%} {r['rmse_log']:>10.4g} {r['coverage']:>7.1%} "
                f"{r['log_score']:>10.4g} {r['elpd_loo']:>10.4g} {r['weight']:>7.3f}"
                + ("" if r["converged"] else "  (fit did not converge)")
            )
        return "\n".join(lines)


def stacking_weights(densities: np.ndarray, *, max_iter: int = 10_000, tol: float = 1e-12) -> np.ndarray:
    r"""Weights $w$ on the simplex maximising $\sum_j \log \sum_k w_k\,p_{jk}$ (Yao et al.
    2018), for a `(n_points, n_models)` array of predictive densities $p_{jk}$, by the EM
    fixed point $w_k \leftarrow w_k\,\overline{p_{jk} / \sum_l w_l p_{jl}}$."""
    p = np.asarray(densities, dtype=float)
    if p.ndim != 2 or p.shape[1] < 1:
        raise InputError(f"densities: expected a (points, models) array, got shape {p.shape}.")
    # Scale each point's densities: the weights do not depend on a per-point factor.
    p = p / np.maximum(p.max(axis=1, keepdims=True), 1e-300)
    w = np.full(p.shape[1], 1.0 / p.shape[1])
    for _ in range(max_iter):
        mix = np.maximum(p @ w, 1e-300)
        new = w * np.mean(p / mix[:, None], axis=0)
        new /= new.sum()
        if np.max(np.abs(new - w)) < tol:
            return new
        w = new
    return w


@float64
def select(
    laws: Sequence[str],
    data: Any,
    *,
    above: float | None = None,
    largest: int | None = None,
    by: str = "C",
    query: str | None = None,
    columns: Mapping[str, str] | None = None,
    group: str | None = None,
    loo: bool = True,
    n_boot: int = 200,
    seed: int = 0,
    ensemble: bool = True,
    **fit_kwargs: Any,
) -> Selection:
    """Rank candidate laws by leave-largest-out extrapolation error and PSIS-LOO, and give
    stacking weights and an ensemble forecast (see the module docstring for the methods).

    **Arguments:**

    - `laws`: two or more law names (`scalinglaws laws`).
    - `data`, `query`, `columns`: as in [`fit`][]; `group`: the run-id column.
    - `above` / `largest` / `by`: the held-out split as in [`holdout`][] (default: hold
        out the largest 20% of runs by `by`).
    - `loo`: also compute PSIS-LOO from a Laplace posterior (`scalinglaws.bayes`); laws for
        which it fails get `elpd_loo` NaN and a `note`.
    - `n_boot`, `seed`: bootstrap settings; `ensemble`: refit laws with positive weight on
        all runs (bootstrap) so that `forecast` works.
    - `fit_kwargs` go to [`fit`][].

    **Returns:** a [`Selection`][], rows sorted by `rmse_log` (best first).
    """
    if isinstance(laws, str):
        laws = [name.strip() for name in laws.split(",") if name.strip()]
    laws = list(dict.fromkeys(laws))
    if len(laws) < 2:
        raise InputError(f"laws={laws!r}: give two or more candidate laws to compare, e.g. chinchilla,kaplan.")
    runs = load_runs(data, query=query, columns=columns)
    if above is None and largest is None:
        groups = run_groups(runs, group)
        names = [c for c in ("N", "D", by) if c in runs.columns]
        top = group_maxima(scale_values(runs.arrays(names), by), groups)
        largest = max(1, int(round(DEFAULT_HELDOUT_FRACTION * np.unique(top).size)))
    rows, reports = [], {}
    for name in laws:
        report: HoldoutReport = holdout(
            name, runs, above=above, largest=largest, by=by, group=group, interval="bootstrap",
            level=_LEVEL, n_boot=n_boot, seed=seed, **fit_kwargs,
        )
        reports[name] = report
        sd = np.maximum(np.log(report.hi / report.lo) / (2 * _Z90), 1e-6)
        z = (np.log(report.actual) - np.log(np.sqrt(report.hi * report.lo))) / sd
        log_density = -0.5 * z**2 - np.log(sd) - 0.5 * np.log(2 * np.pi)
        row = {
            "law": name,
            "mean_abs_rel_error": report.mean_abs_rel_error,
            "rmse_log": report.rmse_log,
            "coverage": report.coverage,
            "log_score": float(log_density.sum()),
            "elpd_loo": float("nan"),
            "loo_se": float("nan"),
            "weight": 0.0,
            "converged": bool(report.fit.converged),
            "note": "",
            "_log_density": log_density,
        }
        if loo:
            row.update(_loo(name, runs, group, seed, fit_kwargs))
        rows.append(row)
    densities = np.exp(np.column_stack([row.pop("_log_density") for row in rows]))
    for row, weight in zip(rows, stacking_weights(densities)):
        row["weight"] = float(weight)
    rows.sort(key=lambda r: r["rmse_log"])
    first = reports[laws[0]]
    bootstraps = {}
    if ensemble:
        from ..bayes import bootstrap

        passed = {k: v for k, v in fit_kwargs.items() if k in ("target", "weights", "fix", "tie", "loss", "delta")}
        for row in rows:
            if row["weight"] > 1e-3:
                bootstraps[row["law"]] = bootstrap(row["law"], runs, n=n_boot, seed=seed, group=group, by=by,
                                                   **passed)
    return Selection(rows=rows, by=by, threshold=first.threshold, n_train=first.n_train, n_test=first.n_test,
                     bootstraps=bootstraps)


def _loo(name, runs, group, seed, fit_kwargs) -> dict[str, Any]:
    """PSIS-LOO from a Laplace posterior (`scalinglaws.bayes.infer` and `loo`)."""
    from ..bayes import infer, loo

    passed = {k: v for k, v in fit_kwargs.items() if k in ("target", "weights", "fix", "tie")}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            posterior = infer(name, runs, method="laplace", seed=seed, **passed)
            result = loo(posterior, runs)
    except (InputError, ValueError) as error:
        return {"note": f"PSIS-LOO unavailable: {error}"}
    return {"elpd_loo": float(result["elpd_loo"]), "loo_se": float(result["se"])}
