"""The joint L(N, D) law of Kaplan et al. (2020)."""

from typing import ClassVar

import jax.numpy as jnp
from jaxtyping import Array

from ._base import AbstractLaw, coefficient, positive


class Kaplan(AbstractLaw):
    r"""Joint parameter/data law, Kaplan et al. 2020 ("Scaling Laws for Neural Language
    Models", arXiv:2001.08361, eq. 1.5):

    $$L(N, D) = \left[\left(\frac{N_c}{N}\right)^{\alpha_N/\alpha_D} + \frac{D_c}{D}\right]^{\alpha_D}$$

    computed as $\log L = \alpha_D\,\mathrm{LSE}\big(\tfrac{\alpha_N}{\alpha_D}(\log N_c -
    \log N),\ \log D_c - \log D\big)$.

    Published values (Kaplan et al. Table 2, non-embedding N, WebText2 tokens):
    alpha_N = 0.076, alpha_D = 0.095, N_c = 8.8e13, D_c = 5.4e13.
    """

    N_c: Array = coefficient(positive, init=(1e9, 1e16), doc="parameter scale")
    D_c: Array = coefficient(positive, init=(1e9, 1e16), doc="data scale")
    alpha_N: Array = coefficient(positive, init=(0.02, 0.5), doc="parameter exponent")
    alpha_D: Array = coefficient(positive, init=(0.02, 0.5), doc="data exponent")

    inputs: ClassVar[tuple[str, ...]] = ("N", "D")
    formula: ClassVar[str] = "L = [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D"
    citation: ClassVar[str] = "Kaplan et al. 2020, arXiv:2001.08361"

    def log_predict(self, x) -> Array:
        log_n, log_d = jnp.log(x["N"]), jnp.log(x["D"])
        param_term = (self.alpha_N / self.alpha_D) * (jnp.log(self.N_c) - log_n)
        data_term = jnp.log(self.D_c) - log_d
        return self.alpha_D * jnp.logaddexp(param_term, data_term)
