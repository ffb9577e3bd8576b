r"""Hierarchical fits across groups (model families, datasets): shared exponents, per-group
scales.

Choshen, Zhang and Andreas 2024 ("A Hitchhiker's Guide to Scaling Law Estimation",
arXiv:2410.11840) find that model families share scaling behaviour, so exponents can be
pooled while offsets and scales vary. Here the `shared` coefficients take one value for
all groups; every other free coefficient $\theta$ takes one value per group $g$, drawn
from a population in the coefficient's unconstrained space (non-centred):

$$u_{\theta,g} = \mu_\theta + \tau_\theta z_{\theta,g},\quad z_{\theta,g}\sim\mathcal N(0,1),
\quad \tau_\theta \sim \mathrm{HalfNormal}(1),$$

with $\mu_\theta$ under the coefficient's default prior (see `default_prior`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..data import load_runs
from ..fit import move_inside
from ..laws import get_law
from ..errors import InputError
from ..precision import float64
from ._model import DEFAULT_DF, DEFAULT_NOISE_SCALE, ModelDensity, noise_distribution
from ._posterior import Posterior
from ._priors import default_prior, default_prior_parameters

# Coefficient names treated as exponents when `shared` is not given.
_EXPONENT_NAMES = ("alpha", "beta", "alpha_N", "alpha_D", "alpha_C", "gamma", "eta")


class HierarchicalPosterior:
    """Posterior of a hierarchical fit.

    **Attributes:** `template` (a scalar law), `groups` (group labels, in order), `shared`
    and `per_group` (coefficient names), `draws` (name -> `(chains, draws)` for shared
    coefficients, `sigma`, and population `mu_<name>`/`tau_<name>`; name ->
    `(chains, draws, groups)` for per-group coefficients), `divergences`, `settings`.
    """

    def __init__(self, template, groups, shared, per_group, draws, *, likelihood, df, divergences, settings):
        self.template = template
        self.groups = list(groups)
        self.shared = tuple(shared)
        self.per_group = tuple(per_group)
        self.draws = {k: np.asarray(v, dtype=np.float64) for k, v in draws.items()}
        self.likelihood = likelihood
        self.df = float(df)
        self.divergences = int(divergences)
        self.settings = dict(settings)

    def group(self, label) -> Posterior:
        """The [`Posterior`][] of one group's law (shared and that group's coefficients), for
        forecasts and allocation."""
        if label not in self.groups:
            raise InputError(f"group={label!r}: unknown group; the groups are {self.groups}.")
        k = self.groups.index(label)
        draws = {n: self.draws[n] for n in self.shared}
        draws.update({n: self.draws[n][..., k] for n in self.per_group})
        draws["sigma"] = self.draws["sigma"]
        free = tuple(n for n in self.template.coefficient_names() if n in draws)
        settings = dict(self.settings, group=str(label))
        return Posterior(
            self.template, free, (), draws, likelihood=self.likelihood, df=self.df, method="nuts",
            divergences=self.divergences, settings=settings,
        )

    def summary(self) -> dict[str, dict[str, float]]:
        """name (per-group ones as `name[group]`) -> mean, median, q05, q95, and ArviZ's
        rank-normalised r_hat and bulk ESS (Vehtari et al. 2021)."""
        import arviz as az

        out = {}

        def add(key, values):
            flat = values.reshape(-1)
            q05, q50, q95 = np.quantile(flat, [0.05, 0.5, 0.95])
            enough = values.shape[1] >= 4
            out[key] = {
                "mean": float(flat.mean()), "median": float(q50), "q05": float(q05), "q95": float(q95),
                "r_hat": float(az.rhat(values)) if enough and values.shape[0] > 1 else float("nan"),
                "ess": float(az.ess(values, method="bulk")) if enough else float("nan"),
            }

        for name, values in self.draws.items():
            if values.ndim == 3:
                for k, label in enumerate(self.groups):
                    add(f"{name}[{label}]", values[..., k])
            else:
                add(name, values)
        return out


def hierarchical_model(
    *, template, shared, per_group, priors, x, log_y, index, n_groups, likelihood, df, noise_scale
):
    """NumPyro model of [`hierarchical_infer`][]: shared coefficients under their default
    priors; per-group ones non-centred in unconstrained space around `mu_<name>` with
    scale `tau_<name>`. `priors`: name -> the default prior (shared names) or its
    `(loc, scale)` in unconstrained space (per-group names), computed once outside."""
    import numpyro
    import numpyro.distributions as dist

    values = {n: numpyro.sample(n, priors[n]) for n in shared}
    for n in per_group:
        loc, scale = priors[n]
        mu = numpyro.sample(f"mu_{n}", dist.Normal(loc, scale))
        tau = numpyro.sample(f"tau_{n}", dist.HalfNormal(1.0))
        z = numpyro.sample(f"z_{n}", dist.Normal(jnp.zeros(n_groups), 1.0).to_event(1))
        values[n] = template.coefficient_constraint(n).forward(mu + tau * z)[index]
    sigma = numpyro.sample("sigma", dist.HalfNormal(noise_scale))
    law = template.replace(**values)
    log_lik = noise_distribution(likelihood, law.log_predict(x), sigma, df).log_prob(log_y)
    numpyro.factor("log_likelihood", jnp.sum(log_lik))


@float64
def hierarchical_infer(
    law,
    data: Any,
    *,
    group: str = "group",
    shared: Sequence[str] | None = None,
    query: str | None = None,
    target: str | None = None,
    likelihood: str = "student_t",
    df: float = DEFAULT_DF,
    noise_scale: float = DEFAULT_NOISE_SCALE,
    chains: int = 4,
    warmup: int = 1000,
    samples: int = 1000,
    seed: int = 0,
    target_accept: float = 0.9,
    progress: bool = False,
) -> HierarchicalPosterior:
    """Fit a law across groups of runs with shared exponents and per-group coefficients
    (NUTS; on one CPU device the chains run side by side on threads, else vectorised).

    **Arguments:**

    - `law`, `data`, `query`, `target`: as in [`infer`][].
    - `group`: the column naming each run's group (family, dataset).
    - `shared`: coefficients common to all groups (default: the law's exponents, e.g.
        `alpha` and `beta` for Chinchilla); the others vary by group.
    - `likelihood`, `df`, `noise_scale`, `chains`, `warmup`, `samples`, `seed`,
        `target_accept`, `progress`: as in [`infer`][].

    **Returns:** a [`HierarchicalPosterior`][]; `.group(label)` gives one group's posterior.
    """
    from ..fit import fit
    from ._infer import _check_int, run_nuts

    chains = _check_int(chains, "chains", 1)
    samples = _check_int(samples, "samples", 1)
    warmup = _check_int(warmup, "warmup", 1)
    if likelihood not in ("student_t", "normal"):
        raise InputError(f"likelihood={likelihood!r}: expected 'student_t' or 'normal'.")
    template = get_law(law)
    names = template.coefficient_names()
    if shared is None:
        shared = tuple(n for n in names if n in _EXPONENT_NAMES)
        if not shared:
            raise InputError(f"shared: {type(template).__name__} has no exponent named as usual; pass shared=[...].")
    shared = tuple(shared)
    unknown = [n for n in shared if n not in names]
    if unknown:
        raise InputError(f"shared: unknown coefficient(s) {unknown}; the coefficients are {list(names)}.")
    per_group = tuple(n for n in names if n not in shared)
    if not per_group:
        raise InputError("shared: every coefficient is shared; leave at least one to vary by group.")
    runs = load_runs(data, query=query)
    target = target or type(template).target
    runs.require(tuple(template.inputs), why=f"the law reads {list(template.inputs)}")
    runs.require([target], why="the fitted target")
    if group not in runs.frame.columns:
        raise InputError(f"group={group!r}: no such column; the columns are {list(runs.frame.columns)}.")
    labels = runs.frame[group].to_numpy()
    groups = list(dict.fromkeys(labels.tolist()))
    if len(groups) < 2:
        raise InputError(f"group={group!r}: found {len(groups)} group; a hierarchical fit needs at least two.")
    index = jnp.asarray([groups.index(v) for v in labels.tolist()])
    n_groups = len(groups)
    x = {k: jnp.asarray(v) for k, v in runs.arrays(template.inputs).items()}
    log_y = jnp.log(jnp.asarray(runs[target]))
    kwargs = dict(
        template=template, shared=shared, per_group=per_group, x=x, log_y=log_y, index=index, n_groups=n_groups,
        priors={**{n: default_prior(template, n) for n in shared},
                **{n: default_prior_parameters(template, n) for n in per_group}},
        likelihood=likelihood, df=float(df), noise_scale=float(noise_scale),
    )
    sites = shared + tuple(f"{p}_{n}" for n in per_group for p in ("mu", "tau", "z")) + ("sigma",)
    density = ModelDensity(hierarchical_model, kwargs, sites)

    # Start every group at the pooled point fit (small tau, z = 0).
    pooled = fit(template, runs, target=target).law
    start = {n: move_inside(template, n, getattr(pooled, n)) for n in shared}
    for n in per_group:
        start[f"mu_{n}"] = template.coefficient_constraint(n).inverse(move_inside(template, n, getattr(pooled, n)))
        start[f"tau_{n}"] = 0.3
        start[f"z_{n}"] = np.zeros(n_groups)
    resid = np.asarray(pooled.log_predict(x) - log_y)
    start["sigma"] = max(1.4826 * float(np.median(np.abs(resid - np.median(resid)))), 1e-4)
    u0 = density.unconstrained(start)
    u0 = {k: jnp.broadcast_to(v, (chains, *jnp.shape(v))) for k, v in u0.items()}
    natural, divergences, _ = run_nuts(
        density, u0, chains=chains, warmup=warmup, samples=samples, key=jax.random.PRNGKey(int(seed)),
        target_accept=target_accept, dense_mass=False, progress_bar=False,  # same draws whatever `progress`
    )
    draws = {n: np.asarray(natural[n]) for n in shared}
    for n in per_group:
        constraint = template.coefficient_constraint(n)
        mu, tau, z = (np.asarray(natural[f"{p}_{n}"]) for p in ("mu", "tau", "z"))
        draws[n] = np.asarray(constraint.forward(jnp.asarray(mu[..., None] + tau[..., None] * z)))
        draws[f"mu_{n}"] = np.asarray(constraint.forward(jnp.asarray(mu)))
        draws[f"tau_{n}"] = tau
    draws["sigma"] = np.asarray(natural["sigma"])
    settings = {"chains": chains, "warmup": warmup, "samples": samples, "seed": int(seed), "group": group, "target": target,
                "query": query, "n_points": len(runs)}
    return HierarchicalPosterior(
        pooled, groups, shared, per_group, draws, likelihood=likelihood, df=df, divergences=divergences,
        settings=settings,
    )

