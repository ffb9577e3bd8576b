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
from ._model import DEFAULT_DF, DEFAULT_NOISE_SCALE, noise_distribution
from ._posterior import Posterior
from ._priors import default_prior_parameters

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
            raise ValueError(f"group={label!r}: unknown group; the groups are {self.groups}.")
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
        """name (per-group ones as `name[group]`) -> mean, median, q05, q95, r_hat, ess."""
        from numpyro.diagnostics import effective_sample_size, split_gelman_rubin

        out = {}

        def add(key, values):
            flat = values.reshape(-1)
            q05, q50, q95 = np.quantile(flat, [0.05, 0.5, 0.95])
            out[key] = {
                "mean": float(flat.mean()), "median": float(q50), "q05": float(q05), "q95": float(q95),
                "r_hat": float(split_gelman_rubin(values)) if values.shape[1] >= 4 else float("nan"),
                "ess": float(effective_sample_size(values)) if values.shape[1] >= 4 else float("nan"),
            }

        for name, values in self.draws.items():
            if values.ndim == 3:
                for k, label in enumerate(self.groups):
                    add(f"{name}[{label}]", values[..., k])
            else:
                add(name, values)
        return out


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
    (NUTS, vectorised chains).

    **Arguments:**

    - `law`, `data`, `query`, `target`: as in [`infer`][].
    - `group`: the column naming each run's group (family, dataset).
    - `shared`: coefficients common to all groups (default: the law's exponents, e.g.
        `alpha` and `beta` for Chinchilla); the others vary by group.
    - `likelihood`, `df`, `noise_scale`, `chains`, `warmup`, `samples`, `seed`,
        `target_accept`, `progress`: as in [`infer`][].

    **Returns:** a [`HierarchicalPosterior`][]; `.group(label)` gives one group's posterior.
    """
    from numpyro.infer import MCMC, NUTS

    from ._infer import _check_int

    chains = _check_int(chains, "chains", 1)
    samples = _check_int(samples, "samples", 1)
    warmup = _check_int(warmup, "warmup", 1)
    if likelihood not in ("student_t", "normal"):
        raise ValueError(f"likelihood={likelihood!r}: expected 'student_t' or 'normal'.")
    template = get_law(law)
    names = template.coefficient_names()
    if shared is None:
        shared = tuple(n for n in names if n in _EXPONENT_NAMES)
        if not shared:
            raise ValueError(f"shared: {type(template).__name__} has no exponent named as usual; pass shared=[...].")
    shared = tuple(shared)
    unknown = [n for n in shared if n not in names]
    if unknown:
        raise ValueError(f"shared: unknown coefficient(s) {unknown}; the coefficients are {list(names)}.")
    per_group = tuple(n for n in names if n not in shared)
    if not per_group:
        raise ValueError("shared: every coefficient is shared; leave at least one to vary by group.")
    runs = load_runs(data, query=query)
    target = target or type(template).target
    runs.require(tuple(template.inputs), why=f"the law reads {list(template.inputs)}")
    runs.require([target], why="the fitted target")
    if group not in runs.frame.columns:
        raise ValueError(f"group={group!r}: no such column; the columns are {list(runs.frame.columns)}.")
    labels = runs.frame[group].to_numpy()
    groups = list(dict.fromkeys(labels.tolist()))
    if len(groups) < 2:
        raise ValueError(f"group={group!r}: found {len(groups)} group; a hierarchical fit needs at least two.")
    index = jnp.asarray([groups.index(v) for v in labels.tolist()])
    n_groups = len(groups)
    x = {k: jnp.asarray(v) for k, v in runs.arrays(template.inputs).items()}
    log_y = jnp.log(jnp.asarray(runs[target]))
    prior = {n: default_prior_parameters(template, n) for n in names}
    constraint = {n: template.coefficient_constraint(n) for n in names}

    def normal_lp(v, loc, scale):
        return -0.5 * ((v - loc) / scale) ** 2 - jnp.log(scale) - 0.5 * jnp.log(2 * jnp.pi)

    def unpack(u):
        values = {n: constraint[n].forward(u[n]) for n in shared}
        for n in per_group:
            tau = jnp.exp(u[f"log_tau_{n}"])
            values[n] = constraint[n].forward(u[f"mu_{n}"] + tau * u[f"z_{n}"])
        return values

    def potential(u):
        lp = 0.0
        for n in shared:
            lp += normal_lp(u[n], *prior[n])
        for n in per_group:
            lp += normal_lp(u[f"mu_{n}"], *prior[n])
            log_tau = u[f"log_tau_{n}"]
            lp += normal_lp(jnp.exp(log_tau), 0.0, 1.0) + log_tau  # HalfNormal(1) with Jacobian
            lp += jnp.sum(normal_lp(u[f"z_{n}"], 0.0, 1.0))
        log_sigma = u["log_sigma"]
        sigma = jnp.exp(log_sigma)
        lp += normal_lp(sigma, 0.0, noise_scale) + log_sigma
        values = unpack(u)
        per_run = template.replace(
            **{n: (values[n][index] if n in per_group else values[n]) for n in names}
        )
        lp += jnp.sum(noise_distribution(likelihood, per_run.log_predict(x), sigma, df).log_prob(log_y))
        return -jnp.where(jnp.isfinite(lp), lp, -jnp.inf)

    # Start every group at the pooled point fit (small tau, z = 0).
    from ..fit import fit

    pooled = fit(template, runs, target=target).law
    u0 = {n: constraint[n].inverse(move_inside(template, n, getattr(pooled, n))) for n in shared}
    for n in per_group:
        u0[f"mu_{n}"] = constraint[n].inverse(move_inside(template, n, getattr(pooled, n)))
        u0[f"log_tau_{n}"] = jnp.asarray(np.log(0.3))
        u0[f"z_{n}"] = jnp.zeros(n_groups)
    resid = np.asarray(pooled.log_predict(x) - log_y)
    u0["log_sigma"] = jnp.asarray(np.log(max(1.4826 * np.median(np.abs(resid - np.median(resid))), 1e-4)))
    u0 = {k: jnp.asarray(v, dtype=float) for k, v in u0.items()}
    if chains > 1:
        u0 = {k: jnp.broadcast_to(v, (chains, *v.shape)) for k, v in u0.items()}
    kernel = NUTS(potential_fn=potential, target_accept_prob=target_accept, dense_mass=False)
    mcmc = MCMC(kernel, num_warmup=warmup, num_samples=samples, num_chains=chains, chain_method="vectorized",
                progress_bar=bool(progress))
    mcmc.run(jax.random.PRNGKey(int(seed)), init_params=u0, extra_fields=("diverging",))
    raw = mcmc.get_samples(group_by_chain=True)
    natural = jax.jit(jax.vmap(jax.vmap(unpack)))(raw)
    draws = {n: np.asarray(natural[n]) for n in names}
    for n in per_group:
        draws[f"mu_{n}"] = np.asarray(jax.vmap(jax.vmap(constraint[n].forward))(raw[f"mu_{n}"]))
        draws[f"tau_{n}"] = np.exp(np.asarray(raw[f"log_tau_{n}"]))
    draws["sigma"] = np.exp(np.asarray(raw["log_sigma"]))
    divergences = int(np.sum(np.asarray(mcmc.get_extra_fields(group_by_chain=True)["diverging"])))
    settings = {"chains": chains, "warmup": warmup, "samples": samples, "seed": int(seed), "group": group, "target": target,
                    "query": query, "n_points": len(runs)}
    return HierarchicalPosterior(
        pooled, groups, shared, per_group, draws, likelihood=likelihood, df=df, divergences=divergences,
        settings=settings,
    )

