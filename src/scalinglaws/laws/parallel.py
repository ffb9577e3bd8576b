"""The parallel scaling law of Chen et al. (2025), ParScale."""

from typing import ClassVar

import jax.numpy as jnp
from jaxtyping import Array

from ._base import AbstractLaw, coefficient, positive
from ._logspace import log_sum_exp


class ParScale(AbstractLaw):
    r"""Parallel scaling law, Chen et al. 2025 ("Parallel Scaling Law for Language
    Models", arXiv:2505.10475, eq. 5): running $P$ parallel streams acts like multiplying
    the parameter count by $k \log P + 1$:

    $$L(N, P) = E + \left(\frac{A}{N\,(k \log P + 1)}\right)^{\alpha}$$

    Computed as $\log L = \mathrm{LSE}\big(\log E,\ \alpha(\log A - \log N -
    \log(1 + k \log P))\big)$. Inputs: `N` parameters and `P` >= 1 parallel streams.
    """

    E: Array = coefficient(positive, init=(0.3, 5.0), doc="irreducible loss")
    A: Array = coefficient(positive, init=(1e3, 1e12), doc="parameter scale")
    k: Array = coefficient(positive, init=(0.05, 2.0), doc="benefit per log parallel stream")
    alpha: Array = coefficient(positive, init=(0.02, 1.0), doc="exponent")

    inputs: ClassVar[tuple[str, ...]] = ("N", "P")
    formula: ClassVar[str] = "L = E + (A / (N (k log P + 1)))^alpha"
    citation: ClassVar[str] = "Chen et al. 2025, arXiv:2505.10475"

    def log_predict(self, x) -> Array:
        log_n = jnp.log(x["N"])
        boost = jnp.log1p(self.k * jnp.log(x["P"]))
        return log_sum_exp(jnp.log(self.E), self.alpha * (jnp.log(self.A) - log_n - boost))
