r"""FLOP-counting conventions: training FLOPs as a function of parameters N and tokens D.

Every published count is linear in the number of training tokens for a fixed model,
$C = f(N)\,D$ with $f$ the training FLOPs per token. The allocator uses this to move along
the constraint $C = f(N) D$ with a single variable, $\log N$.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike

__all__ = [
    "AbstractFlops",
    "HoffmannFlops",
    "KaplanFlops",
    "PerTokenFlops",
    "SixND",
    "get_flops",
    "model_shape",
]

# A transformer block with a 4x MLP holds 12 d_model^2 parameters (Kaplan et al. 2020, Table 1).
_PARAMS_PER_LAYER = 12.0


class AbstractFlops(eqx.Module):
    """A FLOP-counting convention: training FLOPs $C = f(N)\\,D$.

    Subclasses implement `log_per_token(log_n)`, $\\log f(N)$ at $\\log N$, in JAX (it is
    differentiated twice by the allocator).
    """

    name: ClassVar[str] = "custom"
    requires: ClassVar[tuple[str, ...]] = ("N", "D")

    def log_per_token(self, log_n: Array) -> Array:
        raise NotImplementedError

    def per_token(self, N: ArrayLike) -> Array:
        """Training FLOPs per token for a model of `N` parameters."""
        return jnp.exp(self.log_per_token(jnp.log(jnp.asarray(N, dtype=float))))

    def __call__(self, N: ArrayLike, D: ArrayLike) -> Array:
        """Training FLOPs for `N` parameters and `D` tokens."""
        return self.per_token(N) * jnp.asarray(D, dtype=float)

    def tokens(self, N: ArrayLike, C: ArrayLike) -> Array:
        """Tokens that a budget of `C` training FLOPs buys for a model of `N` parameters."""
        return jnp.asarray(C, dtype=float) / self.per_token(N)


class SixND(AbstractFlops):
    r"""$C = 6ND$: two FLOPs per parameter per token forward, four backward (Kaplan et al.
    2020, arXiv:2001.08361, Sec. 2.1; the convention of Hoffmann et al. 2022's closed form)."""

    name: ClassVar[str] = "6nd"

    def log_per_token(self, log_n):
        return math.log(6.0) + log_n


class KaplanFlops(AbstractFlops):
    r"""Kaplan et al. 2020 (arXiv:2001.08361, Table 1) per-token count with the attention term:

    $$C = 3\,(2N + 2\,n_\text{layer}\,n_\text{ctx}\,d_\text{model})\,D$$

    ($C_\text{forward}$ of Table 1, backward = 2 x forward). $N$ is the non-embedding
    parameter count $12\,n_\text{layer} d_\text{model}^2$; the shape follows from $N$ with a
    fixed aspect ratio $d_\text{model} = r\,n_\text{layer}$ (continuous, so that the count
    is smooth in $N$; see [`model_shape`][] for a rounded shape).

    **Arguments:** `n_ctx` context length (default 2048), `aspect_ratio` $r$ (default 128,
    GPT-3 175B's 12288 / 96).
    """

    n_ctx: float = 2048.0
    aspect_ratio: float = 128.0
    name: ClassVar[str] = "kaplan"

    def log_per_token(self, log_n):
        r = self.aspect_ratio
        # N = 12 L d^2 with d = r L  =>  L = (N / (12 r^2))^(1/3)
        log_layers = (log_n - math.log(_PARAMS_PER_LAYER * r * r)) / 3.0
        log_attention = math.log(self.n_ctx * r) + 2.0 * log_layers  # n_layer n_ctx d_model
        return math.log(6.0) + jnp.logaddexp(log_n, log_attention)


class HoffmannFlops(AbstractFlops):
    r"""Hoffmann et al. 2022 (arXiv:2203.15556, Appendix F) count with embeddings and attention.

    Per token, forward: embeddings $2Vd$; per layer, QKV projections $6d^2$, logits
    $2Sd$, softmax $3HS$, attention-weighted sum $2Sd$, output projection $2d^2$, MLP
    $16d^2$ (hidden $4d$); final logits $2dV$. Backward = 2 x forward, so
    $f(N) = 3\,[4Vd + n_\text{layer}(24d^2 + 4Sd + 3HS)]$.

    $N$ counts all parameters including the embedding matrix, $N = 12\,n_\text{layer}d^2 +
    Vd$; the shape follows from $N$ with $d = r\,n_\text{layer}$ (the cubic is solved in
    closed form, so the count is smooth in $N$) and $H = d / \text{head\_dim}$ heads.

    **Arguments:** `seq_len` $S$ (2048), `vocab` $V$ (32,000, Chinchilla's tokenizer),
    `aspect_ratio` $r$ (128), `head_dim` (128, Chinchilla's key size).

    **The paper disagrees with itself.** Appendix F's formula and the ratios of Table A4
    ("our FLOPs / 6ND") do not match. For the 73M model ($d = 640$, 10 layers, 10 heads
    of 64, $S = 2048$, $V = 32{,}000$) the formula above gives $6.998 \times 10^8$ FLOPs
    per token, **1.60x** $6ND$ with $N = 73$M, where the table lists **1.03x**. The table's
    ratio is reproduced (1.04x) only when the embedding ($2Vd$) and output-logit ($2dV$)
    terms are dropped, i.e. the table effectively counts non-embedding FLOPs. This class
    implements the formula as written (checked in `tests/test_allocate.py`); at 70B the
    embedding terms are under 1% and the two agree.
    """

    seq_len: float = 2048.0
    vocab: float = 32000.0
    aspect_ratio: float = 128.0
    head_dim: float = 128.0
    name: ClassVar[str] = "hoffmann"

    def shape(self, log_n):
        """Continuous (n_layer, d_model) for a model of $e^{\\log N}$ parameters."""
        r, v = self.aspect_ratio, self.vocab
        # 12 r^2 L^3 + V r L = N  ->  L^3 + p L - q = 0, one real root (p > 0):
        # L = 2 sqrt(p/3) sinh(asinh((3q / 2p) sqrt(3/p)) / 3)   (trigonometric form, stable)
        p = v / (_PARAMS_PER_LAYER * r)
        log_q = log_n - math.log(_PARAMS_PER_LAYER * r * r)
        z = jnp.exp(log_q + math.log(1.5 / p * math.sqrt(3.0 / p)))
        layers = 2.0 * math.sqrt(p / 3.0) * jnp.sinh(jnp.arcsinh(z) / 3.0)
        return layers, r * layers

    def log_per_token(self, log_n):
        layers, d = self.shape(log_n)
        s, v = self.seq_len, self.vocab
        heads = d / self.head_dim
        forward = 4.0 * v * d + layers * (24.0 * d * d + 4.0 * s * d + 3.0 * heads * s)
        return math.log(3.0) + jnp.log(forward)


class PerTokenFlops(AbstractFlops):
    """A user's count: `fn(N)` returns training FLOPs per token (JAX-traceable, smooth).

    **Arguments:** `fn`, e.g. `lambda N: 6 * N + 12 * 24 * 2048 * 1024`.
    """

    fn: Callable[[Array], Array] = eqx.field(static=True)
    name: ClassVar[str] = "callable"

    def log_per_token(self, log_n):
        return jnp.log(jnp.asarray(self.fn(jnp.exp(log_n)), dtype=float))


_NAMED = {"6nd": SixND, "kaplan": KaplanFlops, "hoffmann": HoffmannFlops}


def get_flops(flops: str | AbstractFlops | Callable = "6nd") -> AbstractFlops:
    """A FLOP model from a name (`"6nd"`, `"kaplan"`, `"hoffmann"`), an instance, or a
    callable `fn(N)` returning training FLOPs per token."""
    if isinstance(flops, AbstractFlops):
        return flops
    if isinstance(flops, str):
        key = flops.strip().lower()
        if key in _NAMED:
            return _NAMED[key]()
        raise ValueError(
            f"flops={flops!r}: unknown FLOP model; expected one of {list(_NAMED)} or a callable fn(N)."
        )
    if callable(flops):
        return PerTokenFlops(flops)
    raise TypeError(
        f"flops=...: expected a name, an AbstractFlops or a callable, got {type(flops).__name__}"
    )


def model_shape(
    N: float, *, aspect_ratio: float = 128.0, head_dim: int = 128, vocab: int = 0
) -> dict[str, int]:
    """A plausible transformer shape for about `N` parameters.

    Solves $12\\,n_\\text{layer} d^2 + V d = N$ with $d = r\\,n_\\text{layer}$ (Kaplan et
    al. 2020 found loss flat over a wide range of aspect ratios, Fig. 5), then rounds
    `d_model` to a multiple of `head_dim`.

    **Arguments:** `N` parameters; `aspect_ratio` $r$; `head_dim`; `vocab` $V$ (0: `N`
    excludes embeddings).

    **Returns:** dict with `n_layer`, `d_model`, `n_heads`, `params` (of the rounded shape).
    """
    N = float(N)
    if not (np.isfinite(N) and N > 0):
        raise ValueError(f"model_shape(N=...): must be positive and finite, got {N!r}")
    if vocab > 0:
        layers, _ = HoffmannFlops(vocab=float(vocab), aspect_ratio=aspect_ratio).shape(jnp.log(N))
        layers = float(layers)
    else:
        layers = (N / (_PARAMS_PER_LAYER * aspect_ratio**2)) ** (1.0 / 3.0)
    n_layer = max(1, round(layers))
    d_model = max(head_dim, round(aspect_ratio * layers / head_dim) * head_dim)
    params = int(_PARAMS_PER_LAYER * n_layer * d_model**2 + vocab * d_model)
    return {
        "n_layer": n_layer,
        "d_model": d_model,
        "n_heads": d_model // head_dim,
        "params": params,
    }
