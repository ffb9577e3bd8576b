"""Default and user priors on law coefficients, with support checks.

Default priors are weakly informative and live on the coefficient's own support: a
Normal in the unconstrained space of the coefficient's bijection (`log` for positive
coefficients, `logit` for intervals, identity for real ones), centred on the middle of the
coefficient's `init` range (the range a paper's fits fall in) and as wide as that range.
For a positive coefficient this is a log-normal; for Chinchilla's `A`, whose `init` range
is $(1, 10^6)$, it is $\\log A \\sim \\mathcal{N}(6.9, 6.9^2)$, i.e. it puts mass on values
from about $10^{-3}$ to $10^{9}$; for an exponent such as `alpha` (range 0.05-1.5) it is
$\\log\\alpha \\sim \\mathcal{N}(-1.3, 1.7^2)$.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import InputError

# The default prior's standard deviation in unconstrained space is half the width of the
# coefficient's init range there, but never below this (so narrow ranges stay weak).
MIN_PRIOR_SCALE = 1.0


def _bounds(support) -> tuple[float, float]:
    """(lower, upper) of a numpyro constraint, -inf/inf where unbounded."""
    from numpyro.distributions import constraints

    if support is constraints.real or support is constraints.real_vector:
        return -math.inf, math.inf
    lower = getattr(support, "lower_bound", -math.inf)
    upper = getattr(support, "upper_bound", math.inf)
    try:
        lower = float(np.asarray(lower))
        upper = float(np.asarray(upper))
    except (TypeError, ValueError):
        return math.nan, math.nan
    return lower, upper


def _coefficient_bounds(constraint) -> tuple[float, float]:
    lower = constraint.lower_bound
    upper = constraint.upper_bound
    return (-math.inf if lower is None else float(lower)), (math.inf if upper is None else float(upper))


def default_prior_parameters(law, name: str) -> tuple[float, float]:
    """`(loc, scale)` of the default prior's Normal in unconstrained space for `name`."""
    constraint = law.coefficient_constraint(name)
    low, high = law.coefficient_init(name)
    lower, upper = _coefficient_bounds(constraint)
    # Keep the init range strictly inside the support before mapping it.
    low = max(low, lower + 1e-6 * (high - lower)) if math.isfinite(lower) else low
    high = min(high, upper - 1e-6 * (upper - low)) if math.isfinite(upper) else high
    u_low = float(constraint.inverse(np.float64(low)))
    u_high = float(constraint.inverse(np.float64(high)))
    loc = 0.5 * (u_low + u_high)
    scale = max(0.5 * abs(u_high - u_low), MIN_PRIOR_SCALE)
    return loc, scale


def default_prior(law, name: str):
    """The default prior of coefficient `name` of `law` (a numpyro distribution in natural
    units): $\\mathcal{N}(\\mu, s^2)$ pushed through the coefficient's bijection, see the
    module docstring."""
    import numpyro.distributions as dist
    from numpyro.distributions.transforms import biject_to

    loc, scale = default_prior_parameters(law, name)
    support = law.coefficient_constraint(name).to_numpyro()
    return dist.TransformedDistribution(dist.Normal(loc, scale), biject_to(support))


def describe_prior(prior) -> str:
    """A short human-readable description of a prior (for summaries and saved files)."""
    import numpyro.distributions as dist

    if type(prior) is dist.TransformedDistribution and isinstance(prior.base_dist, dist.Normal):
        base = prior.base_dist
        kind = "".join(type(t).__name__.replace("Transform", "") for t in prior.transforms)
        return f"{kind or 'Identity'}(Normal({float(base.loc):.4g}, {float(base.scale):.4g}))"
    params = {
        k: float(np.asarray(getattr(prior, k)))
        for k in getattr(prior, "arg_constraints", {})
        if np.size(np.asarray(getattr(prior, k))) == 1
    }
    inner = ", ".join(f"{k}={v:.4g}" for k, v in params.items())
    return f"{type(prior).__name__}({inner})"


def resolve_priors(law, free: tuple[str, ...], priors: Mapping[str, Any] | None) -> dict[str, Any]:
    """Default priors for every free coefficient, overridden by `priors`; checked.

    **Raises:** `ValueError` for a prior on an unknown, fixed or tied coefficient, or a prior
    whose support is not inside the coefficient's support; `TypeError` for a prior that is
    not a numpyro distribution.
    """
    import numpyro.distributions as dist

    priors = dict(priors or {})
    names = law.coefficient_names()
    law_name = type(law).__name__
    unknown = sorted(k for k in priors if k not in names)
    if unknown:
        raise InputError(
            f"priors: unknown coefficient(s) {unknown} for law {law_name}; its coefficients are {list(names)}."
        )
    not_free = sorted(k for k in priors if k not in free)
    if not_free:
        raise InputError(
            f"priors: {not_free} are fixed or tied, so they are not sampled; drop their priors "
            "or free them."
        )
    resolved = {}
    for name in free:
        if name not in priors:
            resolved[name] = default_prior(law, name)
            continue
        prior = priors[name]
        if not isinstance(prior, dist.Distribution):
            raise TypeError(
                f"priors[{name!r}]: expected a numpyro distribution (e.g. "
                f"numpyro.distributions.LogNormal(0.0, 1.0)), got {type(prior).__name__}."
            )
        if prior.batch_shape or prior.event_shape:
            raise InputError(
                f"priors[{name!r}]: expected a scalar distribution, got batch shape "
                f"{prior.batch_shape} and event shape {prior.event_shape}."
            )
        constraint = law.coefficient_constraint(name)
        lo_c, hi_c = _coefficient_bounds(constraint)
        lo_p, hi_p = _bounds(prior.support)
        if not (lo_p >= lo_c and hi_p <= hi_c):
            raise InputError(
                f"priors[{name!r}]: the prior's support {prior.support} ({lo_p:g}, {hi_p:g}) is not "
                f"inside the support of {name} ({constraint}); use a distribution on that support "
                "(e.g. LogNormal or HalfNormal for positive coefficients)."
            )
        resolved[name] = prior
    return resolved
