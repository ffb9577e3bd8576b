r"""Inference-aware planning (Sardana et al. 2024): the cheapest model that reaches a loss.

Sardana et al. 2024 ("Beyond Chinchilla-Optimal: Accounting for Inference in Language Model
Scaling Laws", arXiv:2401.00448) minimise training plus inference FLOPs,
$f(N)D + 2NT_\text{inf}$, subject to $L(N, D) = \ell$. Minimising cost at a fixed loss and
minimising loss at a fixed cost share their optima, and the optimal loss $L^*(C)$ falls
monotonically with the total budget $C$; so the cheapest plan is the root of
$\log L^*(C) - \log\ell$ in $\log C$, found by `optimistix.Bisection` (bracket checked
first: the smallest model must miss the target and `max_budget` must reach it), each
step an inner loss-optimal allocation ([`optimal_allocation`][]).
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx
from jaxtyping import ArrayLike

from ..errors import InputError
from ..laws import AbstractLaw
from ..precision import float64
from ._flops import AbstractFlops, get_flops
from ._optimal import (
    Allocation,
    as_law,
    assemble,
    bucket_size,
    check_coefficients,
    check_interior,
    check_law_inputs,
    check_tokens,
    check_unique_tokens,
    optimal_allocation,
    pad_rows,
    solve,
)
from ._recipe import HyperparameterLaw, check_param_convention, resolve_recipe

__all__ = ["irreducible_loss", "target_loss_allocation"]

# log C to 1e-12 relative (about 5e-11 absolute at 1e23 FLOPs); |log L - log target| < 1e-13.
# flip=True: log L*(C) - log target falls as C grows (positive at the lower end).
_BISECTION = optx.Bisection(rtol=1e-12, atol=1e-13, flip=True)
MAX_STEPS = 256


@float64
def irreducible_loss(law: AbstractLaw) -> float:
    """The loss the law predicts in the limit of infinite parameters and data (e.g. $E$)."""
    x = {name: 1e150 for name in law.inputs}
    return float(law.predict(x))


@eqx.filter_jit
def _bisect(law, log_target, flops, log_t_inf, log_u, log_c_lo, log_c_hi, log_min_params):
    def one(target, ti, u, lo, hi):
        def gap(log_c, args):
            target, ti, u = args
            out = optimal_allocation(law, log_c, flops, ti, u, log_min_params=log_min_params)
            return out.log_loss - target

        sol = optx.root_find(
            gap,
            _BISECTION,
            0.5 * (lo + hi),
            args=(target, ti, u),
            options=dict(lower=lo, upper=hi),
            max_steps=MAX_STEPS,
            throw=False,
        )
        return sol.value, sol.result == optx.RESULTS.successful

    return jax.vmap(one, in_axes=(0, 0, None if log_u is None else 0, 0, 0))(
        log_target, log_t_inf, log_u, log_c_lo, log_c_hi
    )


@float64
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
    params: str = "total",
) -> Allocation:
    r"""The cheapest $(N, D)$ whose predicted loss equals each target, counting inference.

    Minimises $f(N)\,D + 2NT_\text{inf}$ subject to $L(N, D) = \ell$ (Sardana et al. 2024,
    arXiv:2401.00448, eq. 3). With $T_\text{inf} = 0$ this is the compute-optimal model
    for a loss.

    **Arguments:**

    - `law`: a fitted law of `N` and `D`.
    - `target_loss`: one or many target losses $\ell$, above the law's irreducible loss.
    - `inference_tokens`: $T_\text{inf}$ (scalar or one per target; default 0).
    - `flops`, `unique_tokens`, `recipe`, `min_params`, `params`: as in [`compute_optimal`][].
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
    check_coefficients(law)
    flops = get_flops(flops)
    check_law_inputs(law, flops)
    check_param_convention(params, flops.name)
    targets = np.atleast_1d(np.asarray(target_loss, dtype=float))
    if targets.ndim != 1 or targets.size == 0:
        raise InputError(
            f"target_loss=...: expected one or a 1-D array of losses, got shape {targets.shape}"
        )
    if not (np.isfinite(targets) & (targets > 0)).all():
        bad = targets[~(np.isfinite(targets) & (targets > 0))][0]
        raise InputError(f"target_loss={bad!r}: must be positive and finite")
    n = len(targets)
    t_inf = check_tokens(inference_tokens, n, argument="inference_tokens", allow_zero=True)
    unique = check_unique_tokens(law, unique_tokens, n)
    hyper = resolve_recipe(recipe)
    if not (np.isfinite(max_budget) and max_budget > 0):
        raise InputError(f"max_budget={max_budget!r}: must be positive and finite")
    floor = irreducible_loss(law)
    below = targets <= floor
    if below.any():
        bad = targets[below][0]
        raise InputError(
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
        raise InputError(f"max_budget={max_budget:g}: smaller than the cost of the smallest model")

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
        raise InputError(
            f"target_loss={targets[i]!r}: not reached within max_budget={max_budget:g} FLOPs (the best loss there "
            f"is {np.exp(edge['log_loss'][i]):.6g}); choose a larger target or max_budget."
        )
    if (edge["log_loss"][n:] <= log_targets).any():
        i = int(np.flatnonzero(edge["log_loss"][n:] <= log_targets)[0])
        raise InputError(
            f"target_loss={targets[i]!r}: already reached by a model of min_params={min_params:g} parameter(s); "
            "choose a smaller target."
        )

    size = bucket_size(n)
    log_c, ok = _bisect(
        law,
        jnp.asarray(pad_rows(log_targets, size)),
        flops,
        jnp.asarray(pad_rows(log_t_inf, size)),
        None if log_u is None else jnp.asarray(pad_rows(log_u, size)),
        jnp.asarray(pad_rows(log_lo, size)),
        jnp.asarray(pad_rows(log_hi, size)),
        log_min,
    )
    log_c, ok = np.asarray(log_c)[:n], np.asarray(ok)[:n]
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        raise InputError(
            f"target_loss={targets[i]!r}: optimistix's bisection on the total cost did not converge (stopped at "
            f"C={np.exp(log_c[i]):.6g}); the optimal loss is not monotone in the budget for this law. Check the "
            "law's coefficients."
        )
    budgets = np.exp(log_c)
    out = solve(law, log_c, flops, log_t_inf, log_u, min_params)
    check_interior(out, budgets, min_params, argument="total cost")
    return assemble(
        out, budgets, np.zeros(n) if t_inf is None else t_inf, unique, hyper, params=params
    )
