r"""Data-mixing laws: loss on a target domain as a function of the training mixture.

A mixture is a vector of proportions $r$ on the simplex ($r_j \ge 0$, $\sum_j r_j = 1$), one
entry per training domain, read from the weight columns of a table of runs (`w_arxiv`, ...).
Every law here is an ordinary [`scalinglaws.AbstractLaw`][] whose per-domain coefficients
are *vector* coefficients (one entry per training domain), so the core fitter, the
Bayesian layer and `save_fit` work on them unchanged.

**Identifiability.** On the simplex $\sum_j r_j = 1$, so
$k\,e^{t\cdot r} = (k e^{s})\,e^{(t - s\mathbf 1)\cdot r}$ for every $s$: the scale $k$ of
Ye et al. 2024 and a common shift of $t$ are confounded. The laws below therefore drop $k$
(it is absorbed into $t$); [`DataMixingLaw.published_form`][] gives back Ye's $(c, k, t)$
with $t$ centred to mean zero, which pins the shift.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array

from ..errors import InputError
from ..laws import AbstractLaw, coefficient, log_sum_exp, positive, real, register_law, resolve_law

__all__ = [
    "AbstractMixingLaw",
    "DataMixingLaw",
    "SqrtMixingLaw",
    "ScaledMixingLaw",
    "mixing_law",
    "mixing_law_names",
]


class AbstractMixingLaw(AbstractLaw):
    """A law whose inputs are the proportions of training domains (plus, optionally, scale).

    Concrete laws declare their coefficients as usual and three static fields: `domains`
    (domain names), `prefix` and `suffix` (the weight column of domain `d` is
    `prefix + d + suffix`, `w_<d>` by default). Coefficients listed in the class attribute
    `per_domain` are vectors with one entry per domain.

    A user-defined mixing law takes a few lines:

    ```python
    class MyLaw(AbstractMixingLaw):
        c: Array = coefficient(positive, init=(0.5, 5.0))
        t: Array = coefficient(real, init=(-3.0, 3.0))
        domains: tuple[str, ...] = eqx.field(static=True)
        prefix: str = eqx.field(static=True, default="w_")
        suffix: str = eqx.field(static=True, default="")
        per_domain: ClassVar[tuple[str, ...]] = ("t",)

        def log_predict(self, x):
            r = self.proportions(x)
            return log_sum_exp(jnp.log(self.c), jnp.log1p(r) @ self.t)
    ```

    and `MyLaw.for_domains(["a", "b"])` is a template to fit.
    """

    # Concrete laws declare `domains`, `prefix` and `suffix` as static fields *after* their
    # coefficients (declaring them here would put them first in the dataclass signature),
    # and list their vector coefficients in `per_domain` (see `AbstractLaw`).

    @property
    def weight_columns(self) -> tuple[str, ...]:
        """The weight column of every domain, in order."""
        return tuple(f"{self.prefix}{d}{self.suffix}" for d in self.domains)

    @property
    def inputs(self) -> tuple[str, ...]:
        """The weight columns, then the scale column when the law has one (`variable`)."""
        # One final definition for the whole family (equinox's abstract/final pattern):
        # a scaled law reads its scale column too.
        scale = getattr(self, "variable", None)
        return self.weight_columns + ((scale,) if scale is not None else ())

    def proportions(self, x: Mapping[str, Array]) -> Array:
        """The mixture as an array with the domains on the last axis."""
        return jnp.stack([jnp.asarray(x[c], dtype=float) for c in self.weight_columns], axis=-1)

    @classmethod
    def for_domains(cls, domains: Sequence[str], **static) -> AbstractMixingLaw:
        """A template (starting values at the middle of each `init` range; zeros for real
        per-domain vectors) for the given domains: `cls.template(domains=domains, ...)`."""
        return cls.template(domains=tuple(str(d) for d in domains), **static)


class DataMixingLaw(AbstractMixingLaw):
    r"""The data mixing law of Ye et al. 2024 ("Data Mixing Laws", arXiv:2403.16952, eq. 6),
    for one target domain $i$:

    $$L_i(r) = c_i + k_i \exp\Big(\sum_j t_{ij} r_j\Big),$$

    fitted here as $L(r) = c + \exp(\sum_j t_j r_j)$ (the identity $\sum_j r_j = 1$ absorbs
    $k$ into $t$; see [`published_form`][]). The static mixing law of Chen et al. 2024
    (Aioli, arXiv:2411.05735, "log-linear static mixing law", $L_i(p) = c_i + b_i
    \exp(-\sum_j A_{ij} p_j)$) is the same function with $A = -t$, so it is not shipped
    separately.

    **Coefficients:** `c` (irreducible loss on the target), `t` (one entry per training
    domain; negative: the domain helps the target).
    """

    c: Array = coefficient(positive, init=(0.3, 5.0), doc="irreducible loss on the target domain")
    t: Array = coefficient(real, init=(-5.0, 5.0), doc="per-domain exponent (k absorbed)")
    domains: tuple[str, ...] = eqx.field(static=True)
    prefix: str = eqx.field(static=True, default="w_")
    suffix: str = eqx.field(static=True, default="")

    per_domain: ClassVar[tuple[str, ...]] = ("t",)
    formula: ClassVar[str] = "L = c + exp(sum_j t_j r_j)   (Ye's k absorbed into t, sum r = 1)"
    citation: ClassVar[str] = "Ye et al. 2024, arXiv:2403.16952, eq. 6; Chen et al. 2024 (Aioli), arXiv:2411.05735"

    def log_predict(self, x) -> Array:
        r = self.proportions(x)
        return log_sum_exp(jnp.log(self.c), r @ self.t)

    def published_form(self) -> dict[str, Array]:
        r"""Ye et al.'s $(c, k, t)$ with $t$ centred: $k = \exp(\bar t)$, $t - \bar t$."""
        mean = jnp.mean(self.t, axis=-1, keepdims=True)
        return {"c": self.c, "k": jnp.exp(mean[..., 0]), "t": self.t - mean}


