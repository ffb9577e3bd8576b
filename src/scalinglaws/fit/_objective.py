"""Fitting objectives on log residuals."""

from typing import Literal

import jax.numpy as jnp
from jaxtyping import Array

LossKind = Literal["huber", "squared"]


def huber(residual: Array, delta: float) -> Array:
    r"""Huber function, as `scipy.special.huber`: $\tfrac12 r^2$ for $|r| \le \delta$,
    else $\delta(|r| - \tfrac12\delta)$. Hoffmann et al. 2022 and Epoch AI (Besiroglu et
    al. 2024) fit with $\delta = 10^{-3}$ on log-loss residuals."""
    abs_r = jnp.abs(residual)
    return jnp.where(abs_r <= delta, 0.5 * residual**2, delta * (abs_r - 0.5 * delta))


def log_residuals(law, x: dict[str, Array], log_y: Array) -> Array:
    """$\\log \\hat L - \\log L$ for every run."""
    return law.log_predict(x) - log_y


def run_losses(law, x, log_y, weights, loss: LossKind, delta: float) -> Array:
    r"""$w_i\,\rho(\log \hat L_i - \log L_i)$ for every run: the terms [`objective`][]
    sums (a sweep's screen sums them per group, `scalinglaws.fit.sweep`)."""
    r = log_residuals(law, x, log_y)
    return weights * (huber(r, delta) if loss == "huber" else 0.5 * r**2)


def objective(law, x, log_y, weights, loss: LossKind, delta: float) -> Array:
    r"""$\sum_i w_i\,\rho(\log \hat L_i - \log L_i)$ with $\rho$ = Huber$_\delta$ or
    $\tfrac12 r^2$ (a *sum*, not a mean, following Epoch AI's convention).

    Non-finite values (a coefficient set that overflows) give `+inf`, so they lose every
    comparison instead of poisoning it.
    """
    value = jnp.sum(run_losses(law, x, log_y, weights, loss, delta))
    return jnp.where(jnp.isfinite(value), value, jnp.inf)
