"""Supports of coefficients and their bijections to the real line.

A small, dependency-free mirror of `numpyro.distributions.constraints`: importing numpyro
costs about half a second, which every `scalinglaws fit` would pay. `to_numpyro()` gives the
numpyro equivalent for Bayesian models, where default priors share the same support.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax.nn import sigmoid


class Constraint:
    """The support of a coefficient; `forward` maps R onto it, `inverse` maps back."""

    lower_bound: float | None = None
    upper_bound: float | None = None

    def __call__(self, value) -> bool:
        """Whether `value` lies in the (open) support."""
        raise NotImplementedError

    def contains(self, value) -> np.ndarray:
        """Elementwise, with NumPy: whether `value` is finite and inside the *closed* support.

        Closed because a coefficient held on its boundary is legitimate (`fix={"E": 0}` for a
        pure power law, `pi0 = 0` for no unsolvable problems); NaN and infinities never are.
        """
        array = np.asarray(value, dtype=np.float64)
        inside = np.isfinite(array)
        if self.lower_bound is not None:
            inside &= array >= self.lower_bound
        if self.upper_bound is not None:
            inside &= array <= self.upper_bound
        return inside

    def forward(self, u):
        raise NotImplementedError

    def inverse(self, value):
        raise NotImplementedError

    def to_numpyro(self):
        raise NotImplementedError


class _Real(Constraint):
    def __call__(self, value):
        return bool(jnp.isfinite(value))

    def forward(self, u):
        return u

    def inverse(self, value):
        return value

    def to_numpyro(self):
        from numpyro.distributions import constraints

        return constraints.real

    def __repr__(self):
        return "real"


class _Positive(Constraint):
    lower_bound = 0.0

    def __call__(self, value):
        return bool(value > 0)

    def forward(self, u):
        return jnp.exp(u)

    def inverse(self, value):
        return jnp.log(value)

    def to_numpyro(self):
        from numpyro.distributions import constraints

        return constraints.positive

    def __repr__(self):
        return "positive"


class _Interval(Constraint):
    def __init__(self, lower_bound: float, upper_bound: float):
        if not lower_bound < upper_bound:
            raise ValueError(f"interval({lower_bound}, {upper_bound}): lower bound must be below upper bound")
        self.lower_bound = float(lower_bound)
        self.upper_bound = float(upper_bound)

    def __call__(self, value):
        return bool(self.lower_bound < value < self.upper_bound)

    def forward(self, u):
        return self.lower_bound + (self.upper_bound - self.lower_bound) * sigmoid(u)

    def inverse(self, value):
        p = (value - self.lower_bound) / (self.upper_bound - self.lower_bound)
        return jnp.log(p) - jnp.log1p(-p)

    def to_numpyro(self):
        from numpyro.distributions import constraints

        return constraints.interval(self.lower_bound, self.upper_bound)

    def __repr__(self):
        return f"interval({self.lower_bound:g}, {self.upper_bound:g})"

    def __eq__(self, other):
        return (
            isinstance(other, _Interval)
            and other.lower_bound == self.lower_bound
            and other.upper_bound == self.upper_bound
        )

    def __hash__(self):
        return hash((_Interval, self.lower_bound, self.upper_bound))


real = _Real()
positive = _Positive()
unit_interval = _Interval(0.0, 1.0)


def interval(lower_bound: float, upper_bound: float) -> Constraint:
    """The open interval (lower_bound, upper_bound), mapped from R by a scaled sigmoid."""
    return _Interval(lower_bound, upper_bound)
