r"""The NumPyro model of a law, and the one place a log density is built from a model.

$$\log L_i = \log \hat L(x_i; \theta) + b_{g(i)} + \sigma\,\varepsilon_i,\qquad
\varepsilon_i \sim t_\nu \text{ (default) or } \mathcal{N}(0, 1)$$

A Student-t likelihood keeps a few outlier runs from dragging the coefficients, the
role the Huber loss plays in point fits (Hoffmann et al. 2022; Besiroglu et al. 2024).
Run weights multiply each run's log-likelihood, as they multiply each run's loss in a
point fit. The noise scale $\sigma$ is learned, with a half-normal prior.

Grouped runs (checkpoints of one training run share its seed, data order and
learning-rate schedule) get a run-level offset on log loss, $b_g = \tau\,z_g$ with
$z_g \sim \mathcal N(0, 1)$ (non-centred) and a learned scale
$\tau \sim \mathrm{HalfNormal}$: a random-intercept model (Gelman and Hill 2007, ch. 12).
Without it, 12 checkpoints of one run count as 12 independent runs and intervals are
several times too narrow.

Every sampler and approximation in `scalinglaws.bayes` gets its log density from the
NumPyro model through [`ModelDensity`][] (numpyro's own `potential_energy`,
`constrain_fn` and `unconstrain_fn`), so the density NUTS samples, the one Laplace
approximates and the one the tests check are the same function of the model.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, Literal

import jax.numpy as jnp

Likelihood = Literal["student_t", "normal"]

# Default noise prior: sigma ~ HalfNormal(0.1). Log-loss residuals of published fits are
# about 0.01-0.05 (Chinchilla, Besiroglu et al. 2024), well inside its bulk. The run-level
# scale tau gets the same prior: run-to-run spread of final losses is of the same order.
DEFAULT_NOISE_SCALE = 0.1
# Default degrees of freedom of the Student-t likelihood (heavy tails, finite variance).
DEFAULT_DF = 4.0
# numpyro's effect handlers live on one module-level stack (`numpyro.primitives._PYRO_STACK`),
# shared by all threads: two threads running a model at once (e.g. `infer` tracing the
# sampler in its background compilation thread while the caller's thread traces the mode
# search) would push and pop each other's handlers. Every run of a model here holds this
# lock; it is held while a model is traced or evaluated eagerly, never while compiled code
# runs.
MODEL_LOCK = threading.RLock()
# Name of the run-level scale and the run offsets' standard-normal site.
RUN_SCALE = "tau_run"
RUN_OFFSETS = "z_run"


def noise_distribution(likelihood: Likelihood, loc, sigma, df: float):
    import numpyro.distributions as dist

    if likelihood == "student_t":
        return dist.StudentT(df, loc, sigma)
    return dist.Normal(loc, sigma)


def pointwise_log_likelihood(law, sigma, x, log_y, likelihood: Likelihood, df: float):
    """Per-run log-likelihood of `log_y` under one coefficient set (unweighted, no run
    offsets: a new run's offset is integrated into the predictive, see `Posterior`)."""
    return noise_distribution(likelihood, law.log_predict(x), sigma, df).log_prob(log_y)


def law_model(
    *,
    param,
    priors: Mapping[str, Any],
    x,
    log_y,
    weights,
    likelihood: Likelihood,
    df: float,
    noise_scale: float,
    groups=None,
    n_groups: int = 0,
):
    """NumPyro model: sample the free coefficients from `priors` (natural units; NUTS works
    in each prior's unconstrained space), the noise scale `sigma`, with `groups` the
    run-level scale `tau_run` and offsets, and score `log_y`.

    **Arguments:** `param` a `Parameterization` (fixed values, ties); `priors` free name ->
    numpyro distribution; `x` covariates; `log_y` log targets; `weights` per-run weights;
    `groups` integer run index per row (or `None`), `n_groups` the number of runs.
    """
    import numpyro
    import numpyro.distributions as dist

    values = {name: numpyro.sample(name, priors[name]) for name in param.free}
    sigma = numpyro.sample("sigma", dist.HalfNormal(noise_scale))
    loc = param.law(values).log_predict(x)
    if groups is not None:
        tau = numpyro.sample(RUN_SCALE, dist.HalfNormal(noise_scale))
        z = numpyro.sample(RUN_OFFSETS, dist.Normal(jnp.zeros(n_groups), 1.0).to_event(1))
        loc = loc + tau * z[groups]
    log_lik = noise_distribution(likelihood, loc, sigma, df).log_prob(log_y)
    numpyro.factor("log_likelihood", jnp.sum(weights * log_lik))


class ModelDensity:
    """The log posterior density of a NumPyro model in unconstrained space, built by
    numpyro itself (`numpyro.infer.util.potential_energy`), as a pure function of a dict
    `name -> u` that jits into one program.

    **Arguments:** `model` a NumPyro model taking keyword arguments only; `kwargs` its
    arguments; `names` the sites kept as draws (the rest, e.g. run offsets, are nuisance).

    `log_density(u, **replace)` evaluates with some keyword arguments replaced (e.g.
    `log_y` or `weights`), so one compiled program serves simulation studies and
    leave-largest-out refits.
    """

    def __init__(self, model, kwargs: Mapping[str, Any], names: tuple[str, ...]):
        self.model = model
        self.kwargs = dict(kwargs)
        self.names = tuple(names)

    def natural(self, u: Mapping[str, Any], **replace) -> dict:
        """Unconstrained -> natural values of every sampled site."""
        from numpyro.infer.util import constrain_fn

        with MODEL_LOCK:
            return constrain_fn(self.model, (), {**self.kwargs, **replace}, dict(u))

    def unconstrained(self, values: Mapping[str, Any], **replace) -> dict:
        """Natural -> unconstrained values (every sampled site must be given)."""
        from numpyro.infer.util import unconstrain_fn

        values = {k: jnp.asarray(v, dtype=float) for k, v in values.items()}
        with MODEL_LOCK:
            return unconstrain_fn(self.model, (), {**self.kwargs, **replace}, values)

    def log_density(self, u: Mapping[str, Any], **replace):
        """Log posterior density (up to a constant) at unconstrained `u`."""
        from numpyro.infer.util import potential_energy

        with MODEL_LOCK:
            value = -potential_energy(self.model, (), {**self.kwargs, **replace}, dict(u))
        return jnp.where(jnp.isfinite(value), value, -jnp.inf)

    def potential(self, u: Mapping[str, Any], **replace):
        return -self.log_density(u, **replace)


def law_density(
    param, priors, x, log_y, weights, *, likelihood: Likelihood, df: float, noise_scale: float,
    groups=None, n_groups: int = 0,
) -> ModelDensity:
    """The [`ModelDensity`][] of [`law_model`][] (draws: free coefficients, `sigma`, and
    `tau_run` when `groups` is given)."""
    kwargs = dict(
        param=param, priors=dict(priors), x=x, log_y=log_y, weights=weights, likelihood=likelihood,
        df=float(df), noise_scale=float(noise_scale), groups=groups, n_groups=int(n_groups),
    )
    names = tuple(param.free) + ("sigma",) + ((RUN_SCALE,) if groups is not None else ())
    return ModelDensity(law_model, kwargs, names)
