"""Vectorised bootstrap refits (Besiroglu et al. 2024's protocol), the frequentist
alternative to a posterior, with predictive intervals for new runs."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any, Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx

from ..errors import ConvergenceWarning, InputError
from ..fit import (
    ExtrapolationNoise,
    FitResult,
    estimate_extrapolation_noise,
    fit,
    make_parameterization,
    objective,
    resample_weights,
    run_groups,
)
from ..laws import AbstractLaw
from ..precision import float64
from ..sharding import sharded_map

# More failed refits than this fraction and the bootstrap warns: the surviving replicates
# are then a biased sample (refits fail where the optimum is poorly determined).
MAX_FAILED_FRACTION = 0.05
# Predictive intervals are quantiles of at least this many draws (replicates x noise draws).
_MIN_PREDICTIVE_DRAWS = 4000

IntervalKind = Literal["predictive", "mean"]


class BootstrapResult:
    """Bootstrap refits of a law.

    **Attributes:**

    - `estimate`: the point fit on all runs (a `FitResult`).
    - `replicates`: name -> refitted values of the refits that converged, shape
        `(n - n_failed,)` (every coefficient; fixed ones repeated, ties applied).
    - `converged`: boolean `(n,)`, whether each refit's BFGS stopped successfully with a
        finite objective; `n_failed` counts the others, which are excluded everywhere.
    - `noise`: the [`scalinglaws.fit.ExtrapolationNoise`][] of predictive intervals
        (residual noise plus an extrapolation term estimated by leave-largest-out refits).
    - `settings`: `n`, `seed`, `loss`, `delta`, `n_points`, `n_groups` (runs resampled;
        0 when rows were resampled).

    **Properties:** `law` (the batched law of replicates), `se` (standard deviation of the
    replicates, Besiroglu et al.'s definition of the standard error).
    """

    def __init__(
        self,
        estimate: FitResult,
        replicates: Mapping[str, np.ndarray],
        converged: np.ndarray,
        settings,
        noise: ExtrapolationNoise | None = None,
    ):
        self.estimate = estimate
        self.replicates = {k: np.asarray(v, dtype=np.float64) for k, v in replicates.items()}
        self.converged = np.asarray(converged, dtype=bool)
        self.settings = dict(settings)
        self.noise = noise

    @property
    def n_failed(self) -> int:
        return int((~self.converged).sum())

    @property
    def law(self):
        return self.estimate.law.replace(**{k: jnp.asarray(v) for k, v in self.replicates.items()})

    @property
    def se(self) -> dict[str, float]:
        return {k: float(np.std(v, ddof=1)) for k, v in self.replicates.items()}

    def summary(self) -> dict[str, dict[str, float]]:
        """name -> `{"estimate", "se", "q025", "q975"}` (percentile intervals)."""
        out = {}
        for name, values in self.replicates.items():
            q025, q975 = np.quantile(values, [0.025, 0.975])
            out[name] = {
                "estimate": float(getattr(self.estimate.law, name)),
                "se": float(np.std(values, ddof=1)),
                "q025": float(q025),
                "q975": float(q975),
            }
        return out

    @float64
    def draws(
        self,
        x: Mapping[str, Any] | None = None,
        /,
        *,
        kind: IntervalKind = "predictive",
        seed: int = 0,
        **covariates: Any,
    ) -> np.ndarray:
        r"""Draws of the log target at new covariates, shape `(n_draws, n_points)`.

        `kind="mean"`: each replicate's log prediction (coefficient uncertainty only).
        `kind="predictive"`: those, repeated to at least 4,000 draws, plus one draw each of
        $\mathcal N(0, \sigma(d)^2)$, $\sigma(d)^2 = \sigma_0^2 + (s\,d)^2$ with $d$ the
        decades beyond the largest fitted run (see `noise`).
        """
        if kind not in ("predictive", "mean"):
            raise InputError(f"kind={kind!r}: expected 'predictive' (a new run's loss) or 'mean' (the law).")
        merged = {**dict(x or {}), **covariates}
        inputs = self.estimate.inputs
        missing = [c for c in inputs if c not in merged]
        if missing:
            raise InputError(f"x: missing covariate(s) {missing}; the law reads {list(inputs)}.")
        arrays = {c: np.ravel(np.asarray(v, dtype=float)) for c, v in merged.items()}
        n_points = max(arrays[c].size for c in inputs)
        arrays = {c: np.broadcast_to(v, (n_points,)) for c, v in arrays.items() if v.size in (1, n_points)}
        log_draws = np.asarray(_log_predict_batched(self.law, {c: jnp.asarray(arrays[c]) for c in inputs}))
        if kind == "mean":
            return log_draws
        noise = self.noise or ExtrapolationNoise(0.0, 0.0, None, np.inf, note="none")
        sigma = noise.sigma(arrays, n_points)
        repeats = max(1, -(-_MIN_PREDICTIVE_DRAWS // log_draws.shape[0]))
        log_draws = np.repeat(log_draws, repeats, axis=0)
        return log_draws + np.random.default_rng(seed).standard_normal(log_draws.shape) * sigma

    @float64
    def forecast(
        self,
        x: Mapping[str, Any] | None = None,
        /,
        *,
        kind: IntervalKind = "predictive",
        level: float = 0.9,
        seed: int = 0,
        **covariates: Any,
    ) -> dict[str, Any]:
        """Central `level` intervals of the target at new covariates.

        `kind="predictive"` (the default) is an interval for the *observed* loss of a new
        run: coefficient uncertainty (the replicates), plus residual noise, plus an
        extrapolation term growing with distance beyond the fitted runs (see [`draws`][]).
        `kind="mean"` is the interval of the law's prediction (coefficient uncertainty
        only), which shrinks with more runs and does not cover new runs' losses.

        **Arguments:** covariates as a dict or keywords (`forecast(N=7e10, D=1.4e12)`);
        `kind`; `level` in (0, 1); `seed` for the noise draws.

        **Returns:** a dict with `interval` (the kind), `level`, and arrays (one value per
        point) `predicted` (the point fit), `median`, `lo`, `hi`.
        """
        if not 0 < level < 1:
            raise InputError(f"level={level!r}: expected a probability in (0, 1), e.g. 0.9.")
        merged = {**dict(x or {}), **covariates}
        log_draws = self.draws(merged, kind=kind, seed=seed)
        inputs = self.estimate.inputs
        point = np.asarray(self.estimate.law.predict(
            {c: np.broadcast_to(np.ravel(np.asarray(merged[c], dtype=float)), (log_draws.shape[1],)) for c in inputs}
        ))
        lo, median, hi = np.exp(np.quantile(log_draws, [(1 - level) / 2, 0.5, (1 + level) / 2], axis=0))
        return {"interval": kind, "level": float(level), "predicted": point, "median": median, "lo": lo, "hi": hi}

    def as_dict(self) -> dict[str, Any]:
        """What `scalinglaws bootstrap --json` prints."""
        return {
            "law": type(self.estimate.law).__name__,
            "coefficients": self.summary(),
            "n": int(self.settings["n"]),
            "n_converged": int(self.converged.sum()),
            "n_failed": self.n_failed,
            "n_groups": int(self.settings.get("n_groups", 0)),
            "seed": self.settings["seed"],
            "loss": self.settings["loss"],
            "delta": self.settings["delta"],
            "n_points": self.settings["n_points"],
            "noise": None if self.noise is None else self.noise.as_dict(),
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (alias of `as_dict`, the name every result shares)."""
        return self.as_dict()

    def __repr__(self) -> str:
        # Values: the point estimate and bootstrap standard errors, not arrays of replicates.
        from ..results import value_repr

        return value_repr("BootstrapResult", {
            "law": self.estimate.law, "se": {k: float(f"{float(v):.4g}") for k, v in self.se.items()},
            "n": int(self.settings["n"]), "n_failed": self.n_failed,
        })

    def summary_table(self) -> str:
        groups = int(self.settings.get("n_groups", 0))
        what = f"{groups} runs ({self.settings['n_points']} rows)" if groups else f"{self.settings['n_points']} runs"
        lines = [
            f"law        {type(self.estimate.law).__name__}: {self.estimate.law.formula}",
            (f"bootstrap  {self.settings['n']} resamples of {what}; "
             f"{int(self.converged.sum())} refits used, {self.n_failed} failed and excluded"),
        ]
        if self.noise is not None:
            lines.append(
                f"noise      sigma0 {self.noise.sigma0:.3g} (log loss), +{self.noise.slope:.3g} per decade of "
                f"{self.noise.by} beyond the fitted runs [{self.noise.note}]"
            )
        lines += ["", f"{'name':<10} {'estimate':>12} {'se':>12} {'q025':>12} {'q975':>12}"]
        for name, s in self.summary().items():
            lines.append(f"{name:<10} {s['estimate']:>12.5g} {s['se']:>12.4g} {s['q025']:>12.5g} {s['q975']:>12.5g}")
        return "\n".join(lines)


