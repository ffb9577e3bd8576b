r"""Posterior inference: a Laplace approximation, and NUTS started and preconditioned by it.

Both start from the same place: the posterior mode in unconstrained space (BFGS from the
point fit) and the Hessian there. The Laplace approximation is the Gaussian with the
inverse Hessian as covariance. NUTS (Hoffman and Gelman 2014; numpyro's kernels) runs
chains (on a CPU, each chain a call of a one-chain program, side by side on threads; on a
GPU, vectorised; see `resolve_chain_method`) that start from *distinct* points (the point
fit's distinct refined optima where it records them, else draws from the Laplace Gaussian
widened 2x, so that $\hat R$ can see a second mode), in *whitened* coordinates $z$ with
$u = \hat u + L z$, $LL^\top$ the Laplace covariance: there the posterior is close to
$\mathcal N(0, I)$ and numpyro's windowed adaptation refines a diagonal mass matrix from
the identity. Warm-up, sampling and the map back to natural units are one compiled
program. Measured on the 240 Chinchilla points (`benchmarks/uncertainty_speed.py`, 2-core
CPU): adapting the Laplace covariance in $u$ instead, as numpyro's dense adaptation does,
gave 86 leapfrog steps per draw (numpyro shrinks the estimate towards $10^{-3} I$, which
is 760x too wide in directions whose variance is ~1e-8); whitened, 18-26. Dense
adaptation in $z$ gained nothing over diagonal; 300 warm-up steps gave $\hat R \le 1.007$
and bulk/tail ESS >= 800 over 8 seeds; `target_accept` 0.98 gave no divergences in 4 of 4
seeds where 0.95 gave 1 in 4 of 12 and 0.9 gave 9-12 in 3 of 6 (Student-t tails). With
chains side by side (the same kernels, other rounding) 12 seeds gave $\hat R \le 1.0065$,
min bulk/tail ESS 693 and no divergences.

Predictive intervals add to the coefficient uncertainty the residual noise, a new run's
offset (grouped runs) and a model-discrepancy term that grows with the distance beyond
the fitted runs (Kennedy and O'Hagan 2001), its slope estimated by leave-largest-out on
the user's own runs (Choshen et al. 2024); see [`Posterior.forecast`][].
"""

from __future__ import annotations

import concurrent.futures
import importlib
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..ahead import ahead_executor as _ahead_executor, compile_ahead, usable_cores
from ..errors import IdentifiabilityError, InputError
from ..fit import FitResult, fit, make_parameterization, move_inside, prepare_problem
from ..laws import AbstractLaw
from ..precision import float64
from ..progress import reporter
from ..sharding import concat_batches
from ._model import DEFAULT_DF, DEFAULT_NOISE_SCALE, RUN_OFFSETS, RUN_SCALE, Likelihood, law_density
from ._posterior import Posterior, scale_coordinate
from ._priors import describe_prior, resolve_priors
from ._programs import Remembered, program_key
from ._programs import cached as cached_program

# Default NUTS settings, measured on the 240 Chinchilla points (see the module docstring and
# benchmarks/uncertainty_speed.py): whitened by the Laplace covariance, 300 warm-up steps
# give r_hat <= 1.007 and ESS >= 800 per coefficient; target_accept 0.98 no divergences.
DEFAULT_WARMUP = 300
DEFAULT_TARGET_ACCEPT = 0.98
DEFAULT_SAMPLES = 1000
# Chains that do not start at a distinct refined optimum start at a Laplace draw with the
# covariance scaled by this factor squared: over-dispersed starts, as r_hat assumes
# (Gelman and Rubin 1992; Vehtari et al. 2021).
OVERDISPERSION = 2.0
# Leave-largest-out: the runs whose extrapolation coordinate lies in the top fraction of
# its range are held out to estimate the discrepancy slope (Choshen et al. 2024 hold out
# the largest models of each family).
HOLDOUT_FRACTION = 0.2
# A refined optimum of the point fit starts a chain only if its log-likelihood (at the
# point fit's noise scale) is within this many nats of the best one: a mode lower by more
# holds a negligible share of the posterior (e^-10 ~ 5e-5) unless it is vastly wider, and
# a chain started there only measures how long NUTS takes to leave it.
MODE_GAP = 10.0
# Laplace draws of the leave-largest-out posterior used to estimate its predictive variance.
HOLDOUT_DRAWS = 400


