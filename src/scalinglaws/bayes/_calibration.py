"""Simulation-based calibration of credible intervals (Talts et al. 2018, arXiv:1804.06788,
in its simplest form: coverage of nominal intervals on data simulated from known values)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import InputError
from ..fit import make_parameterization
from ..laws import get_law
from ..precision import float64
from ._model import DEFAULT_DF, DEFAULT_NOISE_SCALE, RUN_OFFSETS, RUN_SCALE, law_density
from ._priors import resolve_priors


def simulate(law, x: Mapping[str, Any], *, sigma: float, n_datasets: int, likelihood: str = "student_t",
             df: float = DEFAULT_DF, seed: int = 0, groups=None, run_scale: float = 0.0) -> np.ndarray:
    """`(n_datasets, n)` targets drawn from `law` at `x` with log-space noise of scale
    `sigma`, plus with `groups` (run index per row) an offset per run of scale `run_scale`."""
    log_pred = np.asarray(law.log_predict({k: jnp.asarray(v, dtype=float) for k, v in x.items()}))
    rng = np.random.default_rng(seed)
    shape = (n_datasets, log_pred.size)
    eps = rng.standard_t(df, shape) if likelihood == "student_t" else rng.standard_normal(shape)
    log_y = log_pred[None, :] + sigma * eps
    if groups is not None:
        groups = np.asarray(groups)
        log_y = log_y + run_scale * rng.standard_normal((n_datasets, int(groups.max()) + 1))[:, groups]
    return np.exp(log_y)


@float64
def calibration(
    law,
    x: Mapping[str, Any],
    *,
    sigma: float,
    groups=None,
    run_scale: float = 0.0,
    n_datasets: int = 20,
    level: float = 0.9,
    likelihood: str = "student_t",
    df: float = DEFAULT_DF,
    noise_scale: float = DEFAULT_NOISE_SCALE,
    method: str = "nuts",
    chains: int = 2,
    warmup: int = 500,
    samples: int = 500,
    seed: int = 0,
) -> dict[str, Any]:
    """Coverage of nominal `level` central credible intervals on simulated data.

    Simulates `n_datasets` data sets from `law` (the truth) at covariates `x`, and samples
    all their posteriors in *one* NUTS run: the data sets are independent, so the joint
    posterior of the stacked coefficients factorises into theirs, and one compiled program
    serves every data set. Priors are the defaults (see `default_prior`). With
    `method="laplace"`, the Laplace approximation is checked instead (vmapped over data
    sets; `chains * samples` draws each). With `groups` (a run index per row), the data
    carry run-level offsets of scale `run_scale` and the model has its run-level effect
    (checkpoints of one run, see `infer(group=...)`).

    **Returns:** `{"coverage": name -> fraction, "covered": name -> bool array,
    "divergences": int, "max_r_hat": float}`.
    """
    from numpyro.infer import MCMC, NUTS

    truth = get_law(law)
    param = make_parameterization(truth)
    priors = resolve_priors(truth, param.free, None)
    xj = {k: jnp.asarray(v, dtype=float) for k, v in x.items()}
    if method not in ("nuts", "laplace"):
        raise InputError(f"method={method!r}: expected 'nuts' or 'laplace'.")
    ys = simulate(truth, x, sigma=sigma, n_datasets=n_datasets, likelihood=likelihood, df=df, seed=seed,
                  groups=groups, run_scale=run_scale)
    log_ys = jnp.log(jnp.asarray(ys))
    n_groups = 0 if groups is None else int(np.max(groups)) + 1
    density = law_density(
        param, priors, xj, log_ys[0], jnp.ones(ys.shape[1]), likelihood=likelihood, df=df, noise_scale=noise_scale,
        groups=None if groups is None else jnp.asarray(groups), n_groups=n_groups,
    )
    start = {n: float(getattr(truth, n)) for n in param.free}
    start["sigma"] = sigma
    if groups is not None:
        start[RUN_SCALE] = max(run_scale, sigma)
        start[RUN_OFFSETS] = np.zeros(n_groups)

    if method == "laplace":
        from ._infer import laplace_draws

        u_start = density.unconstrained(start)
        keys = jax.random.split(jax.random.PRNGKey(seed), n_datasets)
        run = jax.jit(jax.vmap(lambda k, ly: laplace_draws(density, u_start, k, chains * samples, log_y=ly)))
        natural, _ok = run(keys, log_ys)  # name -> (n_datasets, draws)
        natural = {k: jnp.moveaxis(v, 0, -1)[None] for k, v in natural.items()}
        return _coverage(truth, param, natural, n_datasets, level, chains=1, divergences=0)

    def potential(u):
        return -jnp.sum(jax.vmap(lambda one, ly: density.log_density(one, log_y=ly))(u, log_ys))

    u0 = {k: jnp.broadcast_to(v, (chains, n_datasets, *jnp.shape(v))) for k, v in density.unconstrained(start).items()}
    if chains == 1:
        u0 = {k: v[0] for k, v in u0.items()}
    mcmc = MCMC(
        NUTS(potential_fn=potential, target_accept_prob=0.9), num_warmup=warmup, num_samples=samples,
        num_chains=chains, chain_method="vectorized", progress_bar=False,
    )
    mcmc.run(jax.random.PRNGKey(seed), init_params=u0, extra_fields=("diverging",))
    raw = mcmc.get_samples(group_by_chain=True)  # name -> (chains, samples, n_datasets)
    natural = jax.vmap(jax.vmap(jax.vmap(density.natural)))(raw)
    natural = {k: natural[k] for k in density.names}
    divergences = int(np.sum(np.asarray(mcmc.get_extra_fields(group_by_chain=True)["diverging"])))
    return _coverage(truth, param, natural, n_datasets, level, chains=chains, divergences=divergences)


def _coverage(truth, param, natural, n_datasets, level, *, chains, divergences):
    import arviz as az

    lo, hi = (1 - level) / 2, 1 - (1 - level) / 2
    coverage, covered, r_hats = {}, {}, []
    for name in param.free:
        draws = np.asarray(natural[name])
        q = np.quantile(draws.reshape(-1, n_datasets), [lo, hi], axis=0)
        value = float(getattr(truth, name))
        covered[name] = (q[0] <= value) & (value <= q[1])
        coverage[name] = float(covered[name].mean())
        if chains > 1:  # ArviZ's rank-normalised r_hat (Vehtari et al. 2021), per data set
            r_hats.append(max(float(az.rhat(draws[..., i])) for i in range(n_datasets)))
        else:
            r_hats.append(np.nan)
    return {"coverage": coverage, "covered": covered, "divergences": divergences, "max_r_hat": float(np.max(r_hats))}
