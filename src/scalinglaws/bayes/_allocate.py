r"""Compute-optimal allocation under uncertainty: the package's one allocator, over draws.

Each posterior draw (or bootstrap replicate) $\theta_s$ gets its own optimum from
`scalinglaws.allocate.optimal_allocation`, vmapped over draws and budgets, so every FLOP
model (`6nd`, `kaplan`, `hoffmann`), the unique-data limit of repetition-aware laws
(Muennighoff et al. 2023) and inference tokens (Sardana et al. 2024) work here exactly as
in `scalinglaws.allocate.compute_optimal`, including its check that the optimum is
interior. The risk-aware allocation then picks one $N$ for all draws, minimising the
posterior mean loss or its 90% quantile along the same FLOP constraint.
"""

from __future__ import annotations

import warnings
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..errors import ConvergenceWarning, InputError
from ..precision import float64

# A budget where more than this fraction of draws has no interior optimum is an error
# (the budget is too small or the law has no optimum); any smaller fraction is warned
# about and reported as `interior_fraction`.
MAX_NOT_INTERIOR = 0.5
# Risk-aware search: a log-N grid spanning the per-draw optima (widened by this many
# nats each side), then a finer grid around the best grid point.
_MARGIN = 1.0
_GRID = 401
_FINE = 201


def _batched_law(source):
    from ..laws import AbstractLaw

    if isinstance(source, AbstractLaw):
        law = source
    elif isinstance(getattr(source, "law", None), AbstractLaw):
        law = source.law
    else:
        raise TypeError(
            f"posterior: expected a Posterior, BootstrapResult or batched law, got {type(source).__name__}."
        )
    leaves = [jnp.asarray(v) for v in law.coefficients.values()]
    if any(v.ndim == 0 for v in leaves):
        law = law.replace(**{k: jnp.atleast_1d(jnp.asarray(v, dtype=float)) for k, v in law.coefficients.items()})
    return law


def _setup(posterior, budgets, flops, unique_tokens, inference_tokens):
    from ..allocate import check_budgets, check_tokens, check_unique_tokens, get_flops

    model = get_flops(flops)  # its errors name `flops` and list the choices
    law = _batched_law(posterior)
    missing = [name for name in model.requires if name not in law.inputs]
    if missing or not set(law.inputs) <= {"N", "D", "U"}:
        raise InputError(
            f"posterior: allocation needs a law of N and D (and U); {type(law).__name__} reads "
            f"{list(law.inputs)}."
        )
    c = check_budgets(budgets, argument="budgets")
    u = check_unique_tokens(law, unique_tokens, c.size)
    t = check_tokens(inference_tokens, c.size, argument="inference_tokens", allow_zero=True)
    with np.errstate(divide="ignore"):  # T = 0: log T = -inf, no inference term
        log_t = np.full(c.size, -np.inf) if t is None else np.log(t)
    log_u = None if u is None else np.log(u)
    return law, model, c, log_t, log_u


@eqx.filter_jit
def _per_draw(law, log_c, flops, log_t, log_u):
    from ..allocate import optimal_allocation

    def one(single, lc, lt, lu):
        return optimal_allocation(single, lc, flops, lt, lu)

    over_budgets = jax.vmap(one, in_axes=(None, 0, 0, None if log_u is None else 0))
    return jax.vmap(over_budgets, in_axes=(0, None, None, None))(law, log_c, log_t, log_u)


def _solve(law, model, c, log_t, log_u):
    out = _per_draw(
        law, jnp.log(jnp.asarray(c)), model, jnp.asarray(log_t), None if log_u is None else jnp.asarray(log_u)
    )
    return {name: np.asarray(getattr(out, name)) for name in ("log_N", "log_D", "log_loss", "interior")}


