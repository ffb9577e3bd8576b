"""Bootstrap over the mixing law: a distribution of optimal mixtures and their losses."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import ConvergenceWarning, InputError
from ..fit import resample_weights, run_groups
from ._data import DEFAULT_ATOL
from ..precision import float64
from ._fit import MixtureFit, fit_many, prepare
from ._optimize import MixturePlan, optimize_mixture


@dataclass(frozen=True)
class MixtureBootstrap:
    """Optimal mixtures under bootstrap replicates of the fitted mixing law.

    **Fields:** `fits` (a [`MixtureFit`][] per replicate whose refits converged for every
    target), `plans` (the optimised [`MixturePlan`][] of each), `domains`, `targets`,
    `weights` (array replicates x domains), `predicted` (array replicates x targets),
    `n_failed` (replicates excluded because a refit did not converge).
    """

    fits: list[MixtureFit]
    plans: list[MixturePlan]
    domains: tuple[str, ...]
    targets: tuple[str, ...]
    weights: np.ndarray
    predicted: np.ndarray
    n_failed: int = 0

    def to_dict(self, level: float = 0.9) -> dict[str, Any]:
        """JSON-ready: replicates used, failed, and `level` intervals (`interval`)."""
        return {"n_replicates": len(self.plans), "n_failed": self.n_failed, "level": level,
                **{k: {name: list(v) for name, v in d.items()} for k, d in self.interval(level).items()}}

    def summary(self, level: float = 0.9) -> str:
        """Median and `level` interval of each domain's optimal weight (largest first)."""
        weights = self.interval(level)["weights"]
        lines = [f"{len(self.plans)} bootstrap replicates ({self.n_failed} failed); optimal weight, "
                 f"median [{level:.0%} interval]:"]
        for d, (lo, mid, hi) in sorted(weights.items(), key=lambda item: -item[1][1]):
            if hi > 1e-3:
                lines.append(f"  {d:<28s} {mid:7.4f} [{lo:.4f}, {hi:.4f}]")
        return "\n".join(lines)

    def __repr__(self) -> str:
        from ..results import value_repr

        return value_repr("MixtureBootstrap", {"n_replicates": len(self.plans), "n_failed": self.n_failed,
                                               "domains": len(self.domains), "targets": len(self.targets)})

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


@float64
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
    group: str | None = None,
    **optimize: Any,
) -> MixtureBootstrap:
    r"""Refit `fit`'s law on `n_boot` bootstrap resamples of the runs (rows drawn with
    replacement, or whole runs when rows share a run id: `group`, see
    [`scalinglaws.fit.run_groups`][]; the package's one resampler,
    [`scalinglaws.fit.resample_weights`][]) and optimise the mixture for each.

    Replicates whose refit did not converge (for any target) are excluded and counted
    (`n_failed`); more than 5% failed gives a [`scalinglaws.ConvergenceWarning`][].

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
    counts = resample_weights(n, n_boot, seed, groups=run_groups(runs, group))
    # Flatten (replicate, target) pairs into one vmapped axis.
    Yb = jnp.tile(Y, (n_boot, 1))
    Wb = jnp.asarray(np.repeat(counts, m, axis=0))
    starts = {
        name: jnp.tile(jnp.asarray(value)[:, None], (n_boot, 1) + (1,) * (jnp.ndim(value) - 1))
        for name, value in fit.law.coefficients.items()
    }
    laws, objective, converged, n_agree = fit_many(
        template_, x, Yb, Wb, starts, loss, float(delta), 1, int(max_steps)
    )
    ok = np.asarray(converged).reshape(n_boot, m).all(axis=1)
    n_failed = int((~ok).sum())
    if n_failed > 0.05 * n_boot:
        warnings.warn(
            f"bootstrap_mixture: {n_failed} of {n_boot} replicates had a refit that did not converge and "
            "were excluded; try a larger max_steps=.",
            ConvergenceWarning,
            stacklevel=2,
        )
    if ok.sum() < 2:
        raise InputError(
            f"bootstrap_mixture: only {int(ok.sum())} of {n_boot} replicates converged; no interval can be "
            "computed. Check the point fit's convergence (fit.summary())."
        )
    fits, plans = [], []
    for b in np.flatnonzero(ok):
        b = int(b)
        piece = jax.tree.map(lambda v: v[b * m : (b + 1) * m], (laws, objective, converged, n_agree))
        one = MixtureFit(law=piece[0], objective=piece[1], converged=piece[2], n_agree=piece[3],
                         weight_range=fit.weight_range, targets=fit.targets, n_points=n)
        fits.append(one)
        plans.append(optimize_mixture(one, target, seed=seed + b, **optimize))
    W = np.array([[p.weights[d] for d in fit.domains] for p in plans])
    P = np.array([[p.predicted[t] for t in fit.targets] for p in plans])
    return MixtureBootstrap(fits=fits, plans=plans, domains=tuple(fit.domains), targets=tuple(fit.targets),
                            weights=W, predicted=P, n_failed=n_failed)
