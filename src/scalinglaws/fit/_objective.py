"""Fitting objectives on log residuals."""

from typing import Literal

import jax.numpy as jnp
from jaxtyping import Array

LossKind = Literal["huber", "squared"]


def huber(residual: Array, delta: float) -> Array:
    r"""Huber function, as `scipy.special.huber`: $\tfrac12 r^2$ for $|r| \le \delta$,
    else $\delta(|r| - \tfrac12\delta)$. Hoffmann et al. 2022 and Epoch AI (Besiroglu et
    al. 2024) fit with $\delta = 10^{-3}$ on log-loss residuals.

    Computed as $m(|r| - \tfrac12 m)$ with $m = \min(|r|, \delta)$: the same values and
    derivatives, to the last bit, as the two-branch form (at $|r| = \delta$, $0$,
    $\pm\infty$ and NaN too; `tests/test_fused_objective.py`), without its `select`.
    Why: on CPU, XLA fuses an objective's per-run terms and their sum into one kernel only
    when it supports every operation in them as a YNNPACK fusion, and `select` is not one;
    otherwise the (starts x runs) terms are written to memory and read back. Screening
    4,500 starts on 1,000 groups of 64 runs took 3.0 s with the select and 0.5 s without
    (2-core CPU)."""
    abs_r = jnp.abs(residual)
    m = jnp.minimum(abs_r, delta)
    return m * (abs_r - 0.5 * m)


def log_residuals(law, x: dict[str, Array], log_y: Array) -> Array:
    """$\\log \\hat L - \\log L$ for every run."""
    return law.log_predict(x) - log_y


def objective(law, x, log_y, weights, loss: LossKind, delta: float) -> Array:
    r"""$\sum_i w_i\,\rho(\log \hat L_i - \log L_i)$ with $\rho$ = Huber$_\delta$ or
    $\tfrac12 r^2$ (a *sum*, not a mean, following Epoch AI's convention).

    Non-finite values (a coefficient set that overflows) give `+inf`, so they lose every
    comparison instead of poisoning it (checked on the sum, not on each term: see `huber`).
    """
    r = log_residuals(law, x, log_y)
    value = jnp.sum(weights * (huber(r, delta) if loss == "huber" else 0.5 * r**2))
    return jnp.where(jnp.isfinite(value), value, jnp.inf)
