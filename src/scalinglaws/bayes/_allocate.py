r"""Compute-optimal allocation under uncertainty.

Along the constraint $C = 6ND$ (Kaplan et al. 2020; Hoffmann et al. 2022) the optimum is a
one-dimensional problem in $\log N$. Per posterior draw it is solved by a log-grid search
followed by Newton polishing, vectorised over draws and budgets; the risk-aware allocation
picks one $N$ for all draws, minimising the posterior mean loss or its 90% quantile.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

# Search range for log N around the balanced point N = D (tokens per parameter 1):
# +-12 in log N covers tokens-per-parameter ratios from e^-24 to e^24.
_HALF_WIDTH = 12.0
_GRID = 257
_NEWTON_STEPS = 8


def _batched_law(source):
    from ..laws import AbstractLaw

    if isinstance(source, AbstractLaw):
        law = source
    elif hasattr(source, "law"):
        law = source.law
    else:
        raise TypeError(
            f"posterior: expected a Posterior, BootstrapResult or batched law, got {type(source).__name__}."
        )
    if set(law.inputs) != {"N", "D"}:
        raise ValueError(
            f"posterior: allocation along C = 6ND needs a law of N and D only; {type(law).__name__} "
            f"reads {list(law.inputs)}."
        )
    leaves = [jnp.asarray(v) for v in law.coefficients.values()]
    if any(v.ndim == 0 for v in leaves):
        law = law.replace(**{k: jnp.atleast_1d(v) for k, v in law.coefficients.items()})
    return law


def _check_budgets(budgets) -> np.ndarray:
    values = np.atleast_1d(np.asarray(budgets, dtype=float))
    if values.ndim != 1 or values.size == 0 or not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise ValueError(f"budgets={budgets!r}: must be positive and finite FLOPs (e.g. 1e23).")
    return values


def _check_flops(flops: str) -> None:
    if flops != "6nd":
        raise ValueError(
            f"flops={flops!r}: only '6nd' (C = 6ND, Kaplan et al. 2020) is supported for allocation under "
            "uncertainty."
        )


def _log_loss(law, log_n, log_c):
    """log L at N = e^log_n, D = C / (6N), for one (scalar) law."""
    log_d = log_c - math.log(6.0) - log_n
    return law.log_predict({"N": jnp.exp(log_n), "D": jnp.exp(log_d)})


@jax.jit
def _per_draw_optimum(law, log_c):
    """log N* for every draw (rows) and budget (columns)."""
    offsets = jnp.linspace(-_HALF_WIDTH, _HALF_WIDTH, _GRID)
    spacing = offsets[1] - offsets[0]

    def one(single, lc):
        centre = 0.5 * (lc - math.log(6.0))
        grid = centre + offsets
        values = jax.vmap(lambda t: _log_loss(single, t, lc))(grid)
        values = jnp.where(jnp.isfinite(values), values, jnp.inf)
        t0 = grid[jnp.argmin(values)]
        f = lambda t: _log_loss(single, t, lc)
        g, h = jax.grad(f), jax.grad(jax.grad(f))

        def newton(t, _):
            gt, ht = g(t), h(t)
            step = jnp.where(ht > 0, -gt / ht, -jnp.sign(gt) * spacing)
            t_new = jnp.clip(t + jnp.clip(step, -spacing, spacing), t0 - 2 * spacing, t0 + 2 * spacing)
            better = f(t_new) <= f(t)
            return jnp.where(better & jnp.isfinite(t_new), t_new, t), None

        t, _ = jax.lax.scan(newton, t0, None, length=_NEWTON_STEPS)
        return t

    over_budgets = jax.vmap(one, in_axes=(None, 0))
    return jax.vmap(over_budgets, in_axes=(0, None))(law, log_c)


def optimal_allocation_draws(posterior, budgets, *, flops: str = "6nd") -> dict[str, np.ndarray]:
    """Per-draw compute-optimal $N^*$ and $D^* = C/(6N^*)$.

    **Returns:** `{"C": (B,), "N": (S, B), "D": (S, B)}` for S draws and B budgets.
    """
    _check_flops(flops)
    c = _check_budgets(budgets)
    law = _batched_law(posterior)
    log_n = np.asarray(_per_draw_optimum(law, jnp.log(jnp.asarray(c))))
    n = np.exp(log_n)
    return {"C": c, "N": n, "D": c[None, :] / (6.0 * n)}


@jax.jit
def _loss_matrix(law, log_n_grid, log_c):
    """Loss (natural units) for every draw (rows) at every log N of the grid (columns)."""
    return jax.vmap(lambda single: jnp.exp(jax.vmap(lambda t: _log_loss(single, t, log_c))(log_n_grid)))(law)


def _risk(losses, risk: str):
    losses = jnp.where(jnp.isfinite(losses), losses, jnp.inf)
    if risk == "mean":
        return jnp.mean(losses, axis=0)
    return jnp.quantile(losses, 0.9, axis=0)


def risk_aware_allocation(posterior, budgets, *, risk: str = "mean", flops: str = "6nd") -> list[dict[str, Any]]:
    r"""Allocations of compute budgets that account for uncertainty about the law.

    For each budget $C$ (with $D = C/(6N)$), chooses one $N$ minimising the risk over
    posterior draws $\theta_s$: the posterior mean loss
    $\tfrac1S\sum_s L(N, C/6N; \theta_s)$ (`risk="mean"`) or its 90% quantile
    (`risk="q90"`, a pessimistic choice). Also reports the distribution of the per-draw
    optimum $N^*(\theta_s)$, $D^*(\theta_s)$.

    **Arguments:**

    - `posterior`: a [`Posterior`][] (or a `BootstrapResult`, or any batched law of N and D).
    - `budgets`: a FLOP budget or a sequence of them.
    - `risk`: `"mean"` or `"q90"`.
    - `flops`: the FLOP convention; only `"6nd"` is supported.

    **Returns:** one dict per budget with keys `C`, `N`, `D`, `tokens_per_param`, `loss`
    (the risk objective at the chosen `N`, `D`) and `N_q05`, `N_median`, `N_q95`, `D_q05`,
    `D_median`, `D_q95` (quantiles of the per-draw optimum).

    **Example:**

    ```python
    from scalinglaws.bayes import load_posterior, risk_aware_allocation
    plan = risk_aware_allocation(load_posterior("post.json"), [1e22, 1e24], risk="q90")
    ```
    """
    if risk not in ("mean", "q90"):
        raise ValueError(f"risk={risk!r}: expected 'mean' or 'q90'.")
    _check_flops(flops)
    c = _check_budgets(budgets)
    law = _batched_law(posterior)
    per_draw = optimal_allocation_draws(law, c, flops=flops)
    rows = []
    for j, budget in enumerate(c):
        log_c = jnp.log(budget)
        log_star = np.log(per_draw["N"][:, j])
        finite = log_star[np.isfinite(log_star)]
        lo, hi = (np.quantile(finite, [0.001, 0.999]) if finite.size else (0.5 * np.log(budget / 6),) * 2)
        grid = jnp.linspace(lo - 1.0, hi + 1.0, 401)
        objective = _risk(_loss_matrix(law, grid, log_c), risk)
        k = int(jnp.argmin(objective))
        # Refine on a finer grid around the coarse optimum.
        spacing = float(grid[1] - grid[0])
        fine = jnp.linspace(grid[k] - spacing, grid[k] + spacing, 201)
        fine_objective = _risk(_loss_matrix(law, fine, log_c), risk)
        kf = int(jnp.argmin(fine_objective))
        n_opt = float(np.exp(fine[kf]))
        d_opt = float(budget / (6.0 * n_opt))
        nq = np.quantile(per_draw["N"][:, j], [0.05, 0.5, 0.95])
        dq = np.quantile(per_draw["D"][:, j], [0.05, 0.5, 0.95])
        rows.append(
            {
                "C": float(budget),
                "N": n_opt,
                "D": d_opt,
                "tokens_per_param": d_opt / n_opt,
                "loss": float(fine_objective[kf]),
                "risk": risk,
                "N_q05": float(nq[0]),
                "N_median": float(nq[1]),
                "N_q95": float(nq[2]),
                "D_q05": float(dq[0]),
                "D_median": float(dq[1]),
                "D_q95": float(dq[2]),
            }
        )
    return rows
