"""The NumPyro model of a law: priors on free coefficients, a likelihood on log-loss.

$$\\log L_i = \\log \\hat L(x_i; \\theta) + \\sigma\\,\\varepsilon_i,\\qquad
\\varepsilon_i \\sim t_\\nu \\text{ (default) or } \\mathcal{N}(0, 1)$$

A Student-t likelihood keeps a few outlier runs from dragging the coefficients, the
role the Huber loss plays in point fits (Hoffmann et al. 2022; Besiroglu et al. 2024).
Run weights multiply each run's log-likelihood, as they multiply each run's loss in a
point fit. The noise scale $\\sigma$ is learned, with a half-normal prior.
"""

from __future__ import annotations

from typing import Literal

import jax.numpy as jnp

Likelihood = Literal["student_t", "normal"]

# Default noise prior: sigma ~ HalfNormal(0.1). Log-loss residuals of published fits are
# about 0.01-0.05 (Chinchilla, Besiroglu et al. 2024), well inside its bulk.
DEFAULT_NOISE_SCALE = 0.1
# Default degrees of freedom of the Student-t likelihood (heavy tails, finite variance).
DEFAULT_DF = 4.0


def noise_distribution(likelihood: Likelihood, loc, sigma, df: float):
    import numpyro.distributions as dist

    if likelihood == "student_t":
        return dist.StudentT(df, loc, sigma)
    return dist.Normal(loc, sigma)


def pointwise_log_likelihood(law, sigma, x, log_y, likelihood: Likelihood, df: float):
    """Per-run log-likelihood of `log_y` under one coefficient set (unweighted)."""
    return noise_distribution(likelihood, law.log_predict(x), sigma, df).log_prob(log_y)


def law_model(param, priors, x, log_y, weights, *, likelihood: Likelihood, df: float, noise_scale: float):
    """NumPyro model: sample the free coefficients from `priors` (natural units; NUTS works
    in each prior's unconstrained space), the noise scale `sigma`, and score `log_y`.

    **Arguments:** `param` a `Parameterization` (fixed values, ties); `priors` free name ->
    numpyro distribution; `x` covariates; `log_y` log targets; `weights` per-run weights.
    """
    import numpyro
    import numpyro.distributions as dist

    values = {name: numpyro.sample(name, priors[name]) for name in param.free}
    sigma = numpyro.sample("sigma", dist.HalfNormal(noise_scale))
    law = param.law(values)
    log_lik = pointwise_log_likelihood(law, sigma, x, log_y, likelihood, df)
    numpyro.factor("log_likelihood", jnp.sum(weights * log_lik))


class UnconstrainedDensity:
    """The log posterior density of [`law_model`][] in unconstrained space, as a pure
    function of a dict `name -> u` (one compiled program; numpyro's model-tracing
    initialisation runs op by op and costs seconds of compilation on CPU).

    Each sampled site maps from R by `biject_to(prior.support)`, numpyro's own choice, so
    the density equals the one NUTS would build from the model.
    """

    def __init__(self, param, priors, x, log_y, weights, *, likelihood, df, noise_scale):
        import numpyro.distributions as dist
        from numpyro.distributions.transforms import biject_to

        self.param = param
        self.names = tuple(param.free) + ("sigma",)
        self.priors = dict(priors)
        self.priors["sigma"] = dist.HalfNormal(noise_scale)
        self.transforms = {n: biject_to(self.priors[n].support) for n in self.names}
        self.x, self.log_y, self.weights = x, log_y, weights
        self.likelihood, self.df = likelihood, df

    def natural(self, u: dict) -> dict:
        return {n: self.transforms[n](u[n]) for n in self.names}

    def unconstrained(self, values: dict) -> dict:
        return {n: self.transforms[n].inv(jnp.asarray(values[n], dtype=float)) for n in self.names}

    def log_density(self, u: dict, log_y=None):
        """Log posterior density (up to a constant) at unconstrained `u`; `log_y` replaces
        the data's log targets (for simulation studies sharing one compiled program)."""
        log_y = self.log_y if log_y is None else log_y
        total = 0.0
        values = {}
        for n in self.names:
            t = self.transforms[n]
            v = t(u[n])
            values[n] = v
            total = total + self.priors[n].log_prob(v) + t.log_abs_det_jacobian(u[n], v)
        law = self.param.law({n: values[n] for n in self.param.free})
        log_lik = pointwise_log_likelihood(law, values["sigma"], self.x, log_y, self.likelihood, self.df)
        total = total + jnp.sum(self.weights * log_lik)
        return jnp.where(jnp.isfinite(total), total, -jnp.inf)

    def potential(self, u: dict):
        return -self.log_density(u)