def _check_int(value, argument: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{argument}={value!r}: expected an integer.")
    if value < minimum:
        raise InputError(f"{argument}={value!r}: must be at least {minimum}.")
    return int(value)


def prepare(
    law,
    data,
    *,
    query: str | None,
    target: str | None,
    weights,
    fix: Mapping[str, float] | None,
    tie: Mapping[str, str] | None,
):
    """Load and validate runs for a law; returns `(template, runs, x, y, w, target)`."""
    problem = _problem(law, data, query=query, target=target, weights=weights, fix=fix, tie=tie)
    x = {k: np.asarray(v, dtype=float) for k, v in problem.x.items()}
    return problem.template, problem.runs, x, np.asarray(problem.y), np.asarray(problem.weights), problem.target


def _problem(law, data, *, query, target, weights, fix, tie, group=None):
    problem = prepare_problem(
        law, data, query=query, target=target, weights=weights, fix=fix, tie=tie, extra_parameters=1, group=group
    )
    vectors = [n for n in problem.param.free if problem.param.shape(n) != ()]
    if vectors:
        raise InputError(
            f"law: coefficients {vectors} of {type(problem.template).__name__} are vectors; posteriors and "
            "bootstrap support scalar coefficients only (fix the vector ones to sample the others)."
        )
    return problem


def _run_index(problem, group: str | None) -> tuple[np.ndarray | None, str | None]:
    """Integer run index per row (or `None` when rows are independent runs), and its
    source: the fitter's grouping (`scalinglaws.fit.run_groups`: the `group=` column, else a
    `group` column, else checkpoints (a `step` column) grouped by `N` and run settings)."""
    index = problem.groups
    if index is None:
        return None, None
    index = np.asarray(index).reshape(-1)
    n_runs = int(index.max()) + 1
    if n_runs == len(index):  # one row per run: no run-level effect to learn
        return None, None
    if n_runs < 2:
        raise IdentifiabilityError(
            f"group={group!r}: all rows belong to one run; a run-level effect needs at least two runs "
            "(name another run-id column with group=)."
        )
    return index.astype(np.int32), group or ("group" if "group" in problem.runs.frame else "N (checkpoints)")


@float64
def infer(
    law: str | type[AbstractLaw] | AbstractLaw,
    data: Any,
    *,
    query: str | None = None,
    target: str | None = None,
    weights: str | np.ndarray | None = None,
    fix: Mapping[str, float] | None = None,
    tie: Mapping[str, str] | None = None,
    group: str | None = None,
    priors: Mapping[str, Any] | None = None,
    likelihood: Likelihood = "student_t",
    df: float = DEFAULT_DF,
    noise_scale: float = DEFAULT_NOISE_SCALE,
    discrepancy: float | Literal["auto"] = "auto",
    method: Literal["nuts", "laplace"] = "nuts",
    chains: int = 4,
    warmup: int = DEFAULT_WARMUP,
    samples: int = DEFAULT_SAMPLES,
    seed: int = 0,
    init: FitResult | AbstractLaw | None = None,
    target_accept: float = DEFAULT_TARGET_ACCEPT,
    dense_mass: bool = False,
    chain_method: str = "auto",
    progress: bool | Callable[[str], None] = False,
    warn: bool = True,
    columns: Mapping[str, str] | None = None,
) -> Posterior:
    r"""Posterior over a law's coefficients given training runs (NumPyro).

    Model: $\log L_i = \log\hat L(x_i;\theta) + b_{g(i)} + \sigma\varepsilon_i$ with
    Student-t ($\nu$ = `df`) or Normal noise, $\sigma \sim \mathrm{HalfNormal}$(`noise_scale`),
    run offsets $b_g \sim \mathcal N(0, \tau^2)$ for grouped runs, and weakly informative
    priors on the free coefficients with each coefficient's support (see
    `scalinglaws.bayes.default_prior`). Fixed and tied coefficients (`fix`, `tie`) and run
    `weights` (multiplying each run's log-likelihood) work as in [`scalinglaws.fit`][].

    **Arguments:**

    - `law`, `data`, `query`, `target`, `weights`, `fix`, `tie`: as in `scalinglaws.fit`.
    - `group`: column of run ids: rows sharing one (checkpoints of one training run) get a
        common offset on log loss. Default (`scalinglaws.fit.run_groups`): a `group` column,
        else checkpoints (a `step` column) grouped by `N` and run settings; otherwise every
        row is its own run.
    - `priors`: coefficient -> numpyro distribution (natural units) to override a default;
        its support must lie inside the coefficient's.
    - `likelihood`: `"student_t"` (default) or `"normal"`; `df`: Student-t degrees of freedom.
    - `discrepancy`: slope (per decade of compute beyond the fitted runs) of the standard
        deviation of the model-discrepancy term on log loss in predictive intervals;
        `"auto"` (default) estimates it by leave-largest-out, `0` turns it off.
    - `method`: `"nuts"` (default) or `"laplace"` (Gaussian at the posterior mode in
        unconstrained space: seconds, no chain diagnostics).
    - `chains`, `warmup`, `samples`: NUTS settings (`samples` per chain; the Laplace
        approximation draws `chains * samples`). `seed`: the random seed.
    - `init`: a point fit to start from (default: `scalinglaws.fit` with the Huber loss).
    - `target_accept`, `dense_mass`: NUTS step-size adaptation target and whether the mass
        matrix adapted in the whitened coordinates is dense (default diagonal: the
        whitening already removes the correlations).
    - `chain_method`: `"auto"` (default: `"threads"` on one CPU device, else
        `"vectorized"`), `"threads"` (each chain its own call of a one-chain program, the
        calls run side by side on the CPU's cores), `"vectorized"` (one program, chains
        vmapped; the choice for a GPU), `"parallel"` (one device per chain) or
        `"sequential"`. Each chain gets the same key in every method, but the draws are not
        the same: batched and single-chain programs round differently, and a trajectory
        amplifies the difference (the same distribution, other draws).
    - `progress`: stage messages on stderr, with an elapsed-time ticker during NUTS when
        stderr is a terminal ([`scalinglaws.progress`][]); it never changes the draws. `warn`: a
        `scalinglaws.ConvergenceWarning` on poor diagnostics (r_hat, ESS, divergences) or a
        failed mode search.

    **Returns:** a [`Posterior`][].

    **Raises:** `InputError` for bad arguments; `IdentifiabilityError` when the Laplace
    approximation finds a Hessian that is not positive definite.

    **Example:**

    ```python
    import scalinglaws as sl
    from scalinglaws.bayes import infer
    post = infer("chinchilla", "chinchilla", query="epoch_default_included == 1")
    print(post.summary_table())
    post.forecast(N=7e10, D=1.4e12, kind="predictive")
    ```

    `columns` maps your column names to the package's, e.g. `{"params": "N"}` (see
    [`scalinglaws.load_runs`][]).
    """
    if columns:
        from ..data import load_runs

        data = load_runs(data, columns=columns)
    chains = _check_int(chains, "chains", 1)
    samples = _check_int(samples, "samples", 1)
    warmup = _check_int(warmup, "warmup", 0 if method == "laplace" else 1)
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"seed={seed!r}: expected an integer.")
    if method not in ("nuts", "laplace"):
        raise InputError(f"method={method!r}: expected 'nuts' or 'laplace'.")
    if likelihood not in ("student_t", "normal"):
        raise InputError(f"likelihood={likelihood!r}: expected 'student_t' or 'normal'.")
    if not (np.isfinite(df) and df > 0):
        raise InputError(f"df={df!r}: Student-t degrees of freedom must be positive.")
    if not (np.isfinite(noise_scale) and noise_scale > 0):
        raise InputError(f"noise_scale={noise_scale!r}: must be positive.")
    if not 0 < target_accept < 1:
        raise InputError(f"target_accept={target_accept!r}: must lie in (0, 1).")
    if chain_method not in CHAIN_METHODS:
        raise InputError(f"chain_method={chain_method!r}: expected one of {', '.join(map(repr, CHAIN_METHODS))}.")
    chain_method = resolve_chain_method(chain_method)
    if not (discrepancy == "auto" or (isinstance(discrepancy, (int, float)) and np.isfinite(discrepancy)
                                       and discrepancy >= 0)):
        raise InputError(f"discrepancy={discrepancy!r}: expected 'auto' or a non-negative slope (0 turns it off).")
    problem = _problem(law, data, query=query, target=target, weights=weights, fix=fix, tie=tie, group=group)
    template, runs, target = problem.template, problem.runs, problem.target
    x = {k: np.asarray(v, dtype=float) for k, v in problem.x.items()}
    y, w = np.asarray(problem.y, dtype=float), np.asarray(problem.weights, dtype=float)
    groups, group_source = _run_index(problem, group)
    report = _reporter(progress)
    # Priors are checked before the (slower) point fit, so bad input fails at once.
    param0 = make_parameterization(template, fix, tie)
    prior_map = resolve_priors(template, param0.free, priors)

    if init is not None:
        start_law = init.law if isinstance(init, FitResult) else init
        if type(start_law) is not type(template):
            raise TypeError(f"init: expected a fit of {type(template).__name__}, got {type(start_law).__name__}.")
    xj = {k: jnp.asarray(v) for k, v in x.items()}
    log_y = jnp.log(jnp.asarray(y))
    wj = jnp.asarray(w)
    n_groups = 0 if groups is None else int(groups.max()) + 1
    # The density depends on the free coefficients' names and the fixed values only (not on
    # the template's free values), so it is built before the point fit.
    density = law_density(
        param0, prior_map, xj, log_y, wj, likelihood=likelihood, df=float(df), noise_scale=float(noise_scale),
        groups=None if groups is None else jnp.asarray(groups), n_groups=n_groups,
    )
    # The sampler, the longest compilation (about 6 s of a 2-core CPU's time on the 240
    # Chinchilla points, tracing included), and the mode search (about 3 s) are compiled in
    # two background threads while this one runs the point fit (see `compile_ahead`); the
    # diagnostics' ArviZ import follows the sampler. Measured on a quiet 2-core CPU: the
    # whole call takes about 10 s with the sampler compiled ahead (23 s before any of this).
    nuts_program = None
    if method == "nuts":
        ahead = _ahead_executor()
        nuts_program = NutsProgram(
            density, chains=chains, warmup=warmup, samples=samples, target_accept=target_accept,
            dense_mass=dense_mass, chain_method=chain_method, executor=ahead,
        )
        if ahead is not None:
            ahead.submit(importlib.import_module, "arviz")
            ahead.shutdown(wait=False)
    # One compiled program serves the mode search on all runs and on the leave-largest-out
    # subset (zero weights), and the Laplace draws (the approximation's own, or for NUTS
    # enough for leave-largest-out).
    n_laplace = chains * samples if method == "laplace" else HOLDOUT_DRAWS
    laplace = _laplace_program(density, n_laplace, _ahead_executor())

    clock = time.perf_counter()
    if init is None:
        init = fit(template, runs, target=target, weights=w, fix=fix, tie=tie)
        report(f"point fit (initial values) in {time.perf_counter() - clock:.2f} s")
    start_law = init.law if isinstance(init, FitResult) else init
    param = make_parameterization(start_law, fix, tie)
    # The initial noise scale: a robust (MAD) estimate of the point fit's residual scale.
    # (NumPy and one compiled call here: eager JAX operations each compile a small program.)
    resid = np.asarray(jax.jit(lambda law: law.log_predict(xj) - log_y)(start_law))
    sigma0 = max(1.4826 * float(np.median(np.abs(resid - np.median(resid)))), 1e-4)
    init_values = {n: np.asarray(getattr(start_law, n), dtype=float) for n in param.free}
    init_values = jax.tree.map(np.asarray, jax.jit(lambda v: {n: move_inside(param.template, n, v[n]) for n in v})(
        init_values))
    init_values["sigma"] = np.asarray(sigma0)
    if groups is not None:
        init_values[RUN_SCALE] = np.asarray(sigma0)
        init_values[RUN_OFFSETS] = np.zeros(n_groups)

    key_laplace, key_holdout, key_nuts = jax.random.split(jax.random.PRNGKey(int(seed)), 3)
    u_init = jax.jit(density.unconstrained)(init_values)
    clock = time.perf_counter()
    mode = laplace(u_init, key_laplace, wj)
    report(f"posterior mode and Hessian in {time.perf_counter() - clock:.2f} s")
    notes = []
    if not bool(mode.solved):
        notes.append(
            "the search for the posterior mode did not converge (BFGS); the Laplace approximation and the "
            "NUTS preconditioner may be poor; check the point fit."
        )
    coordinate = scale_coordinate(template.inputs, x)
    discrepancy_info = _discrepancy(
        discrepancy, laplace, u_init, key_holdout, density, coordinate, w, groups, n_free=len(param.free) + 1
    )
    settings = {
        "chains": chains,
        "warmup": warmup,
        "samples": samples,
        "seed": int(seed),
        "noise_scale": float(noise_scale),
        "target_accept": float(target_accept),
        "dense_mass": bool(dense_mass),
        "chain_method": chain_method,
        "n_points": len(runs),
        "data": str(getattr(runs, "source", "")),
        "query": query,
        "target": target,
        "weighted": weights is not None,
        "group": group_source,
        "n_groups": n_groups,
        "priors": {n: describe_prior(p) for n, p in prior_map.items()},
        "init": {n: float(init_values[n]) for n in density.names},
        "discrepancy": discrepancy_info,
    }
    clock = time.perf_counter()
    if method == "nuts":
        starts = _chain_starts(density, init, param, mode, chains, key_nuts, init_values, u_init)
        # numpyro's own bar is always off: it compiles a different (chunked) sampling loop,
        # and the same seed must give the same draws with and without progress (issue 12.7).
        with report.task(f"NUTS: {chains} chains x ({warmup} warm-up + {samples}) steps"):
            draws, divergences, steps = _nuts(nuts_program, density, starts, mode, key=key_nuts)
        settings["gradient_evaluations"] = steps
    else:
        if not bool(mode.positive_definite):
            raise IdentifiabilityError(
                "method='laplace': the Hessian of the log posterior at its mode is not finite and positive "
                "definite (a poorly identified coefficient); use method='nuts', fix or tie coefficients, or add runs."
            )
        draws = {k: np.asarray(mode.draws[k], dtype=np.float64).reshape(chains, samples) for k in density.names}
        divergences = 0
    report(f"{method} in {time.perf_counter() - clock:.2f} s")
    post = Posterior(
        param.template, param.free, param.ties, draws, likelihood=likelihood, df=float(df), method=method,
        divergences=divergences, settings=settings,
    )
    post.notes = notes
    if warn:
        post.warn()
    return post


