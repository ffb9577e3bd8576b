r"""Loss-curve laws: the loss at every checkpoint of a run as a function of its learning-rate
schedule (Tissue et al. 2024; Luo et al. 2025).

These are ordinary laws: they read per-checkpoint *schedule features* (columns such as
`S1`, `S2`) that [`scalinglaws.curves.schedule_features`][] derives from each run's
learning rates, so the same fitter, bootstrap and posteriors serve them.
"""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array

from ._base import AbstractLaw, coefficient, positive

__all__ = ["LRAnnealing", "LRAnnealingN", "MultiPower", "multipower_columns"]

# Smallest value the loss is clipped to before taking its log: a coefficient set that
# drives L0 + A S1^-alpha - C S2 below zero is a bad fit, not a reason for NaN.
_TINY = 1e-12


def _safe_log(value: Array) -> Array:
    return jnp.log(jnp.maximum(value, _TINY))


class LRAnnealing(AbstractLaw):
    r"""Scaling law with learning-rate annealing, Tissue et al. 2024 ("Scaling Law with
    Learning Rate Annealing", arXiv:2408.11029, eq. 1):

    $$L(s) = L_0 + A\,S_1^{-\alpha} - C\,S_2$$

    where, at step $s$, $S_1 = \sum_{i \le s} \eta_i$ is the *forward area* (area under
    the learning-rate curve) and $S_2 = \sum_{i \le s} m_i$,
    $m_i = \lambda m_{i-1} + (\eta_{i-1} - \eta_i)$, is the *annealing area* in its
    momentum form (Tissue et al. §3; $\lambda$ between 0.99 and 0.999, 0.999 by
    default). Both columns come from [`scalinglaws.curves.schedule_features`][].

    The law is fitted in log space like every other law; a coefficient set that makes the
    right-hand side non-positive is clipped (a bad fit, never a NaN).
    """

    L0: Array = coefficient(positive, init=(0.5, 5.0), doc="loss at infinite forward area")
    A: Array = coefficient(positive, init=(0.05, 20.0), doc="forward-area scale")
    alpha: Array = coefficient(positive, init=(0.05, 1.5), doc="forward-area exponent")
    C: Array = coefficient(positive, init=(0.01, 50.0), doc="annealing-area coefficient")

    inputs: ClassVar[tuple[str, ...]] = ("S1", "S2")
    formula: ClassVar[str] = "L = L0 + A * S1^-alpha - C * S2"
    citation: ClassVar[str] = "Tissue et al. 2024, arXiv:2408.11029"

    def log_predict(self, x) -> Array:
        s1, s2 = x["S1"], x["S2"]
        return _safe_log(self.L0 + self.A * s1 ** (-self.alpha) - self.C * s2)


class LRAnnealingN(AbstractLaw):
    r"""Tissue et al.'s annealing law joint across model sizes:

    $$L(N, s) = L_0 + \frac{B}{N^\beta} + A\,S_1^{-\alpha} - C\,S_2$$

    Tissue et al. 2024 (arXiv:2408.11029, §5) extend their law to model size; this
    additive $B N^{-\beta}$ term is the parameter term of Hoffmann et al. 2022
    (arXiv:2203.15556, eq. 2), with the data term replaced by the schedule terms. The
    exact parameterisation is this package's, not a published fit. `S1`, `S2` as in
    [`LRAnnealing`][]; `N` parameters.
    """

    L0: Array = coefficient(positive, init=(0.5, 5.0), doc="irreducible loss")
    B: Array = coefficient(positive, init=(1.0, 1e5), doc="parameter-term scale")
    beta: Array = coefficient(positive, init=(0.05, 1.0), doc="parameter exponent")
    A: Array = coefficient(positive, init=(0.05, 20.0), doc="forward-area scale")
    alpha: Array = coefficient(positive, init=(0.05, 1.5), doc="forward-area exponent")
    C: Array = coefficient(positive, init=(0.01, 50.0), doc="annealing-area coefficient")

    inputs: ClassVar[tuple[str, ...]] = ("N", "S1", "S2")
    formula: ClassVar[str] = "L = L0 + B / N^beta + A * S1^-alpha - C * S2"
    citation: ClassVar[str] = "Tissue et al. 2024, arXiv:2408.11029 (size term as Hoffmann et al. 2022)"

    def log_predict(self, x) -> Array:
        value = (
            self.L0
            + self.B * x["N"] ** (-self.beta)
            + self.A * x["S1"] ** (-self.alpha)
            - self.C * x["S2"]
        )
        return _safe_log(value)


