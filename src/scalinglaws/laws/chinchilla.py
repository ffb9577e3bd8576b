"""The Chinchilla law of Hoffmann et al. (2022)."""

from typing import ClassVar

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from ._base import AbstractLaw, coefficient, positive
from ._logspace import log_sum_exp


class Chinchilla(AbstractLaw):
    r"""Chinchilla parametric loss, Hoffmann et al. 2022 ("Training Compute-Optimal Large
    Language Models", arXiv:2203.15556, Approach 3, eq. 2):

    $$L(N, D) = E + \frac{A}{N^\alpha} + \frac{B}{D^\beta}$$

    evaluated in log space as $\log L = \mathrm{LSE}(\log E,\ \log A - \alpha\log N,\
    \log B - \beta\log D)$, as in Hoffmann et al. and in Epoch AI's replication
    (Besiroglu et al. 2024, arXiv:2404.10102).

    `default_grid` is Epoch's 4,500-point grid of starting values (their notebook:
    $\log A, \log B \in \{0, 5, \dots, 25\}$, $\log E \in \{-1, -0.5, \dots, 1\}$,
    $\alpha, \beta \in \{0, 0.5, \dots, 2\}$).

    Published values: Hoffmann et al. E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28;
    Epoch's refit on 240 points E=1.8172, A=477.8, B=2143.9, alpha=0.3473, beta=0.3672.
    """

    E: Array = coefficient(positive, init=(0.3, 5.0), doc="irreducible loss (nats/token)")
    A: Array = coefficient(positive, init=(1.0, 1e6), doc="parameter-term scale")
    B: Array = coefficient(positive, init=(1.0, 1e6), doc="data-term scale")
    alpha: Array = coefficient(positive, init=(0.05, 1.5), doc="parameter exponent")
    beta: Array = coefficient(positive, init=(0.05, 1.5), doc="data exponent")

    inputs: ClassVar[tuple[str, ...]] = ("N", "D")
    formula: ClassVar[str] = "L = E + A / N^alpha + B / D^beta"
    citation: ClassVar[str] = "Hoffmann et al. 2022, arXiv:2203.15556"
    default_grid: ClassVar = {
        "A": tuple(float(np.exp(a)) for a in np.arange(0, 30, 5)),
        "B": tuple(float(np.exp(b)) for b in np.arange(0, 30, 5)),
        "E": tuple(float(np.exp(e)) for e in np.arange(-1, 1.5, 0.5)),
        "alpha": tuple(float(v) for v in np.arange(0, 2.5, 0.5)),
        "beta": tuple(float(v) for v in np.arange(0, 2.5, 0.5)),
    }

    def log_predict(self, x) -> Array:
        log_n, log_d = jnp.log(x["N"]), jnp.log(x["D"])
        return log_sum_exp(jnp.log(self.E), jnp.log(self.A) - self.alpha * log_n, jnp.log(self.B) - self.beta * log_d)
