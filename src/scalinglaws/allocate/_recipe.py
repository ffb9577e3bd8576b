"""Training recipe: learning rate and batch size to go with a compute-optimal (N, D).

Li et al. 2025's law is stated in *non-embedding* parameters, while most fitted laws (and
the allocator's $N$) count all parameters. [`recipe_params`][] converts: the allocator
calls it with the convention of the law's $N$ (`params="total"` by default, as in
Hoffmann et al. 2022's data) and the FLOP model, and warns when the two disagree
(`flops="kaplan"` counts non-embedding $N$; `flops="hoffmann"` counts embeddings).
"""

from __future__ import annotations

import warnings
from typing import Any

import equinox as eqx
import numpy as np
from numpy.typing import ArrayLike

from ..errors import InputError

__all__ = [
    "PARAM_CONVENTIONS",
    "HyperparameterLaw",
    "check_param_convention",
    "non_embedding_params",
    "recipe_params",
    "resolve_recipe",
]

#: What a law's `N` counts: all parameters, or the non-embedding ones (Kaplan et al. 2020).
PARAM_CONVENTIONS = ("total", "non-embedding")


def non_embedding_params(
    N: ArrayLike, *, vocab: float = 32000.0, aspect_ratio: float = 128.0
) -> np.ndarray:
    r"""Non-embedding parameters of a transformer with `N` parameters in all.

    Solves $N = 12\,n_\text{layer} d^2 + V d$ with $d = r\,n_\text{layer}$ (the shape of
    `HoffmannFlops`, Hoffmann et al. 2022, Appendix F) and returns $12\,n_\text{layer}
    d^2 = N - V d$: one embedding matrix of $V d$ parameters, tied with the output layer.

    **Arguments:** `N` total parameters; `vocab` $V$ (32,000, Chinchilla's tokenizer);
    `aspect_ratio` $r$ (128).

    **Returns:** a float64 array shaped like `N`.
    """
    from ..precision import in_float64
    from ._flops import HoffmannFlops

    N = np.asarray(N, dtype=float)
    with in_float64():
        layers, d = HoffmannFlops(vocab=float(vocab), aspect_ratio=float(aspect_ratio)).shape(
            np.log(N)
        )
        d = np.asarray(d, dtype=float)
    return N - float(vocab) * d


def check_param_convention(params: str, flops_name: str) -> str:
    """Validate `params=` and warn when it disagrees with the FLOP model's own convention."""
    if params not in PARAM_CONVENTIONS:
        raise InputError(
            f"params={params!r}: expected one of {list(PARAM_CONVENTIONS)} (what the law's N counts)."
        )
    if flops_name == "kaplan" and params == "total":
        warnings.warn(
            "flops='kaplan' counts non-embedding parameters (Kaplan et al. 2020) but params='total' says the "
            "law's N counts all parameters: the two conventions are mixed. Pass params='non-embedding' "
            "(--params non-embedding) if the law was fitted on non-embedding N, or use flops='6nd'/'hoffmann'.",
            UserWarning,
            stacklevel=4,
        )
    if flops_name == "hoffmann" and params == "non-embedding":
        warnings.warn(
            "flops='hoffmann' counts all parameters including embeddings (Hoffmann et al. 2022, Appendix F) "
            "but params='non-embedding' says the law's N excludes them: the two conventions are mixed. Use "
            "flops='kaplan' for a law of non-embedding N.",
            UserWarning,
            stacklevel=4,
        )
    return params


def recipe_params(N: ArrayLike, params: str = "total") -> np.ndarray:
    """The non-embedding $N$ that Li et al. 2025's recipe takes, from the law's `N`
    counted as `params` (`"total"`: converted by [`non_embedding_params`][])."""
    N = np.asarray(N, dtype=float)
    return non_embedding_params(N) if params == "total" else N


class HyperparameterLaw(eqx.Module):
    r"""Power laws for the optimal peak learning rate and batch size:

    $$\eta^*(N, D) = c_\eta\,N^{a_\eta}\,D^{b_\eta}, \qquad B^*(D) = c_B\,D^{b_B}\ \text{tokens}.$$

    The defaults are Li et al. 2025 ("Predictable Scale: Part I -- Optimal Hyperparameter
    Scaling Law in Large Language Model Pretraining", arXiv:2503.04715, eqs. 1-2):
    $\eta^* = 1.79\,N^{-0.713} D^{0.307}$ and $B^* = 0.58\,D^{0.571}$, fitted on their
    dense LLaMA-style runs with AdamW and a warmup-stable-decay schedule. Fit your own with
    [`HyperparameterLaw.fit`][].

    $N$ here is the **non-embedding** parameter count, as in Li et al. 2025; the allocator
    converts its $N$ with [`recipe_params`][] before calling these methods.
    """

    lr_coef: float = 1.79
    lr_n_exponent: float = -0.713
    lr_d_exponent: float = 0.307
    batch_coef: float = 0.58
    batch_d_exponent: float = 0.571

    def learning_rate(self, N: ArrayLike, D: ArrayLike) -> np.ndarray:
        """Optimal peak learning rate for `N` non-embedding parameters and `D` tokens."""
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
    raise TypeError(  # noqa: TRY003
        f"recipe=...: expected True, False or a HyperparameterLaw (with learning_rate and batch_size), "
        f"got {type(recipe).__name__}"
    )
