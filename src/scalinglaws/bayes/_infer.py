"""Posterior inference: NUTS (several chains, vectorised) and a Laplace approximation."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np

from ..fit import FitResult, fit, make_parameterization, move_inside, prepare_problem
from ..laws import AbstractLaw
from ._model import DEFAULT_DF, DEFAULT_NOISE_SCALE, Likelihood, UnconstrainedDensity
from ._posterior import Posterior
from ._priors import describe_prior, resolve_priors


def _check_int(value, argument: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{argument}={value!r}: expected an integer.")
    if value < minimum:
        raise ValueError(f"{argument}={value!r}: must be at least {minimum}.")
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
    problem = prepare_problem(
        law, data, query=query, target=target, weights=weights, fix=fix, tie=tie, extra_parameters=1
    )
    vectors = [n for n in problem.param.free if problem.param.shape(n) != ()]
    if vectors:
        raise ValueError(
            f"law: coefficients {vectors} of {type(problem.template).__name__} are vectors; posteriors and "
            "bootstrap support scalar coefficients only (fix the vector ones to sample the others)."
        )
    x = {k: np.asarray(v, dtype=float) for k, v in problem.x.items()}
    return problem.template, problem.runs, x, np.asarray(problem.y), np.asarray(problem.weights), problem.target


def infer(
    law: str | type[AbstractLaw] | AbstractLaw,
    data: Any,
    *,
    query: str | None = None,
    target: str | None = None,
    weights: str | np.ndarray | None = None,
    fix: Mapping[str, float] | None = None,
    tie: Mapping[str, str] | None = None,
    priors: Mapping[str, Any] | None = None,
    likelihood: Likelihood = "student_t",
    df: float = DEFAULT_DF,
    noise_scale: float = DEFAULT_NOISE_SCALE,
    method: Literal["nuts", "laplace"] = "nuts",
    chains: int = 4,
    warmup: int = 1000,
    samples: int = 1000,
    seed: int = 0,
    init: FitResult | AbstractLaw | None = None,
    target_accept: float = 0.9,
    dense_mass: bool = True,
    chain_method: str = "vectorized",
    progress: bool | Callable[[str], None] = False,
    warn: bool = True,
) -> Posterior:
    r"""Posterior over a law's coefficients given training runs (NumPyro).

    Model: $\log L_i = \log\hat L(x_i;\theta) + \sigma\varepsilon_i$ with Student-t
    ($\nu$ = `df`) or Normal noise, $\sigma \sim \mathrm{HalfNormal}$(`noise_scale`), and
    weakly informative priors on the free coefficients with each coefficient's support
    (see `scalinglaws.bayes.default_prior`). Fixed and tied coefficients (`fix`, `tie`) and
    run `weights` (multiplying each run's log-likelihood) work as in [`scalinglaws.fit`][].

    **Arguments:**

    - `law`, `data`, `query`, `target`, `weights`, `fix`, `tie`: as in `scalinglaws.fit`.
    - `priors`: coefficient -> numpyro distribution (natural units) to override a default;
        its support must lie inside the coefficient's.
    - `likelihood`: `"student_t"` (default) or `"normal"`; `df`: Student-t degrees of freedom.
    - `method`: `"nuts"` (default) or `"laplace"` (Gaussian at the posterior mode in
        unconstrained space: seconds, no diagnostics).
    - `chains`, `warmup`, `samples`: NUTS settings (`samples` per chain; the Laplace
        approximation draws `chains * samples`). `seed`: the random seed.
    - `init`: a point fit to start from (default: `scalinglaws.fit` with the Huber loss).
    - `target_accept`, `dense_mass`: NUTS step-size adaptation target and mass matrix.
    - `chain_method`: `"vectorized"` (default: one device, CPU or GPU), `"parallel"`
        (one device per chain) or `"sequential"`.
    - `progress`: NUTS progress bar (and stage messages), `warn`: warn on poor diagnostics.

    **Returns:** a [`Posterior`][].

    **Example:**

    ```python
    import scalinglaws as sl
    from scalinglaws.bayes import infer
    post = infer("chinchilla", "chinchilla", query="epoch_default_included == 1")
    print(post.summary_table())
    post.forecast(N=7e10, D=1.4e12)
    ```
    """
    chains = _check_int(chains, "chains", 1)
    samples = _check_int(samples, "samples", 1)
    warmup = _check_int(warmup, "warmup", 0 if method == "laplace" else 1)
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"seed={seed!r}: expected an integer.")
    if method not in ("nuts", "laplace"):
        raise ValueError(f"method={method!r}: expected 'nuts' or 'laplace'.")
    if likelihood not in ("student_t", "normal"):
        raise ValueError(f"likelihood={likelihood!r}: expected 'student_t' or 'normal'.")
    if not (np.isfinite(df) and df > 0):
        raise ValueError(f"df={df!r}: Student-t degrees of freedom must be positive.")
    if not (np.isfinite(noise_scale) and noise_scale > 0):
        raise ValueError(f"noise_scale={noise_scale!r}: must be positive.")
    if not 0 < target_accept < 1:
        raise ValueError(f"target_accept={target_accept!r}: must lie in (0, 1).")
    if chain_method not in ("vectorized", "parallel", "sequential"):
        raise ValueError(f"chain_method={chain_method!r}: expected 'vectorized', 'parallel' or 'sequential'.")
    template, runs, x, y, w, target = prepare(law, data, query=query, target=target, weights=weights, fix=fix, tie=tie)
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
    # The initial noise scale: a robust (MAD) estimate of the point fit's residual scale.
    resid = np.asarray(start_law.log_predict(xj) - log_y)
    sigma0 = max(1.4826 * float(np.median(np.abs(resid - np.median(resid)))), 1e-4)
    init_values = {n: jnp.asarray(move_inside(param.template, n, getattr(start_law, n))) for n in param.free}
    init_values["sigma"] = jnp.asarray(sigma0)
    density = UnconstrainedDensity(
        param, prior_map, xj, log_y, wj, likelihood=likelihood, df=float(df), noise_scale=float(noise_scale)
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
        "priors": {n: describe_prior(p) for n, p in prior_map.items()},
        "init": {n: float(v) for n, v in init_values.items()},
    }
    clock = time.perf_counter()
    if method == "nuts":
        draws, divergences = _nuts(
            density, init_values, chains=chains, warmup=warmup, samples=samples, seed=int(seed),
            target_accept=target_accept, dense_mass=dense_mass, chain_method=chain_method,
            progress_bar=bool(progress),
        )
    else:
        draws, divergences = _laplace(density, init_values, chains=chains, samples=samples, seed=int(seed))
    report(f"{method} in {time.perf_counter() - clock:.2f} s")
    post = Posterior(
        param.template, param.free, param.ties, draws, likelihood=likelihood, df=float(df), method=method,
        divergences=divergences, settings=settings,
    )
    if warn:
        post.warn()
    return post


def _nuts(density, init_values, *, chains, warmup, samples, seed, target_accept, dense_mass,
          chain_method, progress_bar):
    from numpyro.infer import MCMC, NUTS

    kernel = NUTS(potential_fn=density.potential, target_accept_prob=target_accept, dense_mass=dense_mass)
    mcmc = MCMC(
        kernel,
        num_warmup=warmup,
        num_samples=samples,
        num_chains=chains,
        chain_method=chain_method,
        progress_bar=progress_bar,
    )
    u0 = density.unconstrained(init_values)
    if chains > 1:
        u0 = {k: jnp.broadcast_to(v, (chains,)) for k, v in u0.items()}
    mcmc.run(jax.random.PRNGKey(seed), init_params=u0, extra_fields=("diverging",))
    raw = mcmc.get_samples(group_by_chain=True)
    natural = jax.jit(jax.vmap(jax.vmap(density.natural)))(raw)
    draws = {k: np.asarray(natural[k], dtype=np.float64).reshape(chains, samples) for k in density.names}
    diverging = mcmc.get_extra_fields(group_by_chain=True)["diverging"]
    return draws, int(np.sum(np.asarray(diverging)))


def laplace_draws(density, start: dict, key, n: int, log_y=None):
    """Laplace approximation (pure JAX, vmappable over `log_y`): BFGS to the posterior mode
    in unconstrained space, then `n` draws from the Gaussian with the inverse Hessian as
    covariance. Returns `(natural draws, Hessian eigenvalues)`."""
    import optimistix as optx
    from jax.flatten_util import ravel_pytree

    flat0, unravel = ravel_pytree(start)

    def energy(flat, ly):
        return -density.log_density(unravel(flat), ly)

    sol = optx.minimise(energy, optx.BFGS(rtol=1e-10, atol=1e-10), flat0, args=log_y, max_steps=2000, throw=False)
    mode = sol.value
    hess = jax.hessian(energy)(mode, log_y)
    eigval, eigvec = jnp.linalg.eigh(0.5 * (hess + hess.T))
    normal = jax.random.normal(key, (n, mode.size))
    flat = mode + (normal / jnp.sqrt(jnp.abs(eigval))) @ eigvec.T
    ok = jnp.all(eigval > 0) & jnp.all(jnp.isfinite(mode))
    return jax.vmap(lambda f: density.natural(unravel(f)))(flat), ok


def _laplace(density, init_values, *, chains, samples, seed):
    """Gaussian approximation at the posterior mode in unconstrained space."""
    run = jax.jit(lambda start, key: laplace_draws(density, start, key, chains * samples))
    natural, ok = run(density.unconstrained(init_values), jax.random.PRNGKey(seed))
    if not bool(ok):
        raise ValueError(
            "method='laplace': the posterior mode has a non-positive-definite Hessian (a poorly "
            "identified coefficient); use method='nuts' or fix coefficients."
        )
    draws = {k: np.asarray(natural[k], dtype=np.float64).reshape(chains, samples) for k in density.names}
    return draws, 0


def _reporter(progress):
    import sys

    if callable(progress):
        return progress
    if progress:
        return lambda text: print(f"[scalinglaws] {text}", file=sys.stderr, flush=True)
    return lambda text: None


__all__ = ["infer", "prepare"]