class _Mode(eqx.Module):
    """The posterior mode (flat, unconstrained), the Laplace covariance and draws."""

    mode: jax.Array
    covariance: jax.Array
    draws: dict
    solved: jax.Array
    positive_definite: jax.Array


def laplace_core(density, start: dict, key, n: int, **replace) -> _Mode:
    """Pure JAX (jit- and vmap-compatible, e.g. over `log_y=`): BFGS (optimistix) to the
    posterior mode in unconstrained space, the Hessian there, and `n` draws from the
    Gaussian with the inverse Hessian as covariance (natural units, the density's draws)."""
    import optimistix as optx
    from jax.flatten_util import ravel_pytree

    flat0, unravel = ravel_pytree(start)

    def energy(flat, _):
        return density.potential(unravel(flat), **replace)

    sol = optx.minimise(energy, optx.BFGS(rtol=1e-10, atol=1e-10), flat0, max_steps=2000, throw=False)
    mode = sol.value
    hess = jax.hessian(energy)(mode, None)
    hess = 0.5 * (hess + hess.T)
    finite = jnp.all(jnp.isfinite(hess)) & jnp.all(jnp.isfinite(mode))
    eigval, eigvec = jnp.linalg.eigh(jnp.where(finite, hess, jnp.eye(mode.size)))
    positive = finite & jnp.all(eigval > 0)
    inv = 1.0 / jnp.where(eigval > 0, eigval, 1.0)
    covariance = (eigvec * inv) @ eigvec.T
    normal = jax.random.normal(key, (n, mode.size))
    flat = mode + (normal * jnp.sqrt(inv)) @ eigvec.T
    natural = jax.vmap(lambda f: density.natural(unravel(f), **replace))(flat)
    draws = {k: natural[k] for k in density.names}
    return _Mode(mode, covariance, draws, sol.result == optx.RESULTS.successful, positive)


