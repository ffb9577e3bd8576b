"""Training recipe: learning rate and batch size to go with a compute-optimal (N, D)."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import numpy as np
from numpy.typing import ArrayLike

__all__ = ["HyperparameterLaw", "resolve_recipe"]


class HyperparameterLaw(eqx.Module):
    r"""Power laws for the optimal peak learning rate and batch size:

    $$\eta^*(N, D) = c_\eta\,N^{a_\eta}\,D^{b_\eta}, \qquad B^*(D) = c_B\,D^{b_B}\ \text{tokens}.$$

    The defaults are Li et al. 2025 ("Predictable Scale: Part I -- Optimal Hyperparameter
    Scaling Law in Large Language Model Pretraining", arXiv:2503.04715, eqs. 1-2):
    $\eta^* = 1.79\,N^{-0.713} D^{0.307}$ and $B^* = 0.58\,D^{0.571}$, fitted on their
    dense LLaMA-style runs with AdamW and a warmup-stable-decay schedule. Fit your own with
    [`HyperparameterLaw.fit`][].
    """

    lr_coef: float = 1.79
    lr_n_exponent: float = -0.713
    lr_d_exponent: float = 0.307
    batch_coef: float = 0.58
    batch_d_exponent: float = 0.571

    def learning_rate(self, N: ArrayLike, D: ArrayLike) -> np.ndarray:
        """Optimal peak learning rate for `N` parameters and `D` tokens."""
        N, D = np.asarray(N, dtype=float), np.asarray(D, dtype=float)
        return self.lr_coef * N**self.lr_n_exponent * D**self.lr_d_exponent

    def batch_size(self, N: ArrayLike, D: ArrayLike) -> np.ndarray:
        """Optimal batch size in tokens (depends on `D` only in Li et al.'s law)."""
        N, D = np.asarray(N, dtype=float), np.asarray(D, dtype=float)
        return self.batch_coef * D**self.batch_d_exponent * np.ones_like(N)

    @classmethod
    def fit(
        cls,
        data: Any,
        *,
        learning_rate: str = "learning_rate",
        batch_size: str = "batch_size",
        query: str | None = None,
    ) -> HyperparameterLaw:
        """Fit both power laws by least squares in log space to runs with columns `N`, `D`
        and the best learning rate / batch size found at each (N, D).

        **Arguments:** `data` (anything `load_runs` accepts), the two column names, `query`.

        **Returns:** a `HyperparameterLaw`.
        """
        from ..data import load_runs

        runs = load_runs(data, query=query)
        runs.require(
            ["N", "D", learning_rate, batch_size], why="a hyperparameter law is fitted on (N, D)"
        )
        log_n, log_d = np.log(runs["N"]), np.log(runs["D"])
        lr, bs = runs[learning_rate], runs[batch_size]
        if (lr <= 0).any() or (bs <= 0).any():
            raise ValueError(f"data: columns {learning_rate!r} and {batch_size!r} must be positive")
        if len(runs) < 3:
            raise ValueError(
                f"data: {len(runs)} rows; fitting the learning-rate law needs at least 3"
            )
        design = np.column_stack([np.ones_like(log_n), log_n, log_d])
        (c_lr, a_lr, b_lr), *_ = np.linalg.lstsq(design, np.log(lr), rcond=None)
        (c_bs, b_bs), *_ = np.linalg.lstsq(design[:, [0, 2]], np.log(bs), rcond=None)
        return cls(float(np.exp(c_lr)), float(a_lr), float(b_lr), float(np.exp(c_bs)), float(b_bs))


def resolve_recipe(recipe: Any) -> HyperparameterLaw | None:
    if recipe is False or recipe is None:
        return None
    if recipe is True:
        return HyperparameterLaw()
    if hasattr(recipe, "learning_rate") and hasattr(recipe, "batch_size"):
        return recipe
    raise TypeError(
        f"recipe=...: expected True, False or a HyperparameterLaw (with learning_rate and batch_size), "
        f"got {type(recipe).__name__}"
    )
