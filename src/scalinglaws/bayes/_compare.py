"""Which law to trust: approximate leave-one-out (PSIS-LOO), WAIC and held-out error.

PSIS-LOO follows Vehtari, Gelman and Gabry 2017 ("Practical Bayesian model evaluation
using leave-one-out cross-validation and WAIC", arXiv:1507.04544) and Pareto smoothing as
in Vehtari et al. 2024 (arXiv:1507.02646), with the generalized-Pareto fit of Zhang and
Stephens 2009; the same estimator as ArviZ and the R package `loo`, written out here so
ArviZ stays optional.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy.special import logsumexp

# Pareto k above this means the importance-sampling estimate for that run is unreliable
# (Vehtari et al. 2024).
K_THRESHOLD = 0.7


def _gpdfit(x: np.ndarray) -> tuple[float, float]:
    """Generalized Pareto fit (Zhang and Stephens 2009) to sorted exceedances `x`, with the
    weakly informative shrinkage of k toward 0.5 used by `loo`."""
    prior_bs, prior_k = 3, 10
    n = len(x)
    m_est = 30 + int(n**0.5)
    b = 1 - np.sqrt(m_est / (np.arange(1, m_est + 1) - 0.5))
    b /= prior_bs * x[int(n / 4 + 0.5) - 1]
    b += 1 / x[-1]
    k = np.log1p(-b[:, None] * x).mean(axis=1)
    len_scale = n * (np.log(-(b / k)) - k - 1)
    weights = 1 / np.exp(len_scale - len_scale[:, None]).sum(axis=1)
    keep = weights >= 10 * np.finfo(float).eps
    b, weights = b[keep], weights[keep]
    weights /= weights.sum()
    b_post = np.sum(b * weights)
    k_post = np.log1p(-b_post * x).mean()
    sigma = -k_post / b_post
    k_post = (n * k_post + prior_k * 0.5) / (n + prior_k)
    return float(k_post), float(sigma)


def _gpinv(p: np.ndarray, k: float, sigma: float) -> np.ndarray:
    if sigma <= 0:
        return np.full_like(p, np.nan)
    if abs(k) < np.finfo(float).eps:
        return -sigma * np.log1p(-p)
    return sigma * np.expm1(-k * np.log1p(-p)) / k


def psis(log_ratios: np.ndarray) -> tuple[np.ndarray, float]:
    """Pareto-smoothed normalised log importance weights of one column, and its k-hat."""
    n = log_ratios.size
    x = log_ratios - log_ratios.max()
    tail_len = int(np.ceil(min(0.2 * n, 3 * np.sqrt(n))))
    order = np.argsort(x)
    cutoff = max(x[order[-tail_len - 1]], np.log(np.finfo(float).tiny))
    tail = np.flatnonzero(x > cutoff)
    k = np.inf
    if tail.size > 4:
        tail_order = tail[np.argsort(x[tail])]
        exceed = np.exp(x[tail_order]) - np.exp(cutoff)
        k, sigma = _gpdfit(exceed)
        if np.isfinite(k):
            probs = (np.arange(tail.size) + 0.5) / tail.size
            x[tail_order] = np.log(_gpinv(probs, k, sigma) + np.exp(cutoff))
            x[x > 0] = 0.0
    return x - logsumexp(x), float(k)


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
    pointwise, ks = np.empty(log_lik.shape[1]), np.empty(log_lik.shape[1])
    for i in range(log_lik.shape[1]):
        log_w, ks[i] = psis(-log_lik[:, i])
        pointwise[i] = logsumexp(log_w + log_lik[:, i])
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
        raise ValueError("posteriors: expected at least one name -> Posterior.")
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
        raise ValueError(
            f"data: {len(runs)} runs, but the posterior was fitted on {n_fit}; LOO needs the same runs "
            "(pass the same data and query)."
        )
    return posterior.log_likelihood(runs.arrays(posterior.inputs), runs[target])