def multipower_columns(n_terms: int) -> tuple[str, ...]:
    """The quadrature columns [`MultiPower`][] reads: `mp_w{j}`, `mp_eta{j}`, `mp_S{j}`."""
    names = []
    for prefix in ("mp_w", "mp_eta", "mp_S"):
        names.extend(f"{prefix}{j}" for j in range(n_terms))
    return tuple(names)


MULTIPOWER_TERMS = 24


class MultiPower(AbstractLaw):
    r"""Multi-power law for loss curves across schedules, Luo et al. 2025 ("A Multi-Power
    Law for Loss Curve Prediction Across Learning Rate Schedules", arXiv:2503.12811, §3):

    $$L(t) = L_0 + A\,(S_1(t) + S_W)^{-\alpha} - \mathrm{LD}(t),\qquad
    \mathrm{LD}(t) = B \sum_{k=1}^{t} (\eta_{k-1} - \eta_k)\,
    G\!\left(\eta_k^{-\gamma} S_k(t)\right),$$

    $G(x) = 1 - (C x + 1)^{-\beta}$, $S_k(t) = \sum_{\tau=k}^{t} \eta_\tau$. The column
    `S1` here is the whole area under the schedule including warmup, i.e. Luo et al.'s
    $S_1(t) + S_W$.

    **How the schedule-dependent sum is represented.** $\mathrm{LD}(t)$ needs the whole
    schedule, and $\gamma$, $C$, $\beta$ enter it non-linearly, so it cannot be
    precomputed with fitted hyper-parameters. Instead
    [`scalinglaws.curves.schedule_features`][] splits each run's learning-rate drops into
    `n_terms` bins of equal total drop and stores, per checkpoint and bin $j$, the drop
    $w_j = \sum_k (\eta_{k-1} - \eta_k)$ (over the bin's steps up to $t$), and the
    drop-weighted means of $\eta_k$ and $S_k(t)$ (`mp_w{j}`, `mp_eta{j}`, `mp_S{j}`).
    The law then evaluates $B\sum_j w_j\,G(\bar\eta_j^{-\gamma}\bar S_j)$: a quadrature
    of the exact sum whose error is second order in the bin width (tested against the
    exact sum). All seven coefficients are fitted, none is fixed in advance.

    **Arguments:** `n_terms`: number of quadrature bins (default 24); must match the
    features.
    """

    L0: Array = coefficient(positive, init=(0.5, 5.0), doc="loss at infinite forward area")
    A: Array = coefficient(positive, init=(0.05, 20.0), doc="forward-area scale")
    alpha: Array = coefficient(positive, init=(0.05, 1.5), doc="forward-area exponent")
    B: Array = coefficient(positive, init=(1.0, 2000.0), doc="loss-drop scale")
    C: Array = coefficient(positive, init=(0.1, 10.0), doc="loss-drop saturation rate")
    beta: Array = coefficient(positive, init=(0.1, 2.0), doc="loss-drop power")
    gamma: Array = coefficient(positive, init=(0.1, 1.0), doc="learning-rate exponent")
    n_terms: int = eqx.field(static=True, default=MULTIPOWER_TERMS)

    formula: ClassVar[str] = "L = L0 + A (S1)^-alpha - B sum_k dEta_k (1 - (C eta_k^-gamma S_k(t) + 1)^-beta)"
    citation: ClassVar[str] = "Luo et al. 2025, arXiv:2503.12811"

    def __check_init__(self):
        if not (isinstance(self.n_terms, int) and self.n_terms >= 1):
            raise ValueError(f"MultiPower(n_terms=...): expected a positive integer, got {self.n_terms!r}")

    @property
    def inputs(self) -> tuple[str, ...]:
        return ("S1", *multipower_columns(self.n_terms))

    def log_predict(self, x) -> Array:
        k = self.n_terms
        w = jnp.stack([x[f"mp_w{j}"] for j in range(k)], axis=-1)
        eta = jnp.stack([x[f"mp_eta{j}"] for j in range(k)], axis=-1)
        s = jnp.stack([x[f"mp_S{j}"] for j in range(k)], axis=-1)
        # Empty bins (no drop yet) carry w = 0 and placeholder eta = 1, S = 0.
        arg = self.C * jnp.power(jnp.maximum(eta, _TINY), -self.gamma) * s
        g = -jnp.expm1(-self.beta * jnp.log1p(arg))
        drop = self.B * jnp.sum(w * g, axis=-1)
        forward = self.A * x["S1"] ** (-self.alpha)
        return _safe_log(self.L0 + forward - drop)