def laplace_draws(density, start: dict, key, n: int, **replace):
    """`(draws, ok)`: [`laplace_core`][]'s natural draws and whether the mode search
    converged to a finite, positive-definite mode (for simulation studies)."""
    out = laplace_core(density, start, key, n, **replace)
    return out.draws, out.solved & out.positive_definite


def _laplace_program(density, n: int, executor=None):
    """[`laplace_core`][] with `n` draws as a compiled function of `(start, key, weights)`;
    compiled ahead on `executor` (see [`compile_ahead`][]) when one is given, or reused from
    an earlier call on the same density (`scalinglaws.bayes._programs`)."""

    def run(start, key, weights):
        return laplace_core(density, start, key, n, weights=weights)

    cache_key = program_key("laplace", density, int(n))
    program = cached_program(cache_key)
    if program is not None:
        if executor is not None:
            executor.shutdown(wait=False)
        return program
    if executor is None:
        return Remembered(jax.jit(run), cache_key)
    start = _site_shapes(density)
    key = jax.eval_shape(lambda: jax.random.PRNGKey(0))
    weights = jax.ShapeDtypeStruct(jnp.shape(density.kwargs["weights"]), jnp.float64)
    program = compile_ahead(executor, lambda: jax.jit(run).lower(start, key, weights))
    executor.shutdown(wait=False)
    return Remembered(program, cache_key)


