"""Bootstrap over the mixing law: a distribution of optimal mixtures and their losses."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._data import DEFAULT_ATOL
from ._fit import MixtureFit, _fit_many, prepare
from ._optimize import MixturePlan, optimize_mixture


@dataclass(frozen=True)
class MixtureBootstrap:
    """Optimal mixtures under bootstrap replicates of the fitted mixing law.

    **Fields:** `fits` (a [`MixtureFit`][] per replicate), `plans` (the optimised
    [`MixturePlan`][] of each), `domains`, `targets`, `weights` (array replicates x
    domains), `predicted` (array replicates x targets).
    """

    fits: list[MixtureFit]
    plans: list[MixturePlan]
    domains: tuple[str, ...]
    targets: tuple[str, ...]
    weights: np.ndarray
    predicted: np.ndarray

    def interval(self, level: float = 0.9) -> dict[str, Any]:
        """Central `level` intervals of every domain's optimal weight and every target's loss."""
        if not 0 < level < 1:
            raise ValueError(f"level={level!r}: expected a probability in (0, 1).")
        q = [(1 - level) / 2, 0.5, (1 + level) / 2]
        w = np.quantile(self.weights, q, axis=0)
        p = np.quantile(self.predicted, q, axis=0)
        return {
            "weights": {d: tuple(map(float, w[:, j])) for j, d in enumerate(self.domains)},
            "predicted": {t: tuple(map(float, p[:, i])) for i, t in enumerate(self.targets)},
        }


def bootstrap_mixture(
    fit: MixtureFit,
    data: Any,
    *,
    weights: str = "w_*",
    query: str | None = None,
    normalize: bool = False,
    atol: float = DEFAULT_ATOL,
    n_boot: int = 16,
    seed: int = 0,
    loss: str = "huber",
    delta: float = 1e-3,
    max_steps: int = 2000,
    target: str | Mapping[str, float] = "mean",
    **optimize: Any,
) -> MixtureBootstrap:
    r"""Refit `fit`'s law on `n_boot` bootstrap resamples of the runs (rows drawn with
    replacement, as integer weights of the objective) and optimise the mixture for each.

    All replicates and targets are refitted in one vmapped call, each replicate starting
    from the point fit (resampling moves the optimum little, so one start suffices).
    `optimize` is passed to [`optimize_mixture`][] (`minimum`, `maximum`, `tokens`, ...).

    **Returns:** a [`MixtureBootstrap`][].
    """
    if not isinstance(fit, MixtureFit):
        raise TypeError(f"fit=...: expected a MixtureFit, got {type(fit).__name__}.")
    if not (isinstance(n_boot, (int, np.integer)) and n_boot >= 2):
        raise ValueError(f"n_boot={n_boot!r}: expected an integer >= 2.")
    template = fit.law_for(fit.targets[0])
    template_, x, Y, targets, runs = prepare(
        template, data, weights=weights, losses=list(fit.targets), query=query,
        normalize=normalize, atol=atol,
    )
    n, m = Y.shape[1], len(targets)
    rng = np.random.default_rng(seed)
    counts = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(n_boot)]).astype(float)
    # Flatten (replicate, target) pairs into one vmapped axis.
    Yb = jnp.tile(Y, (n_boot, 1))
    Wb = jnp.asarray(np.repeat(counts, m, axis=0))
    starts = {
        name: jnp.tile(jnp.asarray(value)[:, None], (n_boot, 1) + (1,) * (jnp.ndim(value) - 1))
        for name, value in fit.law.coefficients.items()
    }
    laws, objective, converged, n_agree = _fit_many(
        template_, x, Yb, Wb, starts, loss, float(delta), 1, int(max_steps)
    )
    fits, plans = [], []
    for b in range(n_boot):
        piece = jax.tree.map(lambda v: v[b * m : (b + 1) * m], (laws, objective, converged, n_agree))
        one = MixtureFit(law=piece[0], objective=piece[1], converged=piece[2], n_agree=piece[3],
                         weight_range=fit.weight_range, targets=fit.targets, n_points=n)
        fits.append(one)
        plans.append(optimize_mixture(one, target, seed=seed + b, **optimize))
    W = np.array([[p.weights[d] for d in fit.domains] for p in plans])
    P = np.array([[p.predicted[t] for t in fit.targets] for p in plans])
    return MixtureBootstrap(fits=fits, plans=plans, domains=tuple(fit.domains), targets=tuple(fit.targets),
                            weights=W, predicted=P)
