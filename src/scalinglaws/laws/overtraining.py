"""Over-training and downstream-error laws of Gadre et al. (2024)."""

from typing import ClassVar

import jax.numpy as jnp
from jaxtyping import Array

from ._base import AbstractLaw, coefficient, positive, unit_interval
from ._logspace import log_sum_exp


class Overtraining(AbstractLaw):
    r"""Loss of over-trained models, Gadre et al. 2024 ("Language models scale reliably
    with over-training and on downstream tasks", arXiv:2403.08540, eq. 4):

    $$L(C, M) = E + \left(a\,M^{\eta} + b\,M^{-\eta}\right) C^{-\alpha_C}$$

    with compute $C = 6ND$ and token multiplier $M = D/N$. $\eta > 0$ identifies the
    otherwise symmetric pair $(a, \eta) \leftrightarrow (b, -\eta)$. Computed in log space.

    Inputs: `N` and `D` (so that $C = 6ND$ and $M = D/N$ follow Gadre's convention).
    """

    E: Array = coefficient(positive, init=(0.3, 5.0), doc="irreducible loss")
    a: Array = coefficient(positive, init=(1e-2, 1e6), doc="scale of the M^eta term")
    b: Array = coefficient(positive, init=(1e-2, 1e6), doc="scale of the M^-eta term")
    eta: Array = coefficient(positive, init=(0.01, 1.0), doc="token-multiplier exponent")
    alpha_C: Array = coefficient(positive, init=(0.01, 0.5), doc="compute exponent")

    inputs: ClassVar[tuple[str, ...]] = ("N", "D")
    formula: ClassVar[str] = "L = E + (a M^eta + b M^-eta) C^-alpha_C;  C = 6ND, M = D/N"
    citation: ClassVar[str] = "Gadre et al. 2024, arXiv:2403.08540"

    def log_predict(self, x) -> Array:
        log_n, log_d = jnp.log(x["N"]), jnp.log(x["D"])
        log_c = jnp.log(6.0) + log_n + log_d
        log_m = log_d - log_n
        mixture = log_sum_exp(jnp.log(self.a) + self.eta * log_m, jnp.log(self.b) - self.eta * log_m)
        return log_sum_exp(jnp.log(self.E), mixture - self.alpha_C * log_c)


class DownstreamError(AbstractLaw):
    r"""Average downstream top-1 error as a function of loss, Gadre et al. 2024
    (arXiv:2403.08540, eq. 5):

    $$\mathrm{Err}(L) = \epsilon - k\,e^{-\gamma L}$$

    $\epsilon \in [0, 1]$ is the error of a model at infinite loss (chance level), and the
    error falls exponentially as loss falls. Input column `loss`; the target is an error
    column, chosen with `fit(..., target="err_avg17")` (default name `error`).
    """

    epsilon: Array = coefficient(unit_interval, init=(0.5, 0.99), doc="error at chance")
    k: Array = coefficient(positive, init=(0.1, 100.0), doc="scale")
    gamma: Array = coefficient(positive, init=(0.1, 5.0), doc="rate")

    inputs: ClassVar[tuple[str, ...]] = ("loss",)
    target: ClassVar[str] = "error"
    formula: ClassVar[str] = "Err = epsilon - k exp(-gamma L)"
    citation: ClassVar[str] = "Gadre et al. 2024, arXiv:2403.08540"

    def log_predict(self, x) -> Array:
        # log(eps - k e^{-gamma L}) = log eps + log1p(-(k/eps) e^{-gamma L}); the floor keeps
        # coefficient sets that predict a non-positive error finite (and heavily penalised).
        ratio = jnp.exp(jnp.log(self.k) - jnp.log(self.epsilon) - self.gamma * x["loss"])
        return jnp.log(self.epsilon) + jnp.log1p(-jnp.minimum(ratio, 1.0 - 1e-12))