def _site_shapes(density) -> dict:
    """Shapes and dtypes of the unconstrained value of every sampled site (no chain axis)."""
    kw = density.kwargs
    values = {n: jax.ShapeDtypeStruct((), jnp.float64) for n in kw["param"].free}
    values["sigma"] = jax.ShapeDtypeStruct((), jnp.float64)
    if kw["groups"] is not None:
        values[RUN_SCALE] = jax.ShapeDtypeStruct((), jnp.float64)
        values[RUN_OFFSETS] = jax.ShapeDtypeStruct((kw["n_groups"],), jnp.float64)
    return jax.eval_shape(density.unconstrained, values)


def _discrepancy(setting, laplace, u_init, key, density, coordinate, w, groups, *, n_free):
    r"""The slope $s$ of the discrepancy's standard deviation per decade beyond the fitted
    runs, by leave-largest-out: refit without the runs in the top `HOLDOUT_FRACTION` of
    the coordinate's range (whole runs when grouped), and solve
    $r_j^2 \approx v_j + s^2 d_j^2$ in least squares for the held-out residuals $r_j$ at
    distance $d_j$ (decades beyond the subset), $v_j$ the subset posterior's predictive
    variance without discrepancy (coefficients, noise, run offset)."""
    info = {
        "coordinate": "log10 of compute (6ND) or of the law's size input",
        "max_fitted": float(np.max(coordinate[w > 0])),
        "method": "given",
        "slope": float(0.0 if setting == "auto" else setting),
        "n_heldout": 0,
        "reference": "Kennedy and O'Hagan 2001 (model discrepancy); Choshen et al. 2024 (leave-largest-out)",
    }
    if setting != "auto":
        return info
    info["method"] = "leave-largest-out"
    low, high = float(np.min(coordinate)), float(np.max(coordinate))
    cut = high - HOLDOUT_FRACTION * (high - low)
    held = coordinate > cut
    if groups is not None:  # never put checkpoints of one run on both sides
        held_runs = np.unique(groups[held])
        held = np.isin(groups, held_runs)
    train = ~held
    distance = coordinate - (np.max(coordinate[train]) if train.any() else high)
    scored = held & (distance > 0) & (w > 0)
    if high - low <= 0 or train.sum() < n_free + 2 or scored.sum() < 2:
        info.update(method="not estimated (too few runs beyond the others' range)", slope=0.0)
        return info
    sub = laplace(u_init, key, jnp.asarray(np.where(train, w, 0.0)))
    if not (bool(sub.solved) and bool(sub.positive_definite)):
        info.update(method="not estimated (the leave-largest-out mode search failed)", slope=0.0)
        return info
    # Predictive variance of the subset posterior at the held-out runs (Laplace, in log space).
    draws = sub.draws
    param, x = density.kwargs["param"], density.kwargs["x"]
    log_pred = np.asarray(
        jax.jit(jax.vmap(lambda d: param.law({n: d[n] for n in param.free}).log_predict(x)))(draws)
    )
    log_y = np.asarray(density.kwargs["log_y"])
    resid = (log_y - np.median(log_pred, axis=0))[scored]
    sigma = float(np.median(np.asarray(draws["sigma"])))
    # Student-t noise has variance sigma^2 df/(df-2); Normal noise sigma^2.
    df = density.kwargs["df"]
    noise_var = sigma**2 * (df / (df - 2) if density.kwargs["likelihood"] == "student_t" and df > 2 else 1.0)
    var = np.var(log_pred, axis=0)[scored] + noise_var
    if groups is not None:
        var = var + float(np.median(np.asarray(draws[RUN_SCALE]))) ** 2
    d = distance[scored]
    slope2 = max(float(np.sum(d**2 * (resid**2 - var)) / np.sum(d**4)), 0.0)
    info.update(slope=float(np.sqrt(slope2)), n_heldout=int(scored.sum()), cut=float(cut))
    return info