class SqrtMixingLaw(AbstractMixingLaw):
    r"""Ye et al. 2024's mixing law (arXiv:2403.16952, eq. 6) with square-root terms in the
    exponent:

    $$L(r) = c + \exp\Big(\sum_j t_j r_j + s_j \sqrt{r_j}\Big).$$

    Why: RegMix mixtures (Liu et al. 2024, arXiv:2407.01492) give many domains a weight of
    zero or near zero, and the first tokens of a domain are worth far more than later ones
    (returns in data diminish as a power law, Hoffmann et al. 2022). The exponent of Ye's
    law is linear in $r_j$ and cannot bend there; $\sqrt{r_j}$ (infinite slope at 0,
    concave) can. With $s = 0$ it is Ye's law. On RegMix's 1M-parameter proxies it raises
    the mean held-out Spearman correlation from 0.973 (Ye) to about 0.99 (see the README).

    **Coefficients:** `c` (irreducible loss), `t` and `s` (one entry per training domain).
    """

    c: Array = coefficient(positive, init=(0.3, 5.0), doc="irreducible loss on the target domain")
    t: Array = coefficient(real, init=(-3.0, 3.0), doc="per-domain linear exponent (k absorbed)")
    s: Array = coefficient(real, init=(-3.0, 3.0), doc="per-domain square-root exponent")
    domains: tuple[str, ...] = eqx.field(static=True)
    prefix: str = eqx.field(static=True, default="w_")
    suffix: str = eqx.field(static=True, default="")

    per_domain: ClassVar[tuple[str, ...]] = ("t", "s")
    formula: ClassVar[str] = "L = c + exp(sum_j t_j r_j + s_j sqrt(r_j))"
    citation: ClassVar[str] = "Ye et al. 2024, arXiv:2403.16952, eq. 6, with sqrt(r) terms (this library)"

    def log_predict(self, x) -> Array:
        r = self.proportions(x)
        # sqrt has an infinite derivative at 0; the floor keeps gradients finite for the
        # optimiser without changing any value above 1e-24.
        root = jnp.sqrt(jnp.maximum(r, 1e-24))
        return log_sum_exp(jnp.log(self.c), r @ self.t + root @ self.s)


