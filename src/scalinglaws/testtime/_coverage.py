r"""Coverage laws in the number of samples $k$: what fraction of problems is solved by at
least one of $k$ samples.

- [`ExpPowerLaw`][]: $\mathrm{coverage}(k) = \exp(a k^b)$ with $a, b < 0$, the
    exponentiated power law of Brown et al. 2024 ("Large Language Monkeys",
    arXiv:2407.21787, eq. 2), fitted to (k, pass@k) points through the core fitter.
- [`BetaCoverage`][]: each problem has its own success probability $p \sim
    \mathrm{Beta}(\alpha, \beta)$, a mass $\pi_0$ of problems is unsolvable, and
    $\mathrm{coverage}(k) = (1 - \pi_0)\,(1 - \mathbb{E}[(1-p)^k])
    = (1 - \pi_0)\,\big(1 - B(\alpha, \beta + k)/B(\alpha, \beta)\big)$,
    fitted by beta-binomial likelihood on the raw counts (see `_beta.py`). Its tail,
    $1 - \mathrm{coverage} \approx \pi_0 + (1-\pi_0)\,\Gamma(\alpha+\beta)/\Gamma(\beta)\,k^{-\alpha}$,
    is what makes it extrapolate from small $k$.
"""

from __future__ import annotations

from typing import ClassVar

import jax
import jax.numpy as jnp
from jax.scipy.special import gammaln
from jaxtyping import Array

from ..laws import AbstractLaw, coefficient, interval, positive


class ExpPowerLaw(AbstractLaw):
    r"""Exponentiated power law for coverage, Brown et al. 2024 (arXiv:2407.21787, eq. 2):

    $$\mathrm{coverage}(k) = \exp(a\,k^{b}), \qquad a < 0,\ b < 0,$$

    stored as `neg_a` $= -a > 0$ and `b` $\in (-5, 0)$, so $\log \mathrm{coverage} =
    -\mathrm{neg\_a}\,k^{b}$. It tends to 1 as $k \to \infty$: it cannot represent
    unsolvable problems, and over-predicts coverage far beyond the sampled range when
    they exist.
    """

    neg_a: Array = coefficient(
        positive, init=(0.01, 10.0), doc="-a, minus the log coverage at k = 1"
    )
    b: Array = coefficient(interval(-5.0, 0.0), init=(-1.5, -0.02), doc="exponent of k (negative)")

    inputs: ClassVar[tuple[str, ...]] = ("k",)
    target: ClassVar[str] = "coverage"
    formula: ClassVar[str] = "coverage = exp(a k^b), a = -neg_a < 0, b < 0"
    citation: ClassVar[str] = "Brown et al. 2024 (Large Language Monkeys), arXiv:2407.21787"

    def log_predict(self, x) -> Array:
        return -self.neg_a * jnp.power(x["k"], self.b)


class BetaCoverage(AbstractLaw):
    r"""Coverage of problems with Beta-distributed difficulty and a mass of unsolvable ones:

    $$\mathrm{coverage}(k) = (1 - \pi_0)\left(1 - \frac{B(\alpha, \beta + k)}{B(\alpha, \beta)}\right),$$

    the mean over $p \sim \mathrm{Beta}(\alpha, \beta)$ of $1 - (1-p)^k$, scaled by the share
    $1 - \pi_0$ of solvable problems. The beta-binomial model of per-problem pass rates is
    standard; Schaeffer et al. 2025 ("How do large language monkeys get their power
    (laws)?", arXiv:2502.17578) explain the aggregate power law of Brown et al. 2024 by
    such a heavy left tail of per-problem success probabilities, which gives
    $1 - \mathrm{coverage} \propto k^{-\alpha}$. $k$ may be real (the planner's continuous relaxation).
    `pi0 = 0` (the default of the fitter) is the pure Beta law.
    """

    alpha: Array = coefficient(positive, init=(0.05, 5.0), doc="Beta shape alpha (tail exponent)")
    beta: Array = coefficient(positive, init=(0.1, 50.0), doc="Beta shape beta")
    pi0: Array = coefficient(
        interval(0.0, 1.0), init=(0.001, 0.5), doc="share of unsolvable problems"
    )

    inputs: ClassVar[tuple[str, ...]] = ("k",)
    target: ClassVar[str] = "coverage"
    formula: ClassVar[str] = "coverage = (1 - pi0) (1 - B(alpha, beta + k) / B(alpha, beta))"
    citation: ClassVar[str] = "beta-binomial difficulty model; Brown et al. 2024, arXiv:2407.21787"

    def log_predict(self, x) -> Array:
        return _beta_log_coverage(self.alpha, self.beta, self.pi0, x["k"])

    def fail_probability(self, k) -> Array:
        r"""$1 - \mathrm{coverage}(k)$, accurate when coverage is near 1."""
        log_fail = _beta_log_fail(self.alpha, self.beta, jnp.asarray(k, float))
        return self.pi0 + (1.0 - self.pi0) * jnp.exp(log_fail)


def betaln(a, b):
    r"""$\log B(a, b)$ from three `gammaln`s. `jax.scipy.special.betaln` (jax 0.10) is off by
    up to ~6e-7 (e.g. at $a = 0.7$, $b = 8.5$, against SciPy), too coarse for likelihoods;
    this form agrees with SciPy to ~1e-15 for moderate arguments and ~1e-11 at $b \sim 10^4$."""
    return gammaln(a) + gammaln(b) - gammaln(a + b)


# Jitted kernels: eager `betaln` dispatches dozens of primitives, each compiled on first use
# with a new shape (seconds on CPU); one jitted function compiles once per shape and is
# simply inlined when the law is used inside a jitted fit.
def log_gamma_ratio(x, a):
    r"""$\log\Gamma(x + a) - \log\Gamma(x)$, accurate for large $x$ too.

    The difference of two `gammaln` values loses every digit once $x \gtrsim 10^{15}$
    (each is about $x \log x$); for $x > 10^3$ Stirling's series is differenced
    analytically instead, $(x - \tfrac12)\,\mathrm{log1p}(a/x) + a\log(x + a) - a +
    s(x + a) - s(x)$ with $s(z) = 1/(12z) - 1/(360z^3) + 1/(1260z^5)$ (error below
    $10^{-24}$ there)."""
    x = jnp.asarray(x, float)
    a = jnp.asarray(a, float)
    large = x > 1e3
    xl = jnp.where(large, x, 1e3 + 1.0)  # keeps the unused branch finite

    def series(z):
        return 1.0 / (12.0 * z) - 1.0 / (360.0 * z**3) + 1.0 / (1260.0 * z**5)

    stirling = (xl - 0.5) * jnp.log1p(a / xl) + a * jnp.log(xl + a) - a + series(xl + a) - series(xl)
    xs = jnp.where(large, 1.0, x)
    direct = gammaln(xs + a) - gammaln(xs)
    return jnp.where(large, stirling, direct)


@jax.jit
def _beta_log_fail(alpha, beta, k):
    # log B(alpha, beta + k) - log B(alpha, beta)
    #   = -[lgamma(beta + k + alpha) - lgamma(beta + k)] + lgamma(alpha + beta) - lgamma(beta)
    return -log_gamma_ratio(beta + k, alpha) + log_gamma_ratio(beta, alpha)


@jax.jit
def _beta_log_coverage(alpha, beta, pi0, k):
    return jnp.log1p(-pi0) + jnp.log(-jnp.expm1(_beta_log_fail(alpha, beta, k)))