def _chain_starts(density, init, param, mode: _Mode, chains: int, key, init_values, u_init) -> dict:
    """One distinct unconstrained start per chain (stacked on a leading axis).

    Chains start at the point fit's distinct refined optima where the fit records them
    (`FitResult.refined_coefficients`), so that r_hat sees a second mode; the remaining
    chains start at over-dispersed draws from the Laplace Gaussian. The candidates are
    mapped to unconstrained space and scored in one compiled call.
    """
    from jax.flatten_util import ravel_pytree

    from ._model import pointwise_log_likelihood

    refined = getattr(init, "refined_coefficients", None) if isinstance(init, FitResult) else None
    if refined is not None and not all(n in refined for n in param.free):
        refined = None
    kw = density.kwargs
    sigma = float(init_values["sigma"])

    def candidates(u_init, coefficients):
        flat_init = ravel_pytree(u_init)[0]
        if coefficients is None:
            return flat_init, None, None

        def one(c):
            values = {**init_values, **{n: move_inside(param.template, n, c[n]) for n in param.free}}
            flat = ravel_pytree(density.unconstrained(values))[0]
            log_lik = jnp.sum(kw["weights"] * pointwise_log_likelihood(
                param.law(c), sigma, kw["x"], kw["log_y"], kw["likelihood"], kw["df"]))
            return flat, log_lik

        flats, log_lik = jax.vmap(one)(coefficients)
        return flat_init, flats, log_lik

    coefficients = None if refined is None else {n: np.asarray(refined[n], dtype=float) for n in param.free}
    flat_init, flats_all, log_lik = jax.tree.map(
        lambda a: None if a is None else np.asarray(a), jax.jit(candidates)(u_init, coefficients)
    )
    flats: list[np.ndarray] = []
    if flats_all is not None:
        log_lik = np.where(np.isfinite(log_lik), log_lik, -np.inf)
        for i in np.argsort(-log_lik):
            if not log_lik[i] >= np.max(log_lik) - MODE_GAP or not np.all(np.isfinite(flats_all[i])):
                continue
            if any(np.allclose(flats_all[i], f, rtol=1e-4, atol=1e-6) for f in flats):
                continue
            flats.append(flats_all[i])
            if len(flats) == chains:
                break
    usable = bool(mode.positive_definite) and bool(np.all(np.isfinite(np.asarray(mode.mode))))
    centre = np.asarray(mode.mode) if usable else flat_init
    if usable:
        chol = np.linalg.cholesky(np.asarray(mode.covariance) + 1e-12 * np.eye(centre.size))
    else:
        chol = 0.1 * np.eye(centre.size)
    need = chains - len(flats)
    if need > 0:
        noise = np.asarray(jax.random.normal(jax.random.fold_in(key, 1), (need, centre.size)))
        # The first chain without a refined optimum starts at the mode itself.
        if not flats:
            noise[0] = 0.0
        flats.extend(list(centre + OVERDISPERSION * noise @ chol.T))
    stacked = np.stack(flats[:chains])
    _, unravel = ravel_pytree(u_init)
    return jax.jit(jax.vmap(unravel))(stacked)


def _nuts(program: NutsProgram, density, starts, mode: _Mode, *, key):
    covariance = np.asarray(mode.covariance)
    usable = bool(mode.positive_definite) and bool(np.all(np.isfinite(covariance)))
    whiten = None
    if usable:
        # Sample z with u = mode + chol z: in z the posterior is close to N(0, I), so numpyro's
        # mass-matrix regularisation (shrinkage towards 1e-3 I, which assumes unit scales) is
        # harmless. In u it is not: on the Chinchilla points some directions have variance
        # ~1e-8 and the shrunk estimate was 760x too wide there, 86 leapfrog steps per draw.
        chol = np.linalg.cholesky(covariance + 1e-12 * np.eye(covariance.shape[0]))
        whiten = (np.asarray(mode.mode), chol)
    natural, divergences, steps = program(starts, key, whiten)
    draws = {k: np.asarray(natural[k], dtype=np.float64).reshape(program.chains, program.samples)
             for k in density.names}
    return draws, divergences, steps