class ScaledMixingLaw(AbstractMixingLaw):
    r"""A mixing law composed with scale, so that predictions carry across model sizes or
    training steps:

    $$L(r, S) = E + (S/S_0)^{-\alpha} \exp\Big(\sum_j t_j r_j + s_j \sqrt{r_j}\Big).$$

    At fixed scale it is [`SqrtMixingLaw`][]; at a fixed mixture it is the power law with an
    offset of Kaplan et al. 2020 (arXiv:2001.08361) in $S$. Ye et al. 2024
    (arXiv:2403.16952, sec. 4) chain such fits (loss against steps, against model size,
    then the mixing law); here they are one law, fitted jointly to runs at several scales.
    The mixture acts on the reducible loss only and $\alpha$ is shared by all mixtures.

    **Static fields:** `variable` (the scale column: `"N"`, `"D"`, `"step"`, ...), `S0`
    (a reference scale that keeps `t` of order one; default 1e6).
    """

    E: Array = coefficient(positive, init=(0.3, 5.0), doc="irreducible loss")
    alpha: Array = coefficient(positive, init=(0.02, 1.0), doc="scale exponent")
    t: Array = coefficient(real, init=(-3.0, 3.0), doc="per-domain linear exponent")
    s: Array = coefficient(real, init=(-3.0, 3.0), doc="per-domain square-root exponent")
    domains: tuple[str, ...] = eqx.field(static=True)
    prefix: str = eqx.field(static=True, default="w_")
    suffix: str = eqx.field(static=True, default="")
    variable: str = eqx.field(static=True, default="N")
    S0: float = eqx.field(static=True, default=1e6)

    per_domain: ClassVar[tuple[str, ...]] = ("t", "s")
    formula: ClassVar[str] = "L = E + (S/S0)^-alpha * exp(sum_j t_j r_j + s_j sqrt(r_j))"
    citation: ClassVar[str] = "Ye et al. 2024, arXiv:2403.16952; Kaplan et al. 2020, arXiv:2001.08361"

    def log_predict(self, x) -> Array:
        r = self.proportions(x)
        root = jnp.sqrt(jnp.maximum(r, 1e-24))
        log_scale = jnp.log(jnp.asarray(x[self.variable], dtype=float) / self.S0)
        return log_sum_exp(jnp.log(self.E), -self.alpha * log_scale + r @ self.t + root @ self.s)


_LAWS: dict[str, type[AbstractMixingLaw]] = {
    "ye": DataMixingLaw,
    "sqrt": SqrtMixingLaw,
    "scaled": ScaledMixingLaw,
}


def mixing_law_names() -> tuple[str, ...]:
    """Names accepted by [`mixing_law`][] and `scalinglaws mix fit --law`."""
    return tuple(_LAWS)


def mixing_law(law, domains: Sequence[str], **static) -> AbstractMixingLaw:
    """A template mixing law for `domains`, from a name (`"ye"`, `"sqrt"`, `"scaled"`), a
    `module:Class` path (given by the caller, so it may be imported), a class, or an
    instance (returned unchanged). Names and paths go through the package's one resolver,
    `scalinglaws.laws.resolve_law`."""
    if isinstance(law, AbstractLaw):
        if not isinstance(law, AbstractMixingLaw):
            raise TypeError(f"law=...: {type(law).__name__} is not a mixing law (AbstractMixingLaw).")
        return law
    if isinstance(law, str):
        key = law.strip().lower()
        if key in _LAWS:
            law = _LAWS[key]
        elif ":" in law:
            law, _ = resolve_law(law, allow_import=True, source=f"law={law!r}")
        else:
            raise InputError(
                f"law={law!r}: unknown mixing law. Known: {', '.join(_LAWS)}; "
                "or give 'module:Class' for an AbstractMixingLaw of your own."
            )
    if isinstance(law, type) and issubclass(law, AbstractMixingLaw):
        return law.for_domains(domains, **static)
    raise TypeError(f"law=...: expected a mixing-law name, class or instance, got {law!r}.")


# Registered (unlisted: their templates need domains) so that mixture files name their law
# by registered name, like every other law file.
for _short, _cls in _LAWS.items():
    register_law(f"mixing-{_short}", _cls, listed=False)
del _short, _cls
