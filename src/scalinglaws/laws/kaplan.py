"""The laws of Kaplan et al. (2020): joint L(N, D), and L(N, S_min) with the critical batch size."""

from typing import ClassVar

import jax
import jax.numpy as jnp
from jaxtyping import Array

from ._base import AbstractLaw, coefficient, positive
from ._logspace import log_sum_exp


class Kaplan(AbstractLaw):
    r"""Joint parameter/data law, Kaplan et al. 2020 ("Scaling Laws for Neural Language
    Models", arXiv:2001.08361, eq. 1.5):

    $$L(N, D) = \left[\left(\frac{N_c}{N}\right)^{\alpha_N/\alpha_D} + \frac{D_c}{D}\right]^{\alpha_D}$$

    computed as $\log L = \alpha_D\,\mathrm{LSE}\big(\tfrac{\alpha_N}{\alpha_D}(\log N_c -
    \log N),\ \log D_c - \log D\big)$.

    Published values of the joint fit (Kaplan et al. eq. 1.5 and Table 2, non-embedding N,
    WebText2 tokens): alpha_N = 0.076, alpha_D = 0.103, N_c = 6.4e13, D_c = 1.8e13
    (`KAPLAN_LND`). The single-variable fits L(N) and L(D) (eqs. 1.1-1.2, Table 5:
    alpha_D = 0.095, N_c = 8.8e13, D_c = 5.4e13) are a different fit and do not belong here.
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
        return self.alpha_D * log_sum_exp(param_term, data_term)


# Kaplan et al. 2020, Table 2 (eq. 1.5): the joint L(N, D) fit.
KAPLAN_LND = dict(N_c=6.4e13, D_c=1.8e13, alpha_N=0.076, alpha_D=0.103)
# Kaplan et al. 2020, Table 3 (eq. 1.6) for L(N, S_min), and eq. 1.4 / Table 5 for B_crit(L).
KAPLAN_LNS = dict(N_c=6.5e13, S_c=2.1e3, alpha_N=0.077, alpha_S=0.76, B_star=2.1e8, alpha_B=0.21)


class KaplanCritical(AbstractLaw):
    r"""Kaplan et al. 2020's learning-curve law at the critical batch size, read as a law of
    $N$ and the minimal tokens $D = E_\min$ (arXiv:2001.08361, eqs. 1.4, 1.6 and §5):

    $$L(N, S_\min) = \left(\frac{N_c}{N}\right)^{\alpha_N} + \left(\frac{S_c}{S_\min}\right)^{\alpha_S},
    \qquad B_\text{crit}(L) = \frac{B_*}{L^{1/\alpha_B}},\qquad S_\min = \frac{E_\min}{B_\text{crit}(L)}.$$

    Kaplan et al. define $B_\text{crit} = E_\min / S_\min$ (§5.1), so $C_\min = 6 N B_\text{crit}
    S_\min = 6 N E_\min$: with $D = E_\min$, the ordinary $6ND$ allocator
    ([`scalinglaws.allocate.exponents_from_law`][]) minimises $L$ at fixed $C_\min$, which is
    Kaplan's compute-efficient frontier (§6.1). Because $B_\text{crit}$ depends on $L$, the
    loss is the root of $\ell = \log\big(a + b\,e^{-(\alpha_S/\alpha_B)\ell}\big)$ with
    $a = (N_c/N)^{\alpha_N}$, $b = (S_c B_*/E_\min)^{\alpha_S}$ (unique: the right side
    decreases in $\ell$), solved by a fixed number of Newton steps (differentiable).

    Published values (`KAPLAN_LNS`; Table 3 and Table 5): alpha_N = 0.077, alpha_S = 0.76,
    N_c = 6.5e13, S_c = 2.1e3 steps, B_* = 2.1e8 tokens, alpha_B = 0.21. Their allocation
    exponent is exactly $d\log N^*/d\log C_\min = 1/(1 + \alpha_N/\alpha_S + \alpha_N/\alpha_B)
    \approx 0.68$ (Kaplan's $\alpha_C^\min/\alpha_N$, eq. 1.7 / App. B.2); Kaplan's quoted
    $N \propto C_\min^{0.73}$ (Table 6, Fig. 14) is their direct fit to the frontier, not
    this derivation.
    """

    N_c: Array = coefficient(positive, init=(1e9, 1e16), doc="parameter scale")
    S_c: Array = coefficient(positive, init=(10.0, 1e6), doc="step scale")
    alpha_N: Array = coefficient(positive, init=(0.02, 0.5), doc="parameter exponent")
    alpha_S: Array = coefficient(positive, init=(0.1, 2.0), doc="step exponent")
    B_star: Array = coefficient(positive, init=(1e6, 1e10), doc="critical-batch scale (tokens)")
    alpha_B: Array = coefficient(positive, init=(0.05, 1.0), doc="critical-batch exponent")

    inputs: ClassVar[tuple[str, ...]] = ("N", "D")
    formula: ClassVar[str] = "L = (N_c/N)^alpha_N + (S_c/S_min)^alpha_S, S_min = D L^(1/alpha_B) / B_star"
    citation: ClassVar[str] = "Kaplan et al. 2020, arXiv:2001.08361"

    def log_predict(self, x) -> Array:
        log_a = self.alpha_N * (jnp.log(self.N_c) - jnp.log(x["N"]))
        log_b = self.alpha_S * (jnp.log(self.S_c) + jnp.log(self.B_star) - jnp.log(x["D"]))
        k = self.alpha_S / self.alpha_B

        def newton(_, ell):
            rhs = jnp.logaddexp(log_a, log_b - k * ell)
            share = jnp.exp(log_b - k * ell - rhs)  # b e^{-k ell} / (a + b e^{-k ell})
            return ell - (rhs - ell) / (-k * share - 1.0)

        # f(ell) = rhs - ell is convex and decreasing, so Newton converges monotonically
        # from any start after its first step; 40 steps are far more than needed.
        ell0 = 0.5 * jnp.logaddexp(log_a, log_b)
        return jax.lax.fori_loop(0, 40, newton, ell0)