def _nuts_chains(batched, shared):
    """NUTS chains (numpyro's `hmc(algo="NUTS")` kernels, with its windowed adaptation of
    step size and mass matrix), vectorised over the leading (chain) axis of `batched`, in
    coordinates `z` with `u = centre + chol z`. Warm-up, sampling and the map back to
    natural units are one compiled program: `MCMC.run` initialises chains eagerly, op by
    op, which on the Chinchilla points cost more compilation (about 270 small programs)
    than the sampler itself."""
    from jax.flatten_util import ravel_pytree
    from numpyro.infer.hmc import hmc

    density, o = shared["density"], shared["options"]
    centre, chol = shared["centre"], shared["chol"]

    def one(u0, key):
        flat0, unravel = ravel_pytree(u0)

        def to_u(z):
            return unravel(centre + chol @ z)

        def potential(z):
            return density.potential(to_u(z))

        z0 = jax.scipy.linalg.solve_triangular(chol, flat0 - centre, lower=True)
        init_kernel, sample_kernel = hmc(potential_fn=potential, algo="NUTS")
        state = init_kernel(
            z0, o["warmup"], adapt_mass_matrix=o["adapt_mass"], dense_mass=o["dense_mass"],
            target_accept_prob=o["target_accept"], rng_key=key,
        )

        def step(s, _):
            s = sample_kernel(s)
            return s, (density.natural(to_u(s.z)), s.num_steps, s.diverging)

        # One scan over warm-up and sampling (numpyro adapts while `s.i < warmup`): a
        # second loop would trace and compile the NUTS kernel twice (about 2 s more).
        out = jax.lax.scan(step, state, None, length=o["warmup"] + o["samples"])[1]
        return jax.tree.map(lambda a: a[o["warmup"]:], out)

    if o["sequential"]:
        return jax.lax.map(lambda item: one(*item), (batched["u0"], batched["key"]))
    return jax.vmap(one)(batched["u0"], batched["key"])


class NutsProgram:
    """NUTS (numpyro's kernels) on a [`ModelDensity`][], compiled once, ahead of use.

    `NutsProgram(density, chains=, warmup=, samples=, ...)` starts compiling at once in a
    background thread when the process may use more than one core: XLA compilation
    releases the GIL, so it overlaps whatever the caller does next (in `infer`: the point fit and the mode
    search; on the 240 Chinchilla points the sampler's compilation is about 4 s of a 2-core
    CPU's time). Calling it, `program(starts, key, whiten=None)`, waits for the compilation
    if needed and returns `(natural draws of every site (chains, samples, ...), divergences,
    leapfrog steps of the kept draws)`.

    `sites`: the unconstrained shape of every sampled site without the chain axis (default:
    those of `infer`'s model, from the density). `ahead=False` compiles at the first call
    instead (a caller that calls at once has nothing to overlap the compilation with).
    `starts`: unconstrained values of every site with a leading chain axis. `whiten=(centre,
    chol)` samples `z` with `u = centre + chol z` (flat `u` in `ravel_pytree` order), e.g.
    from a Laplace approximation; the mass matrix is then adapted from the identity in `z`
    (`None`: `z = u`). Chains are vectorised (`"vectorized"`; with several local devices
    split across them, compiled at the first call; `"parallel"` is the same), run one after
    another (`"sequential"`, less memory) or as calls of a one-chain program side by side on
    threads (`"threads"`, see [`resolve_chain_method`][]).
    """

    def __init__(self, density, *, chains: int, warmup: int, samples: int, target_accept: float,
                 dense_mass: bool, adapt_mass: bool = True, chain_method: str = "vectorized", executor=None,
                 sites: Mapping[str, jax.ShapeDtypeStruct] | None = None, ahead: bool = True):
        from ..sharding import device_count

        self.density, self.chains, self.samples = density, int(chains), int(samples)
        self.threads = chain_method == "threads"
        # Chains in one call of the program: one with threads (it is called once per chain).
        self._program_chains = 1 if self.threads else self.chains
        # Unconstrained shape of every site (no chain axis): `infer`'s model's by default.
        self.sites = dict(sites) if sites is not None else _site_shapes(density)
        self.options = {
            "warmup": int(warmup), "samples": int(samples), "adapt_mass": bool(adapt_mass),
            "dense_mass": bool(dense_mass), "target_accept": float(target_accept),
            "sequential": chain_method in ("sequential", "threads"), "threads": self.threads,
        }
        self._one_device = device_count() == 1 or self.options["sequential"]
        # A program compiled by an earlier call on the same density and settings is reused.
        sites_key = tuple((n, tuple(v.shape), str(v.dtype)) for n, v in sorted(self.sites.items()))
        self._key = (program_key("nuts", density, self._program_chains, sorted(self.options.items()), sites_key)
                     if self._one_device and ahead else None)
        self._compiled = cached_program(self._key)
        own = executor is None and self._one_device and ahead and self._compiled is None
        executor = _ahead_executor() if own else executor
        if self._compiled is None and self._one_device and ahead and executor is not None:
            self._compiled = Remembered(
                compile_ahead(executor, lambda: jax.jit(self._program).lower(*self._abstract())), self._key
            )
            if own:
                executor.shutdown(wait=False)

    def _program(self, starts, keys, centre, chol):
        shared = {"density": self.density, "centre": centre, "chol": chol, "options": self.options}
        return _nuts_chains({"u0": starts, "key": keys}, shared)

    def _abstract(self):
        f64 = jnp.float64
        values = self.sites
        flat = sum(int(np.prod(v.shape, dtype=int)) for v in values.values())
        starts = {n: jax.ShapeDtypeStruct((self._program_chains, *v.shape), f64) for n, v in values.items()}
        keys = jax.eval_shape(lambda: jax.random.split(jax.random.PRNGKey(0), self._program_chains))
        return starts, keys, jax.ShapeDtypeStruct((flat,), f64), jax.ShapeDtypeStruct((flat, flat), f64)

    def __call__(self, starts, key, whiten=None):
        from jax.flatten_util import ravel_pytree

        from ..sharding import sharded_map

        keys = jax.random.split(key, self.chains)
        size = ravel_pytree(jax.tree.map(lambda v: v[0], starts))[0].size if whiten is None else None
        centre, chol = (np.zeros(size), np.eye(size)) if whiten is None else whiten
        starts = jax.tree.map(lambda v: jnp.asarray(v, dtype=jnp.float64), starts)
        centre, chol = jnp.asarray(centre, dtype=jnp.float64), jnp.asarray(chol, dtype=jnp.float64)
        if self.threads:
            natural, num_steps, diverging = self._side_by_side(starts, keys, centre, chol)
        elif self._compiled is not None:
            natural, num_steps, diverging = self._compiled(starts, keys, centre, chol)
        elif self._one_device:
            self._compiled = Remembered(jax.jit(self._program), self._key)
            natural, num_steps, diverging = self._compiled(starts, keys, centre, chol)
        else:
            shared = {"density": self.density, "centre": centre, "chol": chol, "options": self.options}
            natural, num_steps, diverging = sharded_map(_nuts_chains, {"u0": starts, "key": keys}, shared)
        natural = jax.tree.map(np.asarray, natural)
        # Leapfrog steps of the kept draws (one gradient each): a machine-independent cost.
        return natural, int(np.sum(np.asarray(diverging))), int(np.sum(np.asarray(num_steps)))


    def _side_by_side(self, starts, keys, centre, chol):
        """Every chain's call of the one-chain program, on up to as many threads as cores,
        concatenated in chain order. Each chain's result depends on its start and key only,
        never on the number of threads."""
        if self._compiled is None:  # compiled here, once, before the threads call it
            self._compiled = Remembered(jax.jit(self._program).lower(*self._abstract()).compile(), self._key)
        # Sliced as NumPy arrays: slicing JAX arrays would dispatch (and, in a fresh process,
        # compile) a small program per chain, on the worker threads.
        starts, keys = jax.tree.map(np.asarray, starts), np.asarray(keys)

        def chain(i):
            with jax.enable_x64(True):  # configuration contexts are per thread
                one = jax.tree.map(lambda v: v[i : i + 1], starts)
                return jax.tree.map(np.asarray, self._compiled(one, keys[i : i + 1], centre, chol))

        workers = min(self.chains, usable_cores())
        if workers < 2:
            outs = [chain(i) for i in range(self.chains)]
        else:
            with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="scalinglaws-chains") as pool:
                outs = list(pool.map(chain, range(self.chains)))
        return concat_batches(outs)


