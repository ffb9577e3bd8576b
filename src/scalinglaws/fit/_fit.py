"""Robust multi-start fitting: screen every start in one vectorised call, refine the best."""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx
from jaxtyping import Array

from ..laws import AbstractLaw
from ._objective import LossKind, objective
from ._parameterization import Parameterization, make_parameterization
from ._problem import prepare_problem
from ._result import AGREEMENT_RTOL, FitResult
from ._starts import make_starts

_SUCCESS = int(optx.RESULTS.successful._value)


def screen(param: Parameterization, x, log_y, weights, starts, loss: LossKind, delta) -> Array:
    """Objective at every start (free coefficients in natural units), in one vmapped call."""

    def one(values):
        return objective(param.law(values), x, log_y, weights, loss, delta)

    return jax.vmap(one)(starts)


def refine(param: Parameterization, x, log_y, weights, u0, loss: LossKind, delta, *, max_steps, rtol, atol):
    """BFGS (optimistix) from each row of `u0` (unconstrained space), vmapped.

    Returns the final unconstrained points, objectives, result codes and step counts. The
    solve is differentiable with respect to the data by the implicit function theorem
    (optimistix's default `ImplicitAdjoint`).
    """
    solver = optx.BFGS(rtol=rtol, atol=atol)

    def fn(u, args):
        x_, log_y_, w_ = args
        return objective(param.law_from_unconstrained(u), x_, log_y_, w_, loss, delta)

    def one(u_start):
        sol = optx.minimise(
            fn, solver, u_start, args=(x, log_y, weights), max_steps=max_steps, throw=False
        )
        return sol.value, fn(sol.value, (x, log_y, weights)), sol.result._value, sol.stats["num_steps"]

    return jax.vmap(one)(u0)


def _select(screened: Array, n_refine: int, offset: Array | int = 0) -> Array:
    """Indices of the `n_refine` best screened starts after skipping the `offset` best.

    `offset` may be traced, so later rounds reuse the first round's compiled program."""
    order = jnp.argsort(jnp.where(jnp.isnan(screened), jnp.inf, screened))
    return jax.lax.dynamic_slice(order, (jnp.asarray(offset, dtype=jnp.int32),), (n_refine,))


def _screen_and_refine(param, x, log_y, weights, starts, loss, delta, *, k, offset, max_steps, rtol, atol):
    """One round: screen every start, refine the `k` best after skipping `offset`."""
    screened = screen(param, x, log_y, weights, starts, loss, delta)
    chosen = _select(screened, k, offset)
    u0 = param.unconstrained({n: v[chosen] for n, v in starts.items()})
    refined = refine(param, x, log_y, weights, u0, loss, delta, max_steps=max_steps, rtol=rtol, atol=atol)
    return screened, chosen, refined


def fit_arrays(
    law: AbstractLaw,
    x: Mapping[str, Array],
    y: Array,
    *,
    starts: Mapping[str, Array],
    weights: Array | None = None,
    fix: Mapping[str, float] | None = None,
    tie: Mapping[str, str] | None = None,
    loss: LossKind = "huber",
    delta: float = 1e-3,
    n_refine: int = 16,
    max_steps: int = 1000,
    rtol: float = 1e-10,
    atol: float = 1e-12,
) -> FitResult:
    """The array-level fitter: pure JAX, so it works under `jax.jit` and `jax.grad`.

    No input validation happens here (use [`fit`][] for that). Gradients of the fitted
    coefficients with respect to `x`, `y` or `weights` use implicit differentiation.

    **Arguments:** `law` a template law; `x` covariates (name -> array); `y` the target
    (positive); `starts` free-coefficient values (name -> array of starts, natural units);
    the rest as in [`fit`][].
    """
    param = make_parameterization(law, fix, tie)
    log_y = jnp.log(y)
    weights = jnp.ones_like(log_y) if weights is None else jnp.asarray(weights, float)
    starts = {k: jnp.asarray(v, float) for k, v in starts.items()}
    k = min(n_refine, int(next(iter(starts.values())).shape[0]))
    screened, chosen, (values, objs, codes, steps) = _screen_and_refine(
        param, x, log_y, weights, starts, loss, delta,
        k=k, offset=0, max_steps=max_steps, rtol=rtol, atol=atol,
    )
    return _assemble(
        param, screened, chosen, values, objs, codes, steps, loss, delta, type(law).target, log_y
    )


def _assemble(param, screened, chosen, values, objs, codes, steps, loss, delta, target, log_y):
    objs = jnp.where(jnp.isnan(objs), jnp.inf, objs)
    best = jnp.argmin(objs)
    best_obj = objs[best]
    n_agree = jnp.sum(objs <= best_obj + AGREEMENT_RTOL * jnp.abs(best_obj) + 1e-300)
    converged = (codes[best] == _SUCCESS) & jnp.isfinite(best_obj)
    return FitResult(
        law=param.law_from_unconstrained(values[best]),
        objective=best_obj,
        converged=converged,
        result=codes[best],
        n_agree=n_agree,
        start_objectives=screened,
        refined_starts=chosen,
        refined_objectives=objs,
        refined_results=codes,
        refined_steps=steps,
        free=param.free,
        fixed=param.fixed,
        ties=param.ties,
        loss=loss,
        delta=float(delta),
        target=target,
        inputs=tuple(param.template.inputs),
        n_points=int(log_y.shape[0]),
    )


# One compiled call per round: eager JAX operations between stages would each compile a
# small kernel, which on CPU costs more than the whole refinement.
_round_jit = eqx.filter_jit(_screen_and_refine)
_assemble_jit = eqx.filter_jit(_assemble)


