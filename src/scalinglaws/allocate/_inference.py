r"""Inference-aware planning (Sardana et al. 2024): the cheapest model that reaches a loss.

Sardana et al. 2024 ("Beyond Chinchilla-Optimal: Accounting for Inference in Language Model
Scaling Laws", arXiv:2401.00448) minimise training plus inference FLOPs,
$f(N)D + 2NT_\text{inf}$, subject to $L(N, D) = \ell$. Minimising cost at a fixed loss and
minimising loss at a fixed cost share their optima, and the optimal loss $L^*(C)$ falls
monotonically with the total budget $C$; so the cheapest plan is found by bisection on
$\log C$ for $L^*(C) = \ell$, each step an inner loss-optimal allocation.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import ArrayLike

from ..laws import AbstractLaw
from ._flops import AbstractFlops, get_flops
from ._optimal import (
    Allocation,
    _bucket,
    _pad,
    as_law,
    assemble,
    check_interior,
    check_law_inputs,
    check_tokens,
    check_unique_tokens,
    optimal_allocation,
    solve,
)
from ._recipe import HyperparameterLaw, resolve_recipe

__all__ = ["irreducible_loss", "target_loss_allocation"]

BISECTIONS = 80


def irreducible_loss(law: AbstractLaw) -> float:
    """The loss the law predicts in the limit of infinite parameters and data (e.g. $E$)."""
    x = {name: 1e150 for name in law.inputs}
    return float(law.predict(x))


@eqx.filter_jit
def _bisect(law, log_target, flops, log_t_inf, log_u, log_c_lo, log_c_hi, log_min_params):
    def one(target, ti, u, lo, hi):
        def loss_at(log_c):
            return optimal_allocation(
                law, log_c, flops, ti, u, log_min_params=log_min_params
            ).log_loss

        def body(_, bracket):
            a, b = bracket
            m = 0.5 * (a + b)
            short = loss_at(m) > target  # budget m does not reach the target: go higher
            return jnp.where(short, m, a), jnp.where(short, b, m)

        _, b = jax.lax.fori_loop(0, BISECTIONS, body, (lo, hi))
        return b

    return jax.vmap(one, in_axes=(0, 0, None if log_u is None else 0, 0, 0))(
        log_target, log_t_inf, log_u, log_c_lo, log_c_hi
    )


def target_loss_allocation(
    law: AbstractLaw,
    target_loss: ArrayLike,
    *,
    inference_tokens: ArrayLike = 0.0,
    flops: str | AbstractFlops = "6nd",
    unique_tokens: ArrayLike | None = None,
    recipe: bool | HyperparameterLaw = False,
    min_params: float = 1.0,
    max_budget: float = 1e40,
) -> Allocation:
    r"""The cheapest $(N, D)$ whose predicted loss equals each target, counting inference.

    Minimises $f(N)\,D + 2NT_\text{inf}$ subject to $L(N, D) = \ell$ (Sardana et al. 2024,
    arXiv:2401.00448, eq. 3). With $T_\text{inf} = 0$ this is the compute-optimal model
    for a loss.

    **Arguments:**

    - `law`: a fitted law of `N` and `D`.
    - `target_loss`: one or many target losses $\ell$, above the law's irreducible loss.
    - `inference_tokens`: $T_\text{inf}$ (scalar or one per target; default 0).
    - `flops`, `unique_tokens`, `recipe`, `min_params`: as in [`compute_optimal`][].
    - `max_budget`: the largest total budget searched (default $10^{40}$ FLOPs).

    **Returns:** an [`Allocation`][] whose `C` (= `total_flops`) is the minimal total cost.

    **Example:**

    ```python
    from scalinglaws.allocate import target_loss_allocation
    plan = target_loss_allocation(law, 2.0, inference_tokens=2e12)
    plan.N, plan.D, plan.total_flops
    ```
    """
    law = as_law(law)
    flops = get_flops(flops)
    check_law_inputs(law, flops)
    targets = np.atleast_1d(np.asarray(target_loss, dtype=float))
    if targets.ndim != 1 or targets.size == 0:
        raise ValueError(
            f"target_loss=...: expected one or a 1-D array of losses, got shape {targets.shape}"
        )
    if not (np.isfinite(targets) & (targets > 0)).all():
        bad = targets[~(np.isfinite(targets) & (targets > 0))][0]
        raise ValueError(f"target_loss={bad!r}: must be positive and finite")
    n = len(targets)
    t_inf = check_tokens(inference_tokens, n, argument="inference_tokens", allow_zero=True)
    unique = check_unique_tokens(law, unique_tokens, n)
    hyper = resolve_recipe(recipe)
    if not (np.isfinite(max_budget) and max_budget > 0):
        raise ValueError(f"max_budget={max_budget!r}: must be positive and finite")
    floor = irreducible_loss(law)
    below = targets <= floor
    if below.any():
        bad = targets[below][0]
        raise ValueError(
            f"target_loss={bad!r}: at or below the law's irreducible loss {floor:.6g}; no finite model reaches "
            "it. Choose a larger target."
        )

    log_targets = np.log(targets)
    with np.errstate(divide="ignore"):  # T = 0 gives log T = -inf: no inference term
        log_t_inf = np.log(t_inf)
    log_u = None if unique is None else np.log(unique)
    log_min = math.log(min_params)
    smallest = float(flops(min_params, 1.0)) + 2.0 * min_params * t_inf
    log_lo = np.log(smallest) + 1e-9
    log_hi = np.full(n, math.log(max_budget))
    if (log_lo >= log_hi).any():
        raise ValueError(f"max_budget={max_budget:g}: smaller than the cost of the smallest model")

    # The largest budget must reach the target, the smallest must not.
    edge = solve(
        law,
        np.concatenate([log_hi, log_lo]),
        flops,
        np.concatenate([log_t_inf] * 2),
        None if log_u is None else np.concatenate([log_u] * 2),
        min_params,
    )
    reached_hi = edge["log_loss"][:n] <= log_targets
    if not reached_hi.all():
        i = int(np.flatnonzero(~reached_hi)[0])
        raise ValueError(
            f"target_loss={targets[i]!r}: not reached within max_budget={max_budget:g} FLOPs (the best loss there "
            f"is {np.exp(edge['log_loss'][i]):.6g}); choose a larger target or max_budget."
        )
    if (edge["log_loss"][n:] <= log_targets).any():
        i = int(np.flatnonzero(edge["log_loss"][n:] <= log_targets)[0])
        raise ValueError(
            f"target_loss={targets[i]!r}: already reached by a model of min_params={min_params:g} parameter(s); "
            "choose a smaller target."
        )

    size = _bucket(n)
    log_c = np.asarray(
        _bisect(
            law,
            jnp.asarray(_pad(log_targets, size)),
            flops,
            jnp.asarray(_pad(log_t_inf, size)),
            None if log_u is None else jnp.asarray(_pad(log_u, size)),
            jnp.asarray(_pad(log_lo, size)),
            jnp.asarray(_pad(log_hi, size)),
            log_min,
        )
    )[:n]
    budgets = np.exp(log_c)
    out = solve(law, log_c, flops, log_t_inf, log_u, min_params)
    check_interior(out, budgets, min_params, argument="total cost")
    return assemble(out, budgets, np.zeros(n) if t_inf is None else t_inf, unique, hyper)
