"""Which law to trust: approximate leave-one-out (PSIS-LOO), WAIC and held-out error.

PSIS-LOO follows Vehtari, Gelman and Gabry 2017 ("Practical Bayesian model evaluation
using leave-one-out cross-validation and WAIC", arXiv:1507.04544) with Pareto-smoothed
importance weights (Vehtari et al. 2024, arXiv:1507.02646) from ArviZ's `psislw`, the
field's reference implementation (the same estimator as the R package `loo`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy.special import logsumexp

from ..errors import InputError

# Pareto k above this means the importance-sampling estimate for that run is unreliable
# (Vehtari et al. 2024).
K_THRESHOLD = 0.7


def psis(log_ratios: np.ndarray, reff: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Pareto-smoothed, normalised log importance weights (ArviZ's `psislw`) of log ratios
    `(..., draws)`, and the Pareto k-hat of each row."""
    import arviz as az

    log_weights, k = az.psislw(np.asarray(log_ratios, dtype=float), reff=reff)
    return np.asarray(log_weights), np.asarray(k)


def _reff(posterior) -> float:
    """Relative efficiency (mean bulk ESS / draws) of NUTS draws; 1 for independent draws."""
    diagnostics = posterior.diagnostics() if hasattr(posterior, "diagnostics") else {}
    ess = [d["ess_bulk"] for d in diagnostics.values() if np.isfinite(d.get("ess_bulk", np.nan))]
    return float(np.clip(np.mean(ess) / posterior.size, 0.01, 1.0)) if ess else 1.0


def loo(posterior, data: Any, *, query: str | None = None) -> dict[str, Any]:
    r"""PSIS-LOO estimate of the expected log pointwise predictive density,
    $\widehat{\mathrm{elpd}}_{\mathrm{loo}} = \sum_i \log \sum_s w_i^s p(y_i\mid\theta^s)$.

    **Arguments:** `posterior` a [`Posterior`][]; `data`, `query` the runs it was fitted on.

    **Returns:** dict with `elpd_loo`, `se`, `p_loo` (effective number of parameters),
    `pointwise` (per run), `pareto_k` (per run) and `n_high_k` (runs with k > 0.7, whose
    estimate is unreliable).
    """
    log_lik = _log_lik(posterior, data, query)
    lppd_i = logsumexp(log_lik, axis=0) - np.log(log_lik.shape[0])
    log_w, ks = psis(-log_lik.T, reff=_reff(posterior))
    pointwise = logsumexp(log_w + log_lik.T, axis=1)
    n = pointwise.size
    return {
        "elpd_loo": float(pointwise.sum()),
        "se": float(np.sqrt(n * np.var(pointwise))),
        "p_loo": float(lppd_i.sum() - pointwise.sum()),
        "pointwise": pointwise,
        "pareto_k": ks,
        "n_high_k": int(np.sum(ks > K_THRESHOLD)),
    }


def waic(posterior, data: Any, *, query: str | None = None) -> dict[str, Any]:
    r"""WAIC (Watanabe 2010) on the elpd scale:
    $\sum_i \big(\log \bar p(y_i) - \mathrm{Var}_s \log p(y_i\mid\theta^s)\big)$.

    **Returns:** dict with `elpd_waic`, `se`, `p_waic`, `pointwise`.
    """
    log_lik = _log_lik(posterior, data, query)
    lppd_i = logsumexp(log_lik, axis=0) - np.log(log_lik.shape[0])
    p_i = np.var(log_lik, axis=0, ddof=1)
    pointwise = lppd_i - p_i
    n = pointwise.size
    return {
        "elpd_waic": float(pointwise.sum()),
        "se": float(np.sqrt(n * np.var(pointwise))),
        "p_waic": float(p_i.sum()),
        "pointwise": pointwise,
    }


def holdout_error(posterior, data: Any, *, query: str | None = None) -> dict[str, float]:
    """Extrapolation error on held-out runs: mean and max |relative error| of the
    posterior median forecast, and the log pointwise predictive density (per run)."""
    from ..data import load_runs

    runs = load_runs(data, query=query)
    target = posterior.settings.get("target") or type(posterior.template).target
    x = runs.arrays(posterior.inputs)
    y = runs[target]
    median = np.median(posterior.predict(x), axis=0)
    rel = np.abs(median / y - 1)
    log_lik = posterior.log_likelihood(x, y)
    lppd = logsumexp(log_lik, axis=0) - np.log(log_lik.shape[0])
    return {
        "n": len(runs),
        "mean_abs_rel_error": float(rel.mean()),
        "max_abs_rel_error": float(rel.max()),
        "lppd_per_run": float(lppd.mean()),
    }


def compare(
    posteriors: Mapping[str, Any],
    data: Any,
    *,
    query: str | None = None,
    heldout: Any = None,
    heldout_query: str | None = None,
) -> list[dict[str, Any]]:
    """Rank laws fitted to the same runs by PSIS-LOO (best first).

    **Arguments:** `posteriors` name -> [`Posterior`][] (each fitted on `data`/`query`);
    optional `heldout` runs (and `heldout_query`) to also report extrapolation error.

    **Returns:** one dict per law: `name`, `elpd_loo`, `se`, `p_loo`, `elpd_diff` (to the
    best), `diff_se` (standard error of the paired difference), `n_high_k`, `elpd_waic`,
    and with `heldout`, `heldout_mean_abs_rel_error` and `heldout_lppd_per_run`.
    """
    if not posteriors:
        raise InputError("posteriors: expected at least one name -> Posterior.")
    rows = []
    for name, post in posteriors.items():
        result = loo(post, data, query=query)
        row = {
            "name": name,
            "elpd_loo": result["elpd_loo"],
            "se": result["se"],
            "p_loo": result["p_loo"],
            "n_high_k": result["n_high_k"],
            "elpd_waic": waic(post, data, query=query)["elpd_waic"],
            "_pointwise": result["pointwise"],
        }
        if heldout is not None:
            h = holdout_error(post, heldout, query=heldout_query)
            row["heldout_mean_abs_rel_error"] = h["mean_abs_rel_error"]
            row["heldout_lppd_per_run"] = h["lppd_per_run"]
        rows.append(row)
    rows.sort(key=lambda r: -r["elpd_loo"])
    best = rows[0]["_pointwise"]
    for row in rows:
        diff = row["_pointwise"] - best
        row["elpd_diff"] = float(diff.sum())
        row["diff_se"] = float(np.sqrt(diff.size * np.var(diff)))
    for row in rows:
        del row["_pointwise"]
    return rows


def _log_lik(posterior, data, query) -> np.ndarray:
    from ..data import load_runs

    runs = load_runs(data, query=query)
    target = posterior.settings.get("target") or type(posterior.template).target
    runs.require(posterior.inputs, why=f"the law reads {list(posterior.inputs)}")
    n_fit = posterior.settings.get("n_points")
    if n_fit is not None and n_fit != len(runs):
        raise InputError(
            f"data: {len(runs)} runs, but the posterior was fitted on {n_fit}; LOO needs the same runs "
            "(pass the same data and query)."
        )
    return posterior.log_likelihood(runs.arrays(posterior.inputs), runs[target])
