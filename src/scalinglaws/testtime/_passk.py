r"""The unbiased pass@k estimator of Chen et al. 2021 (arXiv:2107.03374, eq. 1).

For a problem with $n$ samples of which $c$ are correct,

$$\widehat{\mathrm{pass@}k} = 1 - \binom{n-c}{k} \Big/ \binom{n}{k}
  = 1 - \prod_{i=n-c+1}^{n} \left(1 - \frac{k}{i}\right),$$

the probability that a random size-$k$ subset of the $n$ samples holds a correct one.
The product form (Chen et al. 2021, Figure 3) is evaluated as a sum of `log1p` terms,
accumulated from $i = n$ downwards so that no two large numbers are ever subtracted:
at $n = 10{,}000$ the result agrees with exact rational arithmetic to about $10^{-13}$,
where differences of `gammaln` values (each about $8 \times 10^4$ there) would lose
three more digits. Averaged over problems this is the *coverage* of Brown et al. 2024.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._io import load_attempts


def check_k(k, *, argument: str = "k") -> np.ndarray:
    """`k` as a 1-d int64 array; a clear error unless every value is an integer >= 1."""
    array = np.atleast_1d(np.asarray(k, dtype=float))
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{argument}={k!r}: expected one or more sample counts.")
    if not np.all(np.isfinite(array)) or (array <= 0).any() or (array != np.round(array)).any():
        raise ValueError(f"{argument}={k!r}: every k must be a positive integer (k >= 1).")
    return array.astype(np.int64)


def _log_fail_all(n: int, k: int, c: np.ndarray) -> np.ndarray:
    r"""$\log[\binom{n-c}{k}/\binom{n}{k}]$ for one $(n, k)$ and many $c$ (-inf where $n - c < k$)."""
    i = np.arange(n, k, -1, dtype=float)  # n, n-1, ..., k+1
    # Reversed cumulative sum: tail[j] = sum of the j terms with the largest i.
    tail = np.concatenate([[0.0], np.cumsum(np.log1p(-k / i))])
    out = np.full(c.shape, -np.inf)
    ok = c <= n - k
    out[ok] = tail[c[ok]]
    return out


def pass_at_k(n, c, k) -> np.ndarray:
    r"""Unbiased pass@k per problem (Chen et al. 2021), numerically stable for large $n$, $k$.

    **Arguments:**

    - `n`: samples per problem (integers >= 1), an array.
    - `c`: correct samples per problem (integers, $0 \le c \le n$), same shape as `n`.
    - `k`: an integer $1 \le k \le n$, or a 1-d array of them.

    **Returns:** an array of shape `(len(k), len(n))` (or `(len(n),)` for a scalar `k`).

    The estimator needs at least $k$ samples: $k > n$ raises a `ValueError` rather than
    returning a biased value (the common convention "1 if $c > 0$" is not unbiased).

    **Example:**

    ```python
    pass_at_k([10, 10], [0, 3], k=[1, 5])   # [[0.0, 0.3], [0.0, 0.9166...]]
    ```
    """
    scalar_k = np.ndim(k) == 0
    ks = check_k(k)
    frame = load_attempts(
        {"problem": np.arange(np.size(n)), "n": np.atleast_1d(n), "c": np.atleast_1d(c)},
        argument="n, c",
    )
    return (
        _pass_at_k_checked(frame.n, frame.c, ks)[0]
        if scalar_k
        else _pass_at_k_checked(frame.n, frame.c, ks)
    )


def _pass_at_k_checked(n: np.ndarray, c: np.ndarray, ks: np.ndarray) -> np.ndarray:
    too_big = ks[:, None] > n[None, :]
    if too_big.any():
        kk, pp = np.argwhere(too_big)[0]
        raise ValueError(
            f"k={int(ks[kk])}: larger than the n={int(n[pp])} samples of problem row {int(pp)}; the "
            "unbiased pass@k estimator needs k <= n. Draw more samples or ask for a smaller k."
        )
    out = np.empty((len(ks), len(n)))
    for row, k in enumerate(ks):
        for n_value in np.unique(n):
            mask = n == n_value
            # 0.0 - x, not -x: no negative zeros in printed results.
            out[row, mask] = 0.0 - np.expm1(_log_fail_all(int(n_value), int(k), c[mask]))
    return out


def mean_pass_at_k(attempts, k: int | Sequence[int], *, model=None) -> np.ndarray:
    """pass@k averaged over the problems of an attempts table (Brown et al. 2024's coverage).

    **Arguments:**

    - `attempts`: an attempts table (CSV path, DataFrame, dict or [`Attempts`][]).
    - `k`: one or more sample counts ($1 \\le k \\le n$).
    - `model`: restrict to one model's rows.

    **Returns:** an array with one value per `k`.
    """
    table = load_attempts(attempts, model=model)
    ks = check_k(k)
    return _pass_at_k_checked(table.n, table.c, ks).mean(axis=1)
