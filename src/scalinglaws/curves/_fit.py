r"""Fit a loss-curve law to checkpoints, predict whole curves under new schedules, and find
the warmup-stable-decay schedule that minimises the final loss."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from ..errors import ConvergenceWarning, InputError
from ..fit import FitResult, fit
from ..laws import AbstractLaw, get_law
from ..precision import float64
from ._features import DEFAULT_LAMBDA, curve_features, schedule_features
from ._schedule import Schedule

__all__ = ["CurveFit", "bootstrap_curves", "curve_with_intervals", "fit_curves", "optimize_decay", "predict_curve"]


@dataclasses.dataclass(frozen=True)
class CurveFit:
    """A loss-curve law fitted to checkpoints (what [`fit_curves`][] returns).

    **Fields:**

    - `result`: the [`scalinglaws.FitResult`][] of the law on the feature table.
    - `table`: the checkpoints with their schedule features (`S1`, `S2`, ...).
    - `run`: the run-id column; `lam`: the annealing momentum $\\lambda$; `n_terms`: the
        multi-power bins (or `None`).
    - `residual_sd`: standard deviation of the log residuals (checkpoint scatter).
    - `replicates`: a batched law of bootstrap refits over runs (from
        [`bootstrap_curves`][]), or `None`.
    """

    result: FitResult
    table: pd.DataFrame
    run: str
    lam: float
    n_terms: int | None
    residual_sd: float
    replicates: AbstractLaw | None = None
    n_replicates_converged: int = 0

    @property
    def law(self) -> AbstractLaw:
        return self.result.law

    @property
    def converged(self) -> bool:
        return bool(self.result.converged)

    def summary(self) -> str:
        runs = self.table[self.run].nunique()
        lines = [self.result.summary(), f"data       {len(self.table)} checkpoints of {runs} runs; lambda = {self.lam:g}"]
        if self.replicates is not None:
            lines.append(f"intervals  bootstrap over runs, {self.n_replicates_converged} converged refits")
        return "\n".join(lines)


def _needs_terms(law: AbstractLaw) -> int | None:
    return getattr(law, "n_terms", None)


@float64
def fit_curves(
    data: Any,
    law: str | type[AbstractLaw] | AbstractLaw = "lr-annealing",
    *,
    schedule: Any = None,
    run: str = "run",
    step: str = "step",
    lr: str = "lr",
    lam: float = DEFAULT_LAMBDA,
    query: str | None = None,
    columns: Mapping[str, str] | None = None,
    **fit_options: Any,
) -> CurveFit:
    r"""Fit a loss-curve law (default Tissue et al. 2024's `lr-annealing`) to checkpoints.

    Derives each checkpoint's schedule features with [`curve_features`][] and fits the law
    with the package's ordinary fitter ([`scalinglaws.fit`][]: Huber on log residuals,
    multi-start, float64).

    **Arguments:**

    - `data`: checkpoints: a CSV path, DataFrame or dict with a run id (`run`), the step
        (`step`), the `loss`, and each run's learning rates (see [`curve_features`][]).
    - `law`: `"lr-annealing"` (Tissue et al.), `"lr-annealing-n"` (joint across sizes,
        reads `N`), `"multi-power"` (Luo et al. 2025), or a law instance/class.
    - `schedule`, `run`, `step`, `lr`, `lam`: as in [`curve_features`][].
    - `query`: a pandas row filter applied to the checkpoints before fitting.
    - `columns`: your column names, e.g. `{"iteration": "step"}` (as in [`scalinglaws.load_runs`][]).
    - `fit_options`: passed to [`scalinglaws.fit`][] (`loss`, `delta`, `starts`, `fix`, ...).

    **Returns:** a [`CurveFit`][]. A fit that did not converge warns (`ConvergenceWarning`).
    """
    template = get_law(law)
    n_terms = _needs_terms(template)
    table = curve_features(
        data, schedule=schedule, run=run, step=step, lr=lr, lam=lam, n_terms=n_terms, columns=columns
    )
    if query:
        try:
            table = table.query(query, engine="python").reset_index(drop=True)
        except Exception as error:  # pandas raises many types for a bad expression
            raise InputError(f"query={query!r}: could not evaluate it ({error}). Columns are {list(table.columns)}.") from None
        if len(table) == 0:
            raise InputError(f"query={query!r}: no checkpoints left.")
    fit_options.setdefault("starts", 256 if template.default_grid is None else "grid")
    result = fit(template, table, group=run, **fit_options)
    if not bool(result.converged):
        warnings.warn(f"fit_curves: {result.message}", ConvergenceWarning, stacklevel=2)
    resid = np.asarray(_log_residuals(result.law, table, result.target))
    return CurveFit(
        result=result,
        table=table,
        run=run,
        lam=float(lam),
        n_terms=n_terms,
        residual_sd=float(np.std(resid, ddof=min(len(resid) - 1, len(result.free)))) if len(resid) > 1 else 0.0,
    )


def _inputs(law: AbstractLaw, frame: pd.DataFrame | Mapping[str, np.ndarray]) -> dict[str, jnp.ndarray]:
    return {name: jnp.asarray(np.asarray(frame[name], dtype=np.float64)) for name in law.inputs}


def _log_residuals(law, table, target) -> np.ndarray:
    pred = law.log_predict(_inputs(law, table))
    return np.asarray(pred) - np.log(table[target].to_numpy(dtype=np.float64))


@float64
def bootstrap_curves(curve_fit: CurveFit, *, n: int = 200, seed: int = 0) -> CurveFit:
    """Bootstrap over runs: refit the curve law on `n` resamples of whole runs.

    Checkpoints of one run share its noise, so runs, not checkpoints, are resampled (the
    cluster bootstrap). Uses [`scalinglaws.bayes.bootstrap`][] with `group=` (run ids)
    where it supports grouping; otherwise refits with per-row weights equal to each run's
    resampling count, from the point fit.

    **Returns:** the `CurveFit` with `replicates` (a batched law) set.
    """
    if int(n) != n or n < 2:
        raise InputError(f"n={n!r}: expected an integer number of bootstrap replicates >= 2.")
    table = curve_fit.table
    runs = table[curve_fit.run].to_numpy()
    uniq, codes = np.unique(runs.astype(str), return_inverse=True)
    if uniq.size < 2:
        raise InputError("bootstrap_curves: a bootstrap over runs needs at least 2 runs; fit more than one run.")
    template = curve_fit.law
    from ..bayes import bootstrap

    boot = bootstrap(
        template, table, n=int(n), seed=int(seed), group=curve_fit.run, init=curve_fit.result,
        loss=curve_fit.result.loss, delta=curve_fit.result.delta,
    )
    law, ok = boot.law, np.asarray(boot.converged)
    if ok.mean() < 0.9:
        warnings.warn(
            f"bootstrap_curves: only {int(ok.sum())} of {ok.size} refits converged; intervals may be too narrow.",
            ConvergenceWarning,
            stacklevel=2,
        )
    return dataclasses.replace(curve_fit, replicates=law, n_replicates_converged=int(ok.sum()))


@float64
def predict_curve(
    curve_fit: CurveFit,
    schedule: Schedule,
    *,
    steps: Any = None,
    covariates: Mapping[str, float] | None = None,
    level: float = 0.9,
) -> pd.DataFrame:
    r"""The predicted loss curve of a run under `schedule`, with intervals.

    **Arguments:**

    - `curve_fit`: a [`CurveFit`][] (bootstrap it with [`bootstrap_curves`][] for intervals).
    - `schedule`: the new run's [`Schedule`][].
    - `steps`: the checkpoints to predict (default: 200 evenly spaced steps and the last).
    - `covariates`: values of non-schedule inputs of the law (e.g. `{"N": 1e9}` for
        `lr-annealing-n`).
    - `level`: central interval probability.

    **Returns:** a DataFrame with `step`, `lr`, `S1`, `S2`, `loss` (the point fit) and,
    after a bootstrap, `lower`/`upper` (quantiles of the bootstrap curves: parameter
    uncertainty from resampling runs) and `pred_lower`/`pred_upper` (the same widened by
    the checkpoints' log-residual scatter, for one new checkpoint's loss). Without a
    bootstrap the interval columns are absent.
    """
    return curve_with_intervals(
        curve_fit.law, schedule, lam=curve_fit.lam, n_terms=curve_fit.n_terms, replicates=curve_fit.replicates,
        residual_sd=curve_fit.residual_sd, steps=steps, covariates=covariates, level=level,
    )


@float64
def curve_with_intervals(
    law: AbstractLaw,
    schedule: Schedule,
    *,
    lam: float,
    n_terms: int | None = None,
    replicates: AbstractLaw | None = None,
    residual_sd: float = 0.0,
    steps: Any = None,
    covariates: Mapping[str, float] | None = None,
    level: float = 0.9,
) -> pd.DataFrame:
    """[`predict_curve`][] from its parts: a fitted curve `law`, its annealing momentum
    `lam` (and multi-power bins `n_terms`), optional bootstrap `replicates` (a batched law)
    and the checkpoints' log-residual scatter `residual_sd` (what `scalinglaws curves
    predict` reads from a saved fit)."""
    if not isinstance(schedule, Schedule):
        raise InputError(f"schedule=...: expected a scalinglaws.curves.Schedule, got {type(schedule).__name__}.")
    if not 0 < level < 1:
        raise InputError(f"level={level!r}: expected a probability in (0, 1).")
    if steps is None:
        steps = np.unique(np.linspace(1, schedule.total_steps, 200).round().astype(np.int64))
    feats = schedule_features(schedule.learning_rates(), steps, lam=lam, n_terms=n_terms)
    extra = dict(covariates or {})
    missing = [name for name in law.inputs if name not in feats and name not in extra]
    if missing:
        raise InputError(
            f"covariates=...: the law {type(law).__name__} also reads {missing}; give them, e.g. "
            f"covariates={{{missing[0]!r}: ...}}."
        )
    x = {**feats, **{k: np.full(len(feats["S1"]), float(v)) for k, v in extra.items()}}
    frame = pd.DataFrame({k: feats[k] for k in ("step", "lr", "S1", "S2")})
    frame["loss"] = np.exp(np.asarray(law.log_predict(_inputs(law, x))))
    if replicates is not None:
        draws = np.asarray(jax.vmap(lambda one: one.log_predict(_inputs(law, x)))(replicates))
        lo, hi = (1 - level) / 2, 1 - (1 - level) / 2
        frame["lower"] = np.exp(np.nanquantile(draws, lo, axis=0))
        frame["upper"] = np.exp(np.nanquantile(draws, hi, axis=0))
        # A new checkpoint's loss: bootstrap curve plus the residual scatter (normal in log).
        rng = np.random.default_rng(0)
        noisy = draws + rng.normal(0.0, residual_sd, size=draws.shape)
        frame["pred_lower"] = np.exp(np.nanquantile(noisy, lo, axis=0))
        frame["pred_upper"] = np.exp(np.nanquantile(noisy, hi, axis=0))
    return frame


def _final_losses(law: AbstractLaw, schedules: list[Schedule], lam, n_terms, extra) -> np.ndarray:
    rows = [schedule_features(s.learning_rates(), [s.total_steps], lam=lam, n_terms=n_terms) for s in schedules]
    x = {k: np.concatenate([r[k] for r in rows]) for k in rows[0]}
    x.update({k: np.full(len(schedules), float(v)) for k, v in extra.items()})
    return np.exp(np.asarray(law.log_predict(_inputs(law, x))))


@float64
def optimize_decay(
    curve_fit: CurveFit | AbstractLaw,
    *,
    total_steps: int,
    peak: float,
    warmup: int = 0,
    final: float = 0.0,
    decay_shape: str = "linear",
    lam: float | None = None,
    covariates: Mapping[str, float] | None = None,
    grid: int = 101,
    tol: float = 1e-4,
) -> dict[str, Any]:
    r"""The warmup-stable-decay decay length that minimises the predicted final loss.

    For a budget of `total_steps` steps, a WSD schedule (see [`Schedule`][]) decays over
    the last $f\,T$ steps; this searches $f \in [1/T, 1]$ (decay start
    $T - \lceil fT\rceil$): a grid of `grid` fractions, then golden-section refinement
    around the best grid point to `tol` in $f$. The final loss is a smooth function of $f$
    under Tissue et al.'s and Luo et al.'s laws (a trade-off between forward area, lost by
    decaying early, and annealing area, gained by decaying long).

    **Returns:** dict with `decay_fraction`, `decay_start` (step), `decay_steps`,
    `final_loss`, and `grid` (a DataFrame of `decay_fraction`, `final_loss`: the trade-off
    curve).
    """
    law = curve_fit.law if isinstance(curve_fit, CurveFit) else curve_fit
    if not isinstance(law, AbstractLaw):
        raise InputError(f"curve_fit=...: expected a CurveFit or a law, got {type(curve_fit).__name__}.")
    lam = curve_fit.lam if (lam is None and isinstance(curve_fit, CurveFit)) else (lam or DEFAULT_LAMBDA)
    n_terms = getattr(law, "n_terms", None)
    if int(grid) != grid or grid < 3:
        raise InputError(f"grid={grid!r}: expected an integer >= 3.")
    base = Schedule("wsd", peak=peak, total_steps=total_steps, warmup=warmup, final=final, decay_shape=decay_shape)
    extra = dict(covariates or {})
    missing = [n for n in law.inputs if n not in ("S1", "S2", "lr") and not n.startswith("mp_") and n not in extra]
    if missing:
        raise InputError(f"covariates=...: the law also reads {missing}; give their values.")
    lo_f = 1.0 / total_steps
    hi_f = 1.0 - warmup / total_steps

    def losses(fractions):
        return _final_losses(law, [base.replace(decay_fraction=float(f)) for f in fractions], lam, n_terms, extra)

    fractions = np.linspace(lo_f, hi_f, int(grid))
    values = losses(fractions)
    best = int(np.nanargmin(values))
    a, b = fractions[max(best - 1, 0)], fractions[min(best + 1, len(fractions) - 1)]
    ratio = (np.sqrt(5) - 1) / 2
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = losses([c, d])
    while b - a > tol:
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = losses([c])[0]
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = losses([d])[0]
    f_best = 0.5 * (a + b)
    final_loss = float(losses([f_best])[0])
    if final_loss > values[best]:  # the grid point itself was better (flat or kinked curve)
        f_best, final_loss = float(fractions[best]), float(values[best])
    sched = base.replace(decay_fraction=f_best)
    return {
        "decay_fraction": float(f_best),
        "decay_start": int(sched.decay_start),
        "decay_steps": int(total_steps - sched.decay_start),
        "final_loss": final_loss,
        "grid": pd.DataFrame({"decay_fraction": fractions, "final_loss": values}),
    }
