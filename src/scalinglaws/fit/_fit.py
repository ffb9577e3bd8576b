"""Robust multi-start fitting: screen every start in one vectorised call, refine the best."""

from __future__ import annotations

import functools
import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx
from jaxtyping import Array

from ..compile_options import jit
from ..errors import ConvergenceWarning
from ..laws import AbstractLaw
from ..precision import float64
from ..progress import reporter
from ..sharding import concat_batches
from ._objective import LossKind, log_residuals, objective
from ._parameterization import Parameterization, edge_bounds, free_element_names, make_parameterization
from ._problem import prepare_problem
from ._result import AGREEMENT_ATOL, AGREEMENT_RTOL, FitResult, built_unchecked, input_ranges
from ._starts import make_starts

# Screening evaluates every start on every row. Above this many (start, row) pairs it maps
# over starts in batches (`jax.lax.map(batch_size=...)`) instead of materialising them all,
# so a million-row table screens in bounded memory.
SCREEN_BLOCK = 1 << 22
# Rows used to rank starts on large tables (see `screen`).
SCREEN_ROWS = 1 << 16


def screen(param: Parameterization, x, log_y, weights, starts, loss: LossKind, delta) -> Array:
    """Objective at every start (free coefficients in natural units), vectorised over starts
    (in batches of about `SCREEN_BLOCK / n_rows` starts for large tables).

    Tables of more than `SCREEN_ROWS` rows are screened on `SCREEN_ROWS` evenly strided rows,
    their weights scaled by `n_rows / SCREEN_ROWS` so the screened objective estimates the
    full one. Screening only ranks starts for refinement, which always uses every row; on a
    1M-row checkpoint table this takes screening from about 48 s to under 1 s on 2 cores
    (`benchmarks/large_table.py`). Below `SCREEN_ROWS` rows nothing changes.
    """
    n_rows = int(log_y.shape[0])
    if n_rows > SCREEN_ROWS:
        rows = np.linspace(0, n_rows - 1, SCREEN_ROWS).round().astype(np.int64)  # static under jit
        x = {k: v[rows] for k, v in x.items()}
        log_y, weights = log_y[rows], weights[rows] * (n_rows / SCREEN_ROWS)
        n_rows = SCREEN_ROWS

    def one(values):
        return objective(param.law(values), x, log_y, weights, loss, delta)

    n_starts = int(next(iter(starts.values())).shape[0])
    if n_starts * n_rows <= SCREEN_BLOCK:
        return jax.vmap(one)(starts)
    return jax.lax.map(one, starts, batch_size=max(1, SCREEN_BLOCK // max(n_rows, 1)))


def _preconditioner(param: Parameterization, x, log_y, weights, u, loss: LossKind, delta) -> Array:
    r"""A `(d, d)` matrix $P$ with $P P^\top = (J^\top W J + \lambda I)^{-1}$ at `u`
    (unconstrained, `d = param.size`): the inverse Gauss-Newton matrix of the objective.

    $J$ is the Jacobian of $\sqrt{w_i}\,r_i$ (log residuals) with respect to `u`; $W$ the
    Huber IRLS weights $\min(1, \delta/|r_i|)$ (ones for the squared loss);
    $\lambda = 10^{-6}\,\mathrm{tr}(J^\top W J)/d$ keeps it invertible where the data
    barely constrain a direction. Where the matrix is not finite and positive definite (a
    start that overflows, all weights zero) $P$ is the identity, i.e. plain BFGS.
    `stop_gradient`: $P$ only sets the coordinates the search runs in, so it carries no
    derivative (see `refine`)."""

    def scaled_residuals(u_):
        r = log_residuals(param.law_from_unconstrained(u_), x, log_y)
        return jnp.sqrt(weights) * r, r

    jac, r = jax.jacfwd(scaled_residuals, has_aux=True)(u)  # jac: (n_rows, d)
    if loss == "huber":
        jac = jac * jnp.sqrt(jnp.minimum(1.0, delta / jnp.abs(r)))[:, None]
    gn = jac.T @ jac
    d = gn.shape[0]
    lam = 1e-6 * jnp.trace(gn) / d
    eigenvalues, vectors = jnp.linalg.eigh(gn + lam * jnp.eye(d, dtype=gn.dtype))
    p = vectors * (1.0 / jnp.sqrt(eigenvalues))[None, :]
    ok = jnp.isfinite(lam) & (lam > 0) & jnp.all(eigenvalues > 0) & jnp.all(jnp.isfinite(p))
    p = jnp.where(ok, p, jnp.eye(d, dtype=gn.dtype))
    return jax.lax.stop_gradient(p)


def preconditioners(param: Parameterization, x, log_y, weights, u0, loss: LossKind, delta) -> Array:
    """`_preconditioner` at every row of `u0`: `(n_starts, d, d)`. Batched so that the
    `(n_rows, d)` Jacobians in memory at once stay under `SCREEN_BLOCK` elements (a
    million-row table computes them one start at a time)."""
    n_starts, d = int(u0.shape[0]), int(u0.shape[-1])
    batch = max(1, min(n_starts, SCREEN_BLOCK // max(1, int(log_y.shape[0]) * d)))

    def one(u):
        return _preconditioner(param, x, log_y, weights, u, loss, delta)

    return jax.vmap(one)(u0) if batch >= n_starts else jax.lax.map(one, u0, batch_size=batch)


def whitened_objective(param: Parameterization, loss: LossKind, delta):
    r"""`fn(z, args)`: the objective at $u = u_0 + P z$, `args = (x, log_y, weights, u0, P)`:
    what each refined start minimises over `z` from 0, in [`refine`][] and in a sweep's
    pool of BFGS lanes (`scalinglaws.fit.sweep`), so both take the same steps."""

    def fn(z, args):
        x, log_y, weights, u_start, p = args
        return objective(param.law_from_unconstrained(u_start + p @ z), x, log_y, weights, loss, delta)

    return fn


def refine(param: Parameterization, x, log_y, weights, u0, loss: LossKind, delta, *, max_steps, rtol, atol):
    r"""BFGS (optimistix) from each row of `u0` (unconstrained space), vmapped, in whitened
    coordinates: $u = u_0 + P z$ from $z = 0$, with $P$ the inverse Gauss-Newton factor at
    that lane's own start (`_preconditioner`).

    Why: plain BFGS starts from an identity inverse Hessian in `u`; this starts it from
    $P P^\top$, the Gauss-Newton estimate. On 1,000 simulated Chinchilla data sets (Huber
    loss, the default grid and settings) it cut the mean BFGS steps per refined start from
    ~345 to ~216 and the starts that stop at `max_steps` from ~10% to ~3%, with the same
    best objectives (to 1e-14 relative) and the same fits converged. The objective is
    unchanged, but the path is not (a start may end at another local minimum on a poorly
    identified law), and `rtol`/`atol` test the step in `z` (whitened units), not in `u`. Computing
    `P` (a Jacobian and a `d x d` eigendecomposition per start) adds to compilation: about
    0.5 s on the first `fit` of each data shape, on one CPU core.

    Returns the final unconstrained points, objectives, `optimistix.RESULTS` items and step
    counts. The solve is differentiable with respect to the data by the implicit function
    theorem (optimistix's default `ImplicitAdjoint`): $P$ is held constant
    (`stop_gradient`), and as $u^\ast = u_0 + P z^\ast$ with $P$ invertible, the derivative
    of $u^\ast$ is the one of the unpreconditioned minimiser.
    """
    solver = optx.BFGS(rtol=rtol, atol=atol)
    fn = whitened_objective(param, loss, delta)

    def one(u_start, p):
        args = (x, log_y, weights, u_start, p)
        sol = optx.minimise(fn, solver, jnp.zeros_like(u_start), args=args, max_steps=max_steps, throw=False)
        return u_start + p @ sol.value, fn(sol.value, args), sol.result, sol.stats["num_steps"]

    p = preconditioners(param, x, log_y, weights, u0, loss, delta)
    return jax.vmap(one)(u0, p)


def _select(screened: Array, n_refine: int, offset: Array | int = 0) -> Array:
    """Indices of the `n_refine` best screened starts after skipping the `offset` best.

    `offset` may be traced, so later rounds reuse the first round's compiled program."""
    order = jnp.argsort(jnp.where(jnp.isnan(screened), jnp.inf, screened))
    return jax.lax.dynamic_slice(order, (jnp.asarray(offset, dtype=jnp.int32),), (n_refine,))


def select_batch(screened: np.ndarray, n_refine: int, offset: int = 0) -> np.ndarray:
    """`_select` for every row of `screened` (`(groups, starts)`), in NumPy: the same
    indices (those of a stable sort, NaN ranked as +inf), found without sorting every start.

    Why on the host: a sweep ranks 4,500 starts for each of a thousand groups, and XLA's
    sort on CPU took 0.7 s of it (1,000 x 4,500 float64); partitioning at the
    `offset + n_refine`-th value and sorting only the starts at or below it takes 0.02 s.
    Every start tied with that value is kept, in index order, so ties are broken as the
    stable sort breaks them."""
    values = np.asarray(screened, dtype=np.float64)
    if np.isnan(values).any():  # else no copy (`np.partition` below copies anyway)
        values = np.where(np.isnan(values), np.inf, values)
    need = offset + n_refine
    if need > values.shape[1]:
        raise ValueError(f"select_batch: offset + n_refine = {need} but only {values.shape[1]} starts.")
    kth = np.partition(values, need - 1, axis=1)[:, need - 1]
    chosen = np.empty((values.shape[0], n_refine), dtype=np.int64)
    for i, row in enumerate(values):
        candidates = np.flatnonzero(row <= kth[i])
        chosen[i] = candidates[np.argsort(row[candidates], kind="stable")][offset:need]
    return chosen


def _screen_and_refine(param, x, log_y, weights, starts, loss, delta, *, k, offset, max_steps, rtol, atol):
    """One round: screen every start, refine the `k` best after skipping `offset`."""
    screened = screen(param, x, log_y, weights, starts, loss, delta)
    chosen = _select(screened, k, offset)
    u0 = param.unconstrained({n: v[chosen] for n, v in starts.items()})
    refined = refine(param, x, log_y, weights, u0, loss, delta, max_steps=max_steps, rtol=rtol, atol=atol)
    return screened, chosen, u0, refined


def agreement(u0, objectives, xp=np):
    """`(n_agree, n_distinct)`: how many refined starts with distinct starting points reached
    the best objective (within `AGREEMENT_RTOL` relative or `AGREEMENT_ATOL` absolute), and how many distinct starting points were
    refined. Identical starting points count once: a start cannot agree with itself.

    `xp` is `numpy` (between rounds, no compilation) or `jax.numpy` (inside `jit`)."""
    objectives = xp.where(xp.isnan(objectives), xp.inf, objectives)
    best = xp.min(objectives)
    agrees = objectives <= best + AGREEMENT_RTOL * xp.abs(best) + AGREEMENT_ATOL
    same = xp.all(u0[:, None, :] == u0[None, :, :], axis=-1)
    earlier = xp.tril(xp.ones(same.shape, dtype=bool), k=-1)
    first = ~xp.any(same & earlier, axis=1)
    first_agreeing = agrees & ~xp.any(same & earlier & agrees[None, :], axis=1)
    n_agree = xp.sum(first_agreeing & xp.isfinite(best))
    return n_agree, xp.sum(first)


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
    coefficients (`law`) and `objective` with respect to `x`, `y` or `weights` use implicit
    differentiation at the best refined start; the other starts' results
    (`refined_law`, `refined_objectives`, ...) carry no derivative.

    **Arguments:** `law` a template law; `x` covariates (name -> array); `y` the target
    (positive); `starts` free-coefficient values (name -> array of starts, natural units);
    the rest as in [`fit`][].
    """
    param = make_parameterization(law, fix, tie)
    log_y = jnp.log(y)
    weights = jnp.ones_like(log_y) if weights is None else jnp.asarray(weights, float)
    starts = {k: jnp.asarray(v, float) for k, v in starts.items()}
    k = min(n_refine, int(next(iter(starts.values())).shape[0]))
    # The search runs on constants, and derivatives flow through the best lane alone (below):
    # the other lanes include degenerate optima (a term that has vanished) whose Hessians are
    # singular, where implicit differentiation fails (lineax returns non-finite values).
    data = jax.lax.stop_gradient((x, log_y, weights))
    screened, chosen, u0, (values, objs, results, steps) = _screen_and_refine(
        param, *data, starts, loss, delta, k=k, offset=0, max_steps=max_steps, rtol=rtol, atol=atol,
    )
    best = _best_lane(objs)
    value, obj = _differentiable_optimum(
        param, x, log_y, weights, values[best], objs[best], loss, delta, rtol, atol
    )
    values, objs = values.at[best].set(value), objs.at[best].set(obj)
    return _assemble(
        param, screened, chosen, u0, values, objs, results, steps, loss, delta, type(law).target, log_y.shape[0]
    )


def _differentiable_optimum(param, x, log_y, weights, u_best, obj_best, loss, delta, rtol, atol):
    """`(u_best, obj_best)` (a lane's optimum and its objective) with derivatives with
    respect to the data by implicit differentiation at that optimum: BFGS restarted at
    `u_best` for at most two steps (it is already a minimum, so they barely move it)
    carries optimistix's implicit adjoint. The values are exactly `u_best` and `obj_best`;
    only their tangents come from the restart, which costs two objective evaluations (a
    full `max_steps` would let a non-converged lane, under `vmap`, hold up every other)."""

    def fn(u, args):
        return objective(param.law_from_unconstrained(u), *args, loss, delta)

    solution = optx.minimise(
        fn, optx.BFGS(rtol=rtol, atol=atol), jax.lax.stop_gradient(u_best), args=(x, log_y, weights),
        max_steps=2, throw=False,
    ).value
    obj = fn(solution, (x, log_y, weights))

    def attach(exact, traced):  # exactly `exact`, even where the restart is not finite
        zero = traced - jax.lax.stop_gradient(traced)
        return jax.lax.stop_gradient(exact) + jnp.where(jnp.isfinite(zero), zero, 0.0)

    return attach(u_best, solution), attach(obj_best, obj)


def _best_lane(objs: Array, xp=jnp) -> Array:
    """Index of the refined start with the lowest objective (NaN ranked as +inf; the first
    of equal ones)."""
    return xp.argmin(xp.where(xp.isnan(objs), xp.inf, objs))


def _assemble(param, screened, chosen, u0, values, objs, results, steps, loss, delta, target, n_points,
              *, refined_law=None, bounds=None, **fields):
    """The `FitResult` of a fit's refined starts: the best lane, how many distinct starts
    agree with it, whether it sits at an edge, and the verdict `converged`.

    Two modes, one computation. Inside a traced computation (`fit_arrays`) the inputs are
    JAX arrays and so is the result. On the host (`fit`, `sweep`) they are NumPy arrays and
    `refined_law` (every lane's law, from `refined_laws`) is given: the verdict is then
    plain NumPy, and the best law is its row of `refined_law`. Why: as an XLA program this
    bookkeeping took 0.45 s to trace and compile (2-core CPU) on the first fit of every data
    size, more than refining a small fit, and as long at the end of a 1,000-group sweep;
    `refined_laws` compiles in about 0.09 s, once per number of refined starts.
    `bounds`: `edge_limits(param)`, computed once by a caller that assembles many fits;
    `fields`: `FitResult`'s fields that describe the runs (`data_fingerprint`, ...)."""
    xp = jnp if refined_law is None else np
    # On the host, NumPy arrays throughout (indexing gives NumPy scalars), as JAX would give.
    at = (lambda v, i: v[i]) if xp is jnp else (lambda v, i: np.asarray(v[i]))
    objs = xp.where(xp.isnan(objs), xp.inf, objs)
    best = _best_lane(objs, xp)
    best_obj = at(objs, best)
    n_agree, n_distinct = (xp.asarray(n) for n in agreement(u0, objs, xp))
    best_result = jax.tree.map(lambda v: at(v, best), results)
    if refined_law is None:
        law, refined_law = param.law_from_unconstrained(values[best]), jax.vmap(param.law_from_unconstrained)(values)
        solver_ok = best_result == optx.RESULTS.successful
    else:
        law = jax.tree.map(lambda v: at(v, best), refined_law)
        # The item's code, compared in NumPy (`==` on items makes a JAX array).
        solver_ok = np.asarray(jax.tree.leaves(best_result)[0] == jax.tree.leaves(optx.RESULTS.successful)[0])
    low, high, owners = edge_limits(param) if bounds is None else bounds
    at_element = (values[best] < low) | (values[best] > high)
    at_edge = xp.stack([xp.any(at_element[owners == n]) for n in param.free])
    converged = xp.asarray(
        solver_ok & xp.isfinite(best_obj) & ((n_agree >= 2) | (n_distinct < 2)) & ~xp.any(at_edge)
    )
    # On the host, the fields are checked above and built directly (see `built_unchecked`).
    build = FitResult if xp is jnp else functools.partial(built_unchecked, FitResult)
    return build(
        law=law,
        objective=best_obj,
        converged=converged,
        result=best_result,
        solver_ok=solver_ok,
        n_agree=n_agree,
        n_distinct=n_distinct,
        at_edge=at_edge,
        start_objectives=screened,
        refined_starts=chosen,
        refined_objectives=objs,
        refined_results=results,
        refined_steps=steps,
        refined_law=refined_law,
        free=param.free,
        fixed=param.fixed,
        ties=param.ties,
        loss=loss,
        delta=float(delta),
        target=target,
        inputs=tuple(param.template.inputs),
        n_points=int(n_points),
        **fields,
    )


def edge_limits(param: Parameterization) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`edge_bounds(param)` and the free coefficient owning each element (see `_assemble`)."""
    return *edge_bounds(param), np.asarray(free_element_names(param), dtype=object)


@jit
def refined_laws(param: Parameterization, values: Array) -> AbstractLaw:
    """The law at every row of `values` (unconstrained), batched: what `_assemble` takes on
    the host. One small program per number of rows."""
    return jax.vmap(param.law_from_unconstrained)(values)


# One compiled call per round: eager JAX operations between stages would each compile a
# small kernel, which on CPU costs more than the whole refinement.
_round_jit = jit(_screen_and_refine)  # with the package's compile options


@float64
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
    group: str | None = None,
    progress: bool | Callable[[str], None] = False,
    columns: Mapping[str, str] | None = None,
    by: str | None = None,
) -> FitResult:
    r"""Fit a law to training runs by robust multi-start minimisation.

    The objective is $\sum_i w_i\,\rho(\log \hat L_i - \log L_i)$ with $\rho$ the Huber
    function ($\delta = 10^{-3}$ by default, the convention of Hoffmann et al. 2022 and of
    Epoch AI's replication, Besiroglu et al. 2024) or $\tfrac12 r^2$.

    Every starting point is evaluated in one vectorised call ("screen"); the `n_refine`
    best are refined with BFGS (optimistix), vectorised. If fewer than two refined starts
    with distinct starting points agree on the best objective, the next `n_refine` screened
    starts (never ones already refined) are refined too, up to `max_rounds` rounds. Starts are never run in lock-step to `max_steps` all together:
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
    - `group`: the column holding a run id when rows are checkpoints of a few runs (see
        [`scalinglaws.fit.run_groups`][]; by default derived from `N` when a `step` column
        is present). The point fit is the same; `summary()` reports the number of runs.
    - `progress`: print stage timings to stderr (or pass a callable taking a string).
    - `columns`: your column names -> the package's, e.g. `{"params": "N"}` (see
        [`scalinglaws.load_runs`][]).
    - `by`: a column whose values define groups (e.g. `"family"`): fit the law to every
        group separately, all groups in a few batched calls sharded across the local
        devices; returns a [`scalinglaws.fit.SweepResult`][] instead (see
        [`scalinglaws.fit.sweep`][], which also takes a list of laws).

    **Returns:** a [`FitResult`][] (a [`scalinglaws.fit.SweepResult`][] with `by=`). Check `result.converged` and `result.message`: a fit
    whose best start did not converge, whose best objective was reached from fewer than two
    distinct starts, or with a coefficient at the edge of its support or init range (E -> 0,
    an exponent -> 0) has `converged=False` and issues a
    [`scalinglaws.ConvergenceWarning`][].

    **Raises:** [`scalinglaws.IdentifiabilityError`][] when the data cannot identify the law
    (fewer distinct input points than free coefficients, e.g. all rows identical).

    **Example:**

    ```python
    import scalinglaws as sl
    result = sl.fit("chinchilla", "chinchilla", query="epoch_default_included == 1")
    print(result.summary())
    ```
    """
    if by is not None:
        from ._sweep import sweep

        return sweep(
            law, data, by=by, query=query, target=target, loss=loss, delta=delta, weights=weights, fix=fix,
            tie=tie, starts=starts, seed=seed, n_refine=n_refine, max_rounds=max_rounds, max_steps=max_steps,
            rtol=rtol, atol=atol, group=group, progress=progress, columns=columns,
        )
    problem = prepare_problem(
        law, data, query=query, target=target, weights=weights, fix=fix, tie=tie, group=group,
        columns=columns,
    )
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
    chosen_all, u0_all, pieces = [], [], []
    for round_ in range(max_rounds):
        offset = round_ * k
        if offset >= n_starts:
            break
        # Later rounds refine the next-best screened starts, never ones already refined: a
        # short last round (fewer than `k` starts left) compiles once more.
        k_round = min(k, n_starts - offset)
        clock = time.perf_counter()
        report(
            f"round {round_ + 1}: screening {n_starts} starts, refining the best {k_round}"
            + (" after skipping " + str(offset) if offset else "")
            + (" (the first round compiles)" if round_ == 0 else "")
            + " ..."
        )
        screened, chosen, u0, refined = _round_jit(
            param, x, log_y, w, starts_j, loss, delta,
            k=k_round, offset=jnp.asarray(offset), max_steps=max_steps, rtol=rtol, atol=atol,
        )
        chosen_all.append(chosen)
        u0_all.append(u0)
        pieces.append(refined)
        objs = np.concatenate([np.asarray(p[1]) for p in pieces])
        n_agree, n_distinct = agreement(np.concatenate([np.asarray(u) for u in u0_all]), objs)
        report(
            f"round {round_ + 1}: screened {n_starts} starts, refined {k_round} in "
            f"{time.perf_counter() - clock:.2f} s; best objective {np.nanmin(objs):.10g}, "
            f"{int(n_agree)} of {int(n_distinct)} distinct starts agree"
        )
        if n_agree >= 2:
            break
    values, objs, results, steps = (concat_batches(p[i] for p in pieces) for i in range(4))
    result = _assemble(
        param, np.asarray(screened), np.concatenate([np.asarray(c) for c in chosen_all]),
        np.concatenate([np.asarray(u) for u in u0_all]), values, objs, results, steps,
        loss, delta, target, log_y.shape[0], refined_law=jax.tree.map(np.asarray, refined_laws(param, values)),
        data_fingerprint=problem.runs.fingerprint([*problem.x, target]),
        n_groups=0 if problem.groups is None else int(np.unique(problem.groups).size),
        input_ranges=input_ranges(problem.x, problem.runs),
    )
    # NumPy leaves: what leaves the float64 scope is never a float64 JAX array that a
    # float32 caller's next operation would silently truncate.
    result = jax.tree.map(np.asarray, result)
    if not bool(result.converged):
        warnings.warn(result.message, ConvergenceWarning, stacklevel=3)
    return result


# The package's one progress reporter (stderr; bars only on a terminal); `_reporter` is
# kept as the name the sweep imports.
_reporter = reporter