CHAIN_METHODS = ("auto", "threads", "vectorized", "parallel", "sequential")


def resolve_chain_method(chain_method: str) -> str:
    """`"auto"` -> `"threads"` on one CPU device, else `"vectorized"`; others unchanged.

    Why threads on a CPU: numpyro's NUTS step is a chain of small kernels, most of which
    XLA runs on one core, and vmapped chains wait for the longest trajectory of each
    iteration. Tracing the vmapped program also costs more: JAX batches the nested
    `while_loop`s of the tree building to a fixed point. Measured on the 240 Chinchilla
    points (2-core CPU, 300 + 1,000 steps): 4 vmapped chains took 1.9 s to trace, 1.8 s to
    compile and 1.0 s to run; the one-chain program 0.4 s, 1.5 s, and 0.5 s for the 4 chains
    on 2 threads. On a GPU one vmapped program keeps the device busy instead."""
    if chain_method != "auto":
        return chain_method
    from ..sharding import device_count

    return "threads" if device_count() == 1 and jax.default_backend() == "cpu" else "vectorized"


def run_nuts(density, starts, *, whiten=None, adapt_mass=True, chains, warmup, samples, key, target_accept,
             dense_mass, chain_method="auto", progress_bar=False):
    """NUTS on a [`ModelDensity`][] from `starts` (unconstrained, a leading chain axis); see
    [`NutsProgram`][] (`chain_method` as in [`infer`][]). Returns `(natural draws of every
    site (chains, samples, ...), divergences, leapfrog steps of the kept draws)`. `progress_bar` is accepted for
    compatibility and ignored: the draws never depend on it."""
    del progress_bar
    program = NutsProgram(
        density, chains=chains, warmup=warmup, samples=samples, target_accept=target_accept,
        dense_mass=dense_mass, adapt_mass=adapt_mass, chain_method=resolve_chain_method(chain_method),
        sites={k: jax.ShapeDtypeStruct(jnp.shape(v)[1:], jnp.float64) for k, v in starts.items()},
        ahead=False,  # called at once: a background compilation would overlap nothing
    )
    return program(starts, key, whiten)


# The package's one progress reporter; `_reporter` is the name bootstrap imports.
_reporter = reporter


__all__ = ["infer", "prepare"]
