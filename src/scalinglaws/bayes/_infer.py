r"""Posterior inference: a Laplace approximation, and NUTS started and preconditioned by it.

Both start from the same place: the posterior mode in unconstrained space (BFGS from the
point fit) and the Hessian there. The Laplace approximation is the Gaussian with the
inverse Hessian as covariance. NUTS (Hoffman and Gelman 2014, numpyro) runs vectorised
chains that start from *distinct* points (the point fit's distinct refined optima where
it records them, else draws from the Laplace Gaussian widened 2x, so that $\hat R$ can see
a second mode), with the Laplace covariance as the initial inverse mass matrix, so
warm-up refines a good preconditioner instead of learning one from the identity. On the
240 Chinchilla points 500 warm-up steps give $\hat R \le 1.004$, no divergences and the
same effective draws per second as 1000 (`benchmarks/uncertainty_speed.py`). Measured
there too: numpyro's short adaptation windows make the Laplace preconditioner *worse*
(80-270 leapfrog steps per draw after 100-500 warm-up steps, 21-24 with the Laplace mass
kept), but keeping it fixed lets step-size adaptation pick steps that diverge in the
Student-t tails; so the mass matrix is adapted, from the Laplace start.

Predictive intervals add to the coefficient uncertainty the residual noise, a new run's
offset (grouped runs) and a model-discrepancy term that grows with the distance beyond
the fitted runs (Kennedy and O'Hagan 2001), its slope estimated by leave-largest-out on
the user's own runs (Choshen et al. 2024); see [`Posterior.forecast`][].
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any, Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..errors import IdentifiabilityError, InputError
from ..fit import FitResult, fit, make_parameterization, move_inside, prepare_problem
from ..laws import AbstractLaw
from ..precision import float64
from ..progress import reporter
from ._model import DEFAULT_DF, DEFAULT_NOISE_SCALE, RUN_OFFSETS, RUN_SCALE, Likelihood, law_density
from ._posterior import Posterior, scale_coordinate
from ._priors import describe_prior, resolve_priors

# Default NUTS settings, measured on the 240 Chinchilla points (benchmarks/uncertainty_speed.py):
# with the Laplace covariance as the starting mass matrix, 500 warm-up steps give r_hat <=
# 1.004, no divergences and as many effective draws per second as 1000 (4 paired runs).
DEFAULT_WARMUP = 500
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
    target_accept: float = 0.9,
    dense_mass: bool = True,
    chain_method: str = "vectorized",
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
    - `target_accept`, `dense_mass`: NUTS step-size adaptation target and mass matrix.
    - `chain_method`: `"vectorized"` (default: one device, CPU or GPU), `"parallel"`
        (one device per chain) or `"sequential"`.
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
    if chain_method not in ("vectorized", "parallel", "sequential"):
        raise InputError(f"chain_method={chain_method!r}: expected 'vectorized', 'parallel' or 'sequential'.")
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

    clock = time.perf_counter()
    if init is None:
        init = fit(template, runs, target=target, weights=w, fix=fix, tie=tie)
        report(f"point fit (initial values) in {time.perf_counter() - clock:.2f} s")
    start_law = init.law if isinstance(init, FitResult) else init
    if type(start_law) is not type(template):
        raise TypeError(f"init: expected a fit of {type(template).__name__}, got {type(start_law).__name__}.")
    param = make_parameterization(start_law, fix, tie)
    xj = {k: jnp.asarray(v) for k, v in x.items()}
    log_y = jnp.log(jnp.asarray(y))
    wj = jnp.asarray(w)
    n_groups = 0 if groups is None else int(groups.max()) + 1
    density = law_density(
        param, prior_map, xj, log_y, wj, likelihood=likelihood, df=float(df), noise_scale=float(noise_scale),
        groups=None if groups is None else jnp.asarray(groups), n_groups=n_groups,
    )
    # The initial noise scale: a robust (MAD) estimate of the point fit's residual scale.
    resid = np.asarray(start_law.log_predict(xj) - log_y)
    sigma0 = max(1.4826 * float(np.median(np.abs(resid - np.median(resid)))), 1e-4)
    init_values = {n: jnp.asarray(move_inside(param.template, n, getattr(start_law, n))) for n in param.free}
    init_values["sigma"] = jnp.asarray(sigma0)
    if groups is not None:
        init_values[RUN_SCALE] = jnp.asarray(sigma0)
        init_values[RUN_OFFSETS] = jnp.zeros(n_groups)

    # One compiled program serves the mode search on all runs and on the leave-largest-out
    # subset (zero weights), and the Laplace draws.
    # Laplace draws: the approximation's own, or (NUTS) enough for leave-largest-out.
    n_laplace = chains * samples if method == "laplace" else HOLDOUT_DRAWS
    laplace = _laplace_program(density, n_laplace)
    key_laplace, key_holdout, key_nuts = jax.random.split(jax.random.PRNGKey(int(seed)), 3)
    u_init = density.unconstrained(init_values)
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
        starts = _chain_starts(density, init, param, mode, chains, key_nuts, init_values)
        # numpyro's own bar is always off: it compiles a different (chunked) sampling loop,
        # and the same seed must give the same draws with and without progress (issue 12.7).
        with report.task(f"NUTS: {chains} chains x ({warmup} warm-up + {samples}) steps"):
            draws, divergences, steps = _nuts(
                density, starts, mode, chains=chains, warmup=warmup, samples=samples, key=key_nuts,
                target_accept=target_accept, dense_mass=dense_mass, chain_method=chain_method,
                progress_bar=False,
            )
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


def _laplace_program(density, n: int):
    @jax.jit
    def run(start, key, weights):
        return laplace_core(density, start, key, n, weights=weights)

    return run


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


def _chain_starts(density, init, param, mode: _Mode, chains: int, key, init_values) -> dict:
    """One distinct unconstrained start per chain (stacked on a leading axis).

    Chains start at the point fit's distinct refined optima where the fit records them
    (`FitResult.refined_coefficients`), so that r_hat sees a second mode; the remaining
    chains start at over-dispersed draws from the Laplace Gaussian.
    """
    from jax.flatten_util import ravel_pytree

    u_init = density.unconstrained(init_values)
    flat_init, unravel = ravel_pytree(u_init)
    flats = []
    refined = getattr(init, "refined_coefficients", None) if isinstance(init, FitResult) else None
    if refined is not None:
        log_lik = _refined_log_likelihood(density, param, refined, float(init_values["sigma"]))
        seen: list[np.ndarray] = []
        for i in np.argsort(-log_lik):
            if not log_lik[i] >= np.max(log_lik) - MODE_GAP:
                continue
            values = dict(init_values)
            try:
                values.update({n: move_inside(param.template, n, float(np.asarray(refined[n])[i])) for n in param.free})
            except (KeyError, IndexError, TypeError):
                break
            flat = np.asarray(ravel_pytree(density.unconstrained(values))[0])
            if any(np.allclose(flat, s, rtol=1e-4, atol=1e-6) for s in seen):
                continue
            seen.append(flat)
            flats.append(jnp.asarray(flat))
            if len(flats) == chains:
                break
    usable = bool(mode.positive_definite) and bool(jnp.all(jnp.isfinite(mode.mode)))
    centre = mode.mode if usable else flat_init
    if usable:
        chol = jnp.linalg.cholesky(mode.covariance + 1e-12 * jnp.eye(centre.size))
    else:
        chol = 0.1 * jnp.eye(centre.size)
    need = chains - len(flats)
    if need > 0:
        noise = jax.random.normal(jax.random.fold_in(key, 1), (need, centre.size))
        # The first chain without a refined optimum starts at the mode itself.
        noise = noise.at[0].set(0.0) if not flats else noise
        flats.extend(list(centre + OVERDISPERSION * noise @ chol.T))
    stacked = jnp.stack(flats[:chains])
    return jax.vmap(unravel)(stacked)


def _refined_log_likelihood(density, param, refined, sigma: float) -> np.ndarray:
    """Log-likelihood of each refined optimum at noise scale `sigma` (no run offsets)."""
    from ._model import pointwise_log_likelihood

    kw = density.kwargs
    out = jax.vmap(
        lambda values: jnp.sum(kw["weights"] * pointwise_log_likelihood(
            param.law(values), sigma, kw["x"], kw["log_y"], kw["likelihood"], kw["df"]))
    )({n: jnp.asarray(refined[n]) for n in param.free})
    return np.where(np.isfinite(np.asarray(out)), np.asarray(out), -np.inf)


def _nuts(density, starts, mode: _Mode, *, chains, warmup, samples, key, target_accept, dense_mass,
          chain_method, progress_bar):
    usable = bool(mode.positive_definite) and bool(jnp.all(jnp.isfinite(mode.covariance)))
    inverse_mass = None
    if usable:
        # numpyro ravels the dict of sites in sorted-key order, as ravel_pytree does.
        inverse_mass = mode.covariance if dense_mass else jnp.diag(mode.covariance)
    natural, divergences, steps = run_nuts(
        density, starts, inverse_mass=inverse_mass, chains=chains, warmup=warmup, samples=samples, key=key,
        target_accept=target_accept, dense_mass=dense_mass, chain_method=chain_method, progress_bar=progress_bar,
    )
    draws = {k: np.asarray(natural[k], dtype=np.float64).reshape(chains, samples) for k in density.names}
    return draws, divergences, steps


def run_nuts(density, starts, *, inverse_mass=None, adapt_mass=True, chains, warmup, samples, key, target_accept, dense_mass,
             chain_method="vectorized", progress_bar=False):
    """NUTS (numpyro) on a [`ModelDensity`][] from `starts` (unconstrained, a leading chain
    axis). Returns `(natural draws of every site (chains, samples, ...), divergences,
    leapfrog steps of the kept draws)`."""
    from numpyro.infer import MCMC, NUTS

    kernel = NUTS(
        potential_fn=density.potential, target_accept_prob=target_accept, dense_mass=dense_mass,
        inverse_mass_matrix=inverse_mass, adapt_mass_matrix=adapt_mass,
    )
    mcmc = MCMC(
        kernel, num_warmup=warmup, num_samples=samples, num_chains=chains, chain_method=chain_method,
        progress_bar=progress_bar,
    )
    init = starts if chains > 1 else jax.tree.map(lambda v: v[0], starts)
    with warnings.catch_warnings():
        # numpyro warns when there are fewer devices than chains for chain_method="parallel".
        warnings.simplefilter("ignore", UserWarning)
        mcmc.run(key, init_params=init, extra_fields=("diverging", "num_steps"))
    raw = mcmc.get_samples(group_by_chain=True)
    natural = jax.jit(jax.vmap(jax.vmap(density.natural)))(raw)
    extra = mcmc.get_extra_fields(group_by_chain=True)
    # Leapfrog steps of the kept draws (one gradient each): a machine-independent cost.
    return natural, int(np.sum(np.asarray(extra["diverging"]))), int(np.sum(np.asarray(extra["num_steps"])))


# The package's one progress reporter; `_reporter` is the name bootstrap imports.
_reporter = reporter


__all__ = ["infer", "prepare"]
