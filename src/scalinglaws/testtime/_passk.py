r"""The unbiased pass@k estimator of Chen et al. 2021 (arXiv:2107.03374, eq. 1).

For a problem with $n$ samples of which $c$ are correct,

$$\widehat{\mathrm{pass@}k} = 1 - \binom{n-c}{k} \Big/ \binom{n}{k}
  = 1 - \prod_{i=0}^{k-1} \left(1 - \frac{c}{n - i}\right)
  = 1 - \prod_{j=0}^{c-1} \left(1 - \frac{k}{n - j}\right),$$

the probability that a random size-$k$ subset of the $n$ samples holds a correct one.
Both product forms (Chen et al. 2021, Figure 3, and its mirror image) are evaluated as
sums of `log1p` terms, all of one sign, so nothing large is ever subtracted: the result
agrees with exact rational arithmetic to about $10^{-13}$, where differences of
`gammaln` values (each about $2.6 \times 10^{13}$ at $n = 10^{12}$) would lose almost
every digit. The shorter product is used: $k$ terms when $k \le 4096$, else $c$ terms
(one cumulative sum shared by every problem with the same $n$), so memory is
$O(\min(k, c))$, never $O(n)$: $n = 10^{12}$ samples per problem is fine. Only when both
$k$ and $c$ exceed $2^{22}$ is the log ratio taken from Stirling's series for
$\log\Gamma$ differences (absolute error about $10^{-16} \min(k, c) \log n$ in the log,
at most $10^{-8}$ for $\min(k, c) \le 10^{7}$, $n \le 10^{15}$). Averaged over problems
this is the *coverage* of Brown et al. 2024.
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


# k-term products for k up to this; cumulative sums over c up to _C_CAP.
_K_DIRECT = 4096
_C_CAP = 1 << 22
_CHUNK = 1 << 20  # elements per block of the k-term products


def _log_rising_ratio(x: np.ndarray, s: np.ndarray) -> np.ndarray:
    r"""$\log\Gamma(x + s) - \log\Gamma(x)$ for large $x$, from Stirling's series, with
    `log1p` so that the leading terms do not cancel."""
    x, s = np.asarray(x, float), np.asarray(s, float)
    y = x + s
    lead = (x - 0.5) * np.log1p(s / x) + s * np.log(y) - s

    def series(z):
        return 1 / (12 * z) - 1 / (360 * z**3) + 1 / (1260 * z**5)

    return lead + series(y) - series(x)


def _log_fail_all(n: int, k: int, c: np.ndarray) -> np.ndarray:
    r"""$\log[\binom{n-c}{k}/\binom{n}{k}]$ for one $(n, k)$ and many $c$ (-inf where $n - c < k$).

    Memory $O(\min(k, \max c))$ (see the module docstring), never $O(n)$.
    """
    out = np.full(c.shape, -np.inf)
    ok = c <= n - k
    values, inverse = np.unique(c[ok], return_inverse=True)
    result = np.empty(values.shape)
    n_f = float(n)
    if k <= _K_DIRECT:
        # sum_{i<k} log1p(-c/(n-i)), in blocks of rows so memory stays O(k).
        denominators = n_f - np.arange(k, dtype=float)
        rows = max(1, _CHUNK // max(k, 1))
        for start in range(0, len(values), rows):
            block = values[start : start + rows].astype(float)
            result[start : start + rows] = np.log1p(-block[:, None] / denominators[None, :]).sum(axis=1)
    else:
        small = values <= _C_CAP
        if small.any():
            # sum_{j<c} log1p(-k/(n-j)), one cumulative sum for every c.
            top = int(values[small].max())
            terms = np.log1p(-float(k) / (n_f - np.arange(top, dtype=float)))
            tail = np.concatenate([[0.0], np.cumsum(terms)])
            result[small] = tail[values[small]]
        large = ~small
        if large.any():
            cl = values[large].astype(float)
            m = np.minimum(cl, float(k))
            t = np.maximum(cl, float(k))
            # log[(n-t)! (n-m)! / ((n-t-m)! n!)] = log Gamma-ratios of shift m.
            result[large] = _log_rising_ratio(n_f - t - m + 1, m) - _log_rising_ratio(n_f - m + 1, m)
    out[ok] = result[inverse]
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