def fit(
    law: str | type[AbstractLaw] | AbstractLaw,
    data: Any,
    *,
    query: str | None = None,
    target: str | None = None,
    loss: LossKind = "huber",
    delta: float = 1e-3,
    weights: str | np.ndarray | None = None,
    fix: Mapping[str, float] | None = None,
    tie: Mapping[str, str] | None = None,
    starts: str | int | Mapping[str, np.ndarray] = "grid",
    seed: int = 0,
    n_refine: int = 16,
    max_rounds: int = 3,
    max_steps: int = 1000,
    rtol: float = 1e-10,
    atol: float = 1e-12,
    progress: bool | Callable[[str], None] = False,
) -> FitResult:
    r"""Fit a law to training runs by robust multi-start minimisation.

    The objective is $\sum_i w_i\,\rho(\log \hat L_i - \log L_i)$ with $\rho$ the Huber
    function ($\delta = 10^{-3}$ by default, the convention of Hoffmann et al. 2022 and of
    Epoch AI's replication, Besiroglu et al. 2024) or $\tfrac12 r^2$.

    Every starting point is evaluated in one vectorised call ("screen"); the `n_refine`
    best are refined with BFGS (optimistix), vectorised. If fewer than two refined starts
    agree on the best objective, the next `n_refine` screened starts are refined too, up to
    `max_rounds` rounds. Starts are never run in lock-step to `max_steps` all together:
    on Epoch's grid a quarter of them never converge.

    **Arguments:**

    - `law`: a law name (`scalinglaws laws`), class or instance.
    - `data`: runs: a `Runs`, dataset name, CSV path, DataFrame or dict of arrays.
    - `query`: optional pandas-style row filter.
    - `target`: the column to fit (default: the law's `target`, usually `"loss"`).
    - `loss`: `"huber"` or `"squared"`; `delta`: the Huber threshold.
    - `weights`: per-run weights, a column name or an array.
    - `fix`: coefficient -> value, held fixed. `tie`: follower -> leader, e.g.
        `{"beta": "alpha"}`.
    - `starts`: `"grid"` (the law's default grid; Epoch's 4,500 points for Chinchilla), a
        number of random starts, or a dict of arrays of free-coefficient values.
    - `seed`: seed for random starts. `n_refine`, `max_rounds`, `max_steps`, `rtol`,
        `atol`: refinement settings.
    - `progress`: print stage timings to stderr (or pass a callable taking a string).

    **Returns:** a [`FitResult`][]. Check `result.converged` and `result.message`.

    **Example:**

    ```python
    import scalinglaws as sl
    result = sl.fit("chinchilla", "chinchilla", query="epoch_default_included == 1")
    print(result.summary())
    ```
    """
    problem = prepare_problem(law, data, query=query, target=target, weights=weights, fix=fix, tie=tie)
    param, target = problem.param, problem.target
    if loss not in ("huber", "squared"):
        raise ValueError(f"loss={loss!r}: expected 'huber' or 'squared'.")
    if not (np.isfinite(delta) and delta > 0):
        raise ValueError(f"delta={delta!r}: the Huber threshold must be a positive number.")
    start_values = make_starts(param, starts, seed)
    n_starts = len(next(iter(start_values.values())))
    report = _reporter(progress)

    x = {k: jnp.asarray(v) for k, v in problem.x.items()}
    log_y = jnp.log(jnp.asarray(problem.y))
    w = jnp.asarray(problem.weights)
    starts_j = {n: jnp.asarray(v) for n, v in start_values.items()}
    k = min(n_refine, n_starts)
    chosen_all, pieces = [], []
    for round_ in range(max_rounds):
        if round_ * k >= n_starts:
            break
        clock = time.perf_counter()
        report(
            f"round {round_ + 1}: screening {n_starts} starts, refining the best {k}"
            + (" (the first round compiles)" if round_ == 0 else "")
            + " ..."
        )
        # Later rounds take the next-best screened starts (wrapping to keep shapes static).
        offset = min(round_ * k, n_starts - k)
        screened, chosen, refined = _round_jit(
            param, x, log_y, w, starts_j, loss, delta,
            k=k, offset=jnp.asarray(offset), max_steps=max_steps, rtol=rtol, atol=atol,
        )
        chosen_all.append(chosen)
        pieces.append(refined)
        objs = np.concatenate([np.asarray(p[1]) for p in pieces])
        objs = np.where(np.isnan(objs), np.inf, objs)
        best = objs.min()
        n_agree = int(np.sum(objs <= best + AGREEMENT_RTOL * abs(best) + 1e-300))
        report(
            f"round {round_ + 1}: screened {n_starts} starts, refined {k} in "
            f"{time.perf_counter() - clock:.2f} s; best objective {best:.10g}, {n_agree} agree"
        )
        if n_agree >= 2:
            break
    values, objs, codes, steps = (jnp.concatenate([p[i] for p in pieces]) for i in range(4))
    result = _assemble_jit(
        param, screened, jnp.concatenate(chosen_all), values, objs, codes, steps, loss, delta, target, log_y
    )
    # Set outside the compiled call: as a static argument every new data set would recompile.
    fingerprint = problem.runs.fingerprint([*problem.x, target])
    return dataclasses.replace(result, data_fingerprint=fingerprint)


def _reporter(progress) -> Callable[[str], None]:
    if callable(progress):
        return progress
    if progress:
        return lambda text: print(f"[scalinglaws] {text}", file=sys.stderr, flush=True)
    return lambda text: None
