"""The data-constrained law of Muennighoff et al. (2023)."""

from typing import ClassVar

import jax.numpy as jnp
from jaxtyping import Array

from ._base import AbstractLaw, coefficient, positive
from ._logspace import log_sum_exp

__all__ = ["R_D_STAR", "DataConstrained", "effective_tokens", "log_effective_tokens"]

#: Muennighoff et al. 2023 (arXiv:2305.16264, Sec. 3.1), fitted $R_D^*$: the repetitions
#: after which a repeated token is worth $1/e$ of a new one.
R_D_STAR = 15.4


def log_effective_tokens(log_D, log_U, R_D_star=R_D_STAR) -> Array:
    r"""$\log D'$, Muennighoff et al. 2023's effective data (arXiv:2305.16264, eq. 5), in logs:

    $$D' = U_D + U_D R_D^*\left(1 - e^{-R_D/R_D^*}\right), \qquad U_D = \min(U, D),\quad
    R_D = D/U_D - 1,$$

    so $D' = D$ without repetition ($D \le U$) and $D' \to U(1 + R_D^*)$ as repetitions
    grow. Computed with `expm1`/`log1p` (accurate for $D$ just above $U$ and for any
    magnitude). The one home of this formula: the data-constrained law and the mixture
    optimiser both call it.

    **Arguments:** `log_D` ($\log$ total tokens), `log_U` ($\log$ unique tokens),
    `R_D_star` (default 15.4, Muennighoff et al.'s fit). Broadcasts; JAX-traceable.
    """
    log_D = jnp.asarray(log_D, dtype=float)
    log_unique = jnp.minimum(jnp.asarray(log_U, dtype=float), log_D)
    repeats = jnp.expm1(log_D - log_unique)  # R_D = D / U_D - 1 >= 0
    return log_unique + jnp.log1p(R_D_star * -jnp.expm1(-repeats / R_D_star))


def effective_tokens(D, U, R_D_star=R_D_STAR) -> Array:
    r"""$D'$ in tokens: `exp(log_effective_tokens(log D, log U, R_D_star))` (see
    [`log_effective_tokens`][]); $U = \infty$ (unlimited data) gives $D' = D$."""
    return jnp.exp(log_effective_tokens(jnp.log(jnp.asarray(D, float)), jnp.log(jnp.asarray(U, float)), R_D_star))


class DataConstrained(AbstractLaw):
    r"""Data-constrained scaling law, Muennighoff et al. 2023 ("Scaling Data-Constrained
    Language Models", arXiv:2305.16264, eqs. 5-7).

    The Chinchilla form with *effective* data $D'$ and parameters $N'$:

    $$L = E + \frac{A}{N'^\alpha} + \frac{B}{D'^\beta}, \quad
    D' = U_D + U_D R_D^*\left(1 - e^{-R_D/R_D^*}\right), \quad
    N' = U_N + U_N R_N^*\left(1 - e^{-R_N/R_N^*}\right)$$

    with $U_D = \min(U, D)$ unique tokens, $R_D = D/U_D - 1$ repetitions,
    $U_N = \min(N, N^*(U_D))$ where $N^*(D) = G\,(D G)^{\beta/\alpha}$,
    $G = (\alpha A / (\beta B))^{1/(\alpha+\beta)}$ is the compute-optimal model size for
    $U_D$ tokens under the same law, and $R_N = N/U_N - 1$ "excess" parameters.
    Repeated tokens (and excess parameters) decay in value with half-life-like constants
    $R_D^*$ and $R_N^*$; the paper reports $R_D^* = 15.4$, $R_N^* = 5.3$.

    Inputs: `N` parameters, `D` total tokens, `U` unique tokens.
    """

    E: Array = coefficient(positive, init=(0.3, 5.0), doc="irreducible loss")
    A: Array = coefficient(positive, init=(1.0, 1e6), doc="parameter-term scale")
    B: Array = coefficient(positive, init=(1.0, 1e6), doc="data-term scale")
    alpha: Array = coefficient(positive, init=(0.05, 1.0), doc="parameter exponent")
    beta: Array = coefficient(positive, init=(0.05, 1.0), doc="data exponent")
    R_D_star: Array = coefficient(positive, init=(1.0, 100.0), doc="decay constant of repeated data")
    R_N_star: Array = coefficient(positive, init=(1.0, 100.0), doc="decay constant of excess parameters")

    inputs: ClassVar[tuple[str, ...]] = ("N", "D", "U")
    formula: ClassVar[str] = (
        "L = E + A/N'^alpha + B/D'^beta;  D' = U_D(1 + R_D*(1 - exp(-R_D/R_D*))), same for N'"
    )
    citation: ClassVar[str] = "Muennighoff et al. 2023, arXiv:2305.16264"

    def effective_data(self, x) -> Array:
        """log D': log of the effective number of training tokens ([`log_effective_tokens`][])."""
        return log_effective_tokens(jnp.log(x["D"]), jnp.log(x["U"]), self.R_D_star)

    def effective_params(self, x) -> Array:
        """log N': log of the effective number of parameters."""
        log_d = jnp.log(x["D"])
        log_unique_d = jnp.minimum(jnp.log(x["U"]), log_d)
        log_g = (jnp.log(self.alpha * self.A) - jnp.log(self.beta * self.B)) / (self.alpha + self.beta)
        log_n_opt = log_g + (self.beta / self.alpha) * (log_unique_d + log_g)
        log_n = jnp.log(x["N"])
        log_unique_n = jnp.minimum(log_n_opt, log_n)
        excess = jnp.expm1(log_n - log_unique_n)  # R_N = N / U_N - 1 >= 0
        return log_unique_n + jnp.log1p(self.R_N_star * -jnp.expm1(-excess / self.R_N_star))

    def log_predict(self, x) -> Array:
        log_n_eff, log_d_eff = self.effective_params(x), self.effective_data(x)
        return log_sum_exp(
            jnp.log(self.E), jnp.log(self.A) - self.alpha * log_n_eff, jnp.log(self.B) - self.beta * log_d_eff
        )