def _check_interior(interior: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Fraction of draws with an interior optimum per budget; error or warn when low."""
    fraction = interior.mean(axis=0)
    for j in np.flatnonzero(fraction < 1.0):
        if fraction[j] < 1.0 - MAX_NOT_INTERIOR:
            raise InputError(
                f"budgets={c[j]:.6g}: {1 - fraction[j]:.0%} of the draws have no interior optimum along the FLOP "
                "constraint (the budget is too small, or the law's loss keeps falling); give a larger budget."
            )
        warnings.warn(
            f"budget {c[j]:.6g}: {1 - fraction[j]:.1%} of the draws have no interior optimum; their N*, D* sit at "
            "the edge of the search and are left out of the quantiles.",
            ConvergenceWarning,
            stacklevel=3,
        )
    return fraction


@float64
def optimal_allocation_draws(
    posterior, budgets, *, flops: Any = "6nd", unique_tokens=None, inference_tokens=None
) -> dict[str, np.ndarray]:
    """Per-draw compute-optimal $N^*$ and $D^*$ (the allocator of `scalinglaws.allocate`
    vmapped over draws and budgets).

    **Arguments:** `posterior` a [`Posterior`][], `BootstrapResult` or batched law;
    `budgets` FLOPs; `flops`, `unique_tokens`, `inference_tokens` as in
    `scalinglaws.allocate.compute_optimal`.

    **Returns:** `{"C": (B,), "N": (S, B), "D": (S, B), "loss": (S, B), "interior": (S, B)}`
    for S draws and B budgets (NumPy float64; `interior` is boolean).
    """
    law, model, c, log_t, log_u = _setup(posterior, budgets, flops, unique_tokens, inference_tokens)
    out = _solve(law, model, c, log_t, log_u)
    return {
        "C": c,
        "N": np.exp(out["log_N"]),
        "D": np.exp(out["log_D"]),
        "loss": np.exp(out["log_loss"]),
        "interior": out["interior"].astype(bool),
    }


@eqx.filter_jit
def _loss_matrix(law, log_n, log_c, flops, log_t, log_u):
    """Loss for every draw (rows) at every log N (columns) on the FLOP constraint of one budget."""

    def one(single, t):
        log_train = log_c + jnp.log(-jnp.expm1(jnp.log(2.0) + t + log_t - log_c))
        x = {"N": jnp.exp(t), "D": jnp.exp(log_train - flops.log_per_token(t))}
        if log_u is not None:
            x["U"] = jnp.exp(log_u)
        return jnp.exp(single.log_predict(x))

    return jax.vmap(lambda single: jax.vmap(lambda t: one(single, t))(log_n))(law)


def _risk(losses, risk: str):
    losses = jnp.where(jnp.isfinite(losses), losses, jnp.inf)
    if risk == "mean":
        return jnp.mean(losses, axis=0)
    return jnp.quantile(losses, 0.9, axis=0)


@float64
def risk_aware_allocation(
    posterior, budgets, *, risk: str = "mean", flops: Any = "6nd", unique_tokens=None, inference_tokens=None
) -> list[dict[str, Any]]:
    r"""Allocations of compute budgets that account for uncertainty about the law.

    For each budget $C$, chooses one $N$ (with $D$ on the FLOP constraint of `flops`)
    minimising the risk over posterior draws $\theta_s$: the posterior mean loss
    $\tfrac1S\sum_s L(N, D(N); \theta_s)$ (`risk="mean"`) or its 90% quantile
    (`risk="q90"`, a pessimistic choice). Also reports the distribution of the per-draw
    optimum $N^*(\theta_s)$, $D^*(\theta_s)$ from [`optimal_allocation_draws`][].

    **Arguments:**

    - `posterior`: a [`Posterior`][] (or a `BootstrapResult`, or any batched law of N and D).
    - `budgets`: a FLOP budget or a sequence of them.
    - `risk`: `"mean"` or `"q90"`.
    - `flops`: `"6nd"`, `"kaplan"`, `"hoffmann"` or an `AbstractFlops` (as in
        `scalinglaws.allocate.compute_optimal`).
    - `unique_tokens`: unique tokens available, for repetition-aware laws (reads `U`).
    - `inference_tokens`: tokens served at inference (Sardana et al. 2024).

    **Returns:** one dict per budget with keys `C`, `N`, `D`, `tokens_per_param`, `loss`
    (the risk objective at the chosen `N`, `D`), `risk`, `interior_fraction` (draws with an
    interior optimum) and `N_q05`, `N_median`, `N_q95`, `D_q05`, `D_median`, `D_q95`
    (quantiles of the per-draw optimum over draws with an interior one); `epochs` ($D/U$)
    with `unique_tokens`.

    **Raises:** `InputError` for bad arguments, or when most draws have no interior
    optimum at a budget; a `ConvergenceWarning` when some draws have none.

    **Example:**

    ```python
    from scalinglaws.bayes import load_posterior, risk_aware_allocation
    plan = risk_aware_allocation(load_posterior("post.json"), [1e22, 1e24], risk="q90", flops="kaplan")
    ```
    """
    if risk not in ("mean", "q90"):
        raise InputError(f"risk={risk!r}: expected 'mean' or 'q90'.")
    law, model, c, log_t, log_u = _setup(posterior, budgets, flops, unique_tokens, inference_tokens)
    per_draw = _solve(law, model, c, log_t, log_u)
    interior = per_draw["interior"].astype(bool)
    fraction = _check_interior(interior, c)
    rows = []
    for j, budget in enumerate(c):
        keep = interior[:, j]
        log_star = per_draw["log_N"][keep, j]
        lo, hi = np.quantile(log_star, [0.001, 0.999])
        args = (jnp.log(budget), model, jnp.asarray(log_t[j]), None if log_u is None else jnp.asarray(log_u[j]))
        grid = jnp.linspace(lo - _MARGIN, hi + _MARGIN, _GRID)
        objective = _risk(_loss_matrix(law, grid, *args), risk)
        k = int(jnp.argmin(objective))
        # Refine on a finer grid around the coarse optimum.
        spacing = float(grid[1] - grid[0])
        fine = jnp.linspace(grid[k] - spacing, grid[k] + spacing, _FINE)
        fine_objective = _risk(_loss_matrix(law, fine, *args), risk)
        kf = int(jnp.argmin(fine_objective))
        log_n = float(fine[kf])
        log_train = np.log(budget) + np.log(-np.expm1(np.log(2.0) + log_n + log_t[j] - np.log(budget)))
        n_opt = float(np.exp(log_n))
        d_opt = float(np.exp(log_train - float(model.log_per_token(jnp.asarray(log_n)))))
        nq = np.exp(np.quantile(log_star, [0.05, 0.5, 0.95]))
        dq = np.exp(np.quantile(per_draw["log_D"][keep, j], [0.05, 0.5, 0.95]))
        row = {
            "C": float(budget),
            "N": n_opt,
            "D": d_opt,
            "tokens_per_param": d_opt / n_opt,
            "loss": float(fine_objective[kf]),
            "risk": risk,
            "interior_fraction": float(fraction[j]),
            "N_q05": float(nq[0]),
            "N_median": float(nq[1]),
            "N_q95": float(nq[2]),
            "D_q05": float(dq[0]),
            "D_median": float(dq[1]),
            "D_q95": float(dq[2]),
        }
        if log_u is not None:
            row["epochs"] = d_opt / float(np.exp(log_u[j]))
        rows.append(row)
    return rows