@eqx.filter_jit
def _log_predict_batched(law, x):
    return jax.vmap(lambda one: one.log_predict(x))(law)


def _refit_chunk(param, x, log_y, weights, u0, loss, delta, max_steps, rtol, atol):
    """BFGS from `u0` for every row of `weights` (vmapped over replicates)."""
    solver = optx.BFGS(rtol=rtol, atol=atol)

    def fn(u, w):
        return objective(param.law_from_unconstrained(u), x, log_y, w, loss, delta)

    def one(w):
        sol = optx.minimise(fn, solver, u0, args=w, max_steps=max_steps, throw=False)
        ok = (sol.result == optx.RESULTS.successful) & jnp.isfinite(fn(sol.value, w))
        return sol.value, ok

    u, ok = jax.vmap(one)(weights)
    return jax.vmap(param.natural)(u), ok



def _refit_batched(batched, shared):
    """`_refit_chunk` in the form `scalinglaws.sharding.sharded_map` takes: replicates
    (rows of `batched`) are split across the local devices, each refit on one device."""
    return _refit_chunk(shared["param"], shared["x"], shared["log_y"], batched, shared["u0"], **shared["options"])


@float64
def bootstrap(
    law: str | type[AbstractLaw] | AbstractLaw,
    data: Any,
    *,
    n: int = 4000,
    seed: int = 0,
    query: str | None = None,
    target: str | None = None,
    weights: str | np.ndarray | None = None,
    fix: Mapping[str, float] | None = None,
    tie: Mapping[str, str] | None = None,
    loss: str = "huber",
    delta: float = 1e-3,
    group: str | None = None,
    init: FitResult | None = None,
    predictive: bool = True,
    by: str | None = None,
    chunk: int = 500,
    max_steps: int = 500,
    rtol: float = 1e-8,
    atol: float = 1e-10,
    progress: bool | Callable[[str], None] = False,
    columns: Mapping[str, str] | None = None,
    per: str | None = None,
) -> BootstrapResult | dict[Any, BootstrapResult]:
    r"""Bootstrap standard errors and intervals by vectorised refits on resampled runs.

    Each replicate resamples the runs with replacement (integer weights of a fixed shape,
    so one compiled program serves every replicate) and refits by BFGS from the point fit,
    vmapped over replicates in chunks. This is the protocol of Besiroglu et al. 2024 (Epoch
    AI, arXiv:2404.10102: 4,000 resamples of Hoffmann et al.'s 240 points, Huber loss with
    $\delta = 10^{-3}$, refits from a good start), who report standard errors E 0.0257,
    alpha 0.0154, beta 0.0206.

    When rows are checkpoints of a few runs (a `group` column, or a `step` column from
    which runs are derived; see [`scalinglaws.fit.run_groups`][]), whole runs are resampled
    (the cluster bootstrap): resampling checkpoints would treat a run's shared noise as
    independent and give standard errors several times too small.

    Refits that did not converge are excluded from every statistic and counted
    (`n_failed`); more than 5% failed gives a [`scalinglaws.ConvergenceWarning`][].

    **Arguments:**

    - `law`, `data`, `query`, `target`, `weights`, `fix`, `tie`, `loss`, `delta`: as in
        [`scalinglaws.fit`][] (run weights multiply the resampling counts).
    - `n`: number of replicates; `seed`: the resampling seed.
    - `group`: the run-id column (default: derived, see above).
    - `init`: the point fit on all runs (default: `scalinglaws.fit`).
    - `predictive`: also estimate the noise of predictive intervals (leave-largest-out
        refits along `by`, default `C`; see [`scalinglaws.fit.ExtrapolationNoise`][]).
    - `chunk`: replicates per vectorised call (bounds memory; one compilation).
    - `max_steps`, `rtol`, `atol`: BFGS settings per refit.
    - `per`: bootstrap every group of this column separately (e.g. `"family"`): the point
        fits of all groups run as one batched [`scalinglaws.fit.sweep`][], then each
        group's replicates (each batch of replicates is split across the local devices,
        as always). `init` cannot be given with `per`.

    **Returns:** a [`BootstrapResult`][]; `result.forecast(...)` gives predictive (default)
    or mean intervals at new covariates. With `per`: a dict group -> `BootstrapResult` (groups
    too small to fit are skipped with a warning, as in `sweep`).
    """
    from ..data import load_runs
    from ._infer import _check_int, _reporter, prepare

    if columns:  # your column names -> the package's, e.g. {"params": "N"}
        data = load_runs(data, columns=columns)
    if per is not None:
        return _bootstrap_per(
            law, data, per=per, init=init, query=query, weights=weights,
            options=dict(n=n, seed=seed, target=target, fix=fix, tie=tie, loss=loss, delta=delta, group=group,
                         predictive=predictive, by=by, chunk=chunk, max_steps=max_steps, rtol=rtol, atol=atol,
                         progress=progress),
        )
    n = _check_int(n, "n", 2)
    chunk = _check_int(chunk, "chunk", 1)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed={seed!r}: expected an integer.")
    template, runs, x, y, w, target = prepare(law, data, query=query, target=target, weights=weights, fix=fix, tie=tie)
    groups = run_groups(runs, group)
    report = _reporter(progress)
    clock = time.perf_counter()
    if init is None:
        init = fit(template, runs, target=target, weights=w, fix=fix, tie=tie, loss=loss, delta=delta, group=group)
        report(f"point fit in {time.perf_counter() - clock:.2f} s")
    param = make_parameterization(init.law, fix, tie)
    u0 = param.unconstrained({k: getattr(init.law, k) for k in param.free})
    xj = {k: jnp.asarray(v) for k, v in x.items()}
    log_y = jnp.log(jnp.asarray(y))
    counts = resample_weights(len(runs), n, int(seed), groups=groups) * w[None, :]
    chunk = min(chunk, n)
    n_chunks = -(-n // chunk)
    # Pad the last chunk (with copies of the first replicate) to keep one traced shape.
    padded = np.concatenate([counts, np.repeat(counts[:1], n_chunks * chunk - n, axis=0)])
    values, oks = [], []
    shared = {"param": param, "x": xj, "log_y": log_y, "u0": u0, "options": dict(
        loss=loss, delta=float(delta), max_steps=int(max_steps), rtol=float(rtol), atol=float(atol))}
    clock = time.perf_counter()
    for i in range(n_chunks):
        v, ok = sharded_map(_refit_batched, padded[i * chunk : (i + 1) * chunk], shared)
        values.append({k: np.asarray(a) for k, a in v.items()})
        oks.append(np.asarray(ok))
        report(f"bootstrap: {min((i + 1) * chunk, n)}/{n} refits, {time.perf_counter() - clock:.1f} s")
    converged = np.concatenate(oks)[:n]
    free_values = {k: np.concatenate([c[k] for c in values])[:n][converged] for k in param.free}
    n_failed = int((~converged).sum())
    if n_failed > MAX_FAILED_FRACTION * n:
        warnings.warn(
            f"bootstrap: {n_failed} of {n} refits did not converge and were excluded; the surviving "
            "replicates may understate the uncertainty. Try a larger max_steps=, or fix poorly "
            "identified coefficients (fix=).",
            ConvergenceWarning,
            stacklevel=3,
        )
    if converged.sum() < 2:
        raise InputError(
            f"bootstrap: only {int(converged.sum())} of {n} refits converged; no standard error can be "
            "computed. Check the point fit (scalinglaws.fit) and its message."
        )
    kept = int(converged.sum())
    replicates = {}
    for name in init.law.coefficient_names():
        replicates[name] = (
            free_values[name] if name in free_values else np.full(kept, float(getattr(param.template, name)))
        )
    for follower, leader in param.ties:
        replicates[follower] = replicates[leader]
    noise = None
    if predictive:
        clock = time.perf_counter()
        residuals = np.log(y) - np.asarray(init.law.log_predict(x))
        noise = estimate_extrapolation_noise(
            template, runs, residuals=residuals, by=by, groups=groups, weights=w,
            target=target, fix=fix, tie=tie, loss=loss, delta=delta,
        )
        report(f"predictive noise ({noise.note}) in {time.perf_counter() - clock:.2f} s")
    settings = {
        "n": n, "seed": int(seed), "loss": loss, "delta": float(delta), "n_points": len(runs), "query": query,
        "n_groups": 0 if groups is None else int(np.unique(groups).size),
    }
    return BootstrapResult(init, replicates, converged, settings, noise)


def _bootstrap_per(law, data, *, per, init, query, weights, options) -> dict[Any, BootstrapResult]:
    """`bootstrap(..., per=)`: one batched sweep of point fits, then each group's refits."""
    from ..data import load_runs
    from ..fit import sweep

    if init is not None:
        raise InputError("init=...: not with per= (each group's point fit comes from one batched sweep).")
    runs = load_runs(data, query=query)
    fit_options = {k: options[k] for k in ("target", "fix", "tie", "loss", "delta", "group")}
    fits = sweep(law, runs, by=per, weights=weights, **fit_options)
    out = {}
    for item in fits:
        mask = (runs.frame[per] == item.group).to_numpy()
        w = weights[mask] if isinstance(weights, np.ndarray) else weights
        out[item.group] = bootstrap(law, runs.subset(mask), init=item.result, weights=w, **options)
    return out
