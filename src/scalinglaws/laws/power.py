"""Single-variable power laws: with an offset, and smoothly broken (Caballero et al. 2022)."""

from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array

from ._base import AbstractLaw, coefficient, positive, real
from ._logspace import log_sum_exp


def _check_variable(law: AbstractLaw) -> None:
    if law.variable not in ("N", "D", "C"):
        raise ValueError(
            f"{type(law).__name__}(variable=...): expected 'N', 'D' or 'C', got {law.variable!r}"
        )


class PowerLaw(AbstractLaw):
    r"""Power law with an irreducible offset in one variable $x \in \{N, D, C\}$:

    $$L(x) = E + A\,x^{-\alpha}$$

    computed as $\log L = \mathrm{LSE}(\log E,\ \log A - \alpha \log x)$. The form of
    Kaplan et al. 2020 (arXiv:2001.08361, eqs. 1.1-1.3, with an offset as in Henighan et
    al. 2020, arXiv:2010.14701). Fix `E=0` for a pure power law.

    **Arguments:** `variable`: the column to read, `"N"`, `"D"` or `"C"` (default `"C"`).
    """

    E: Array = coefficient(positive, init=(0.3, 5.0), doc="irreducible loss")
    A: Array = coefficient(positive, init=(1.0, 1e6), doc="scale")
    alpha: Array = coefficient(positive, init=(0.02, 1.0), doc="exponent")
    variable: str = eqx.field(static=True, default="C")

    formula: ClassVar[str] = "L = E + A * x^-alpha   (x = N, D or C)"
    citation: ClassVar[str] = "Kaplan et al. 2020, arXiv:2001.08361; Henighan et al. 2020"

    def __check_init__(self):
        _check_variable(self)

    @property
    def inputs(self) -> tuple[str, ...]:
        return (self.variable,)

    def log_predict(self, x) -> Array:
        log_x = jnp.log(x[self.variable])
        return log_sum_exp(jnp.log(self.E), jnp.log(self.A) - self.alpha * log_x)


class BrokenPowerLaw(AbstractLaw):
    r"""Smoothly broken power law with one break, Caballero et al. 2022 ("Broken Neural
    Scaling Laws", arXiv:2210.14891, eq. 1 with n = 1):

    $$L(x) = a + b\,x^{-c_0}\left(1 + (x/d_1)^{1/f_1}\right)^{-c_1 f_1}$$

    The slope (in log-log space, after removing $a$) is $-c_0$ well below the break
    $d_1$ and $-(c_0 + c_1)$ well above it; $f_1$ sets the sharpness of the break.
    Computed as $\log L = \mathrm{LSE}\big(\log a,\ \log b - c_0\log x - c_1 f_1\,
    \mathrm{softplus}((\log x - \log d_1)/f_1)\big)$.

    **Arguments:** `variable`: the column to read, `"N"`, `"D"` or `"C"` (default `"C"`).
    """

    a: Array = coefficient(positive, init=(0.3, 5.0), doc="irreducible loss")
    b: Array = coefficient(positive, init=(1.0, 1e4), doc="scale")
    c0: Array = coefficient(real, init=(0.0, 0.6), doc="exponent before the break")
    c1: Array = coefficient(real, init=(-0.3, 0.6), doc="change of exponent at the break")
    d1: Array = coefficient(positive, init=(1e6, 1e24), doc="location of the break")
    f1: Array = coefficient(positive, init=(0.05, 2.0), doc="sharpness of the break")
    variable: str = eqx.field(static=True, default="C")

    formula: ClassVar[str] = "L = a + b x^-c0 (1 + (x/d1)^(1/f1))^(-c1 f1)"
    citation: ClassVar[str] = "Caballero et al. 2022, arXiv:2210.14891"

    def __check_init__(self):
        _check_variable(self)

    @property
    def inputs(self) -> tuple[str, ...]:
        return (self.variable,)

    def log_predict(self, x) -> Array:
        log_x = jnp.log(x[self.variable])
        bend = jax.nn.softplus((log_x - jnp.log(self.d1)) / self.f1)
        reducible = jnp.log(self.b) - self.c0 * log_x - self.c1 * self.f1 * bend
        return log_sum_exp(jnp.log(self.a), reducible)
