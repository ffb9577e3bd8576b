"""Choosing weight and loss columns, and checking that weights form mixtures."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence

import numpy as np

# RegMix's published mixtures (Liu et al. 2024) sum to 1 only within 0.004 (rounded
# weights); a wider default keeps such files usable while catching unnormalised counts.
DEFAULT_ATOL = 1e-2


def select_columns(columns: Sequence[str], pattern: str, *, option: str) -> list[str]:
    """Columns matching a glob, in table order; a clear error if none do."""
    if not isinstance(pattern, str) or not pattern:
        raise ValueError(f"{option}: expected a glob such as 'w_*', got {pattern!r}.")
    chosen = [c for c in columns if fnmatch.fnmatchcase(c, pattern)]
    if not chosen:
        raise ValueError(f"{option}={pattern!r}: no column matches. Columns are {list(columns)}.")
    return chosen


def split_glob(pattern: str, *, option: str) -> tuple[str, str]:
    """`'w_*'` -> `('w_', '')`: the prefix and suffix around the single `*` that names domains."""
    if pattern.count("*") != 1 or any(ch in pattern for ch in "?[]"):
        raise ValueError(
            f"{option}={pattern!r}: use exactly one '*' (e.g. 'w_*'); the part it matches names the domain."
        )
    prefix, _, suffix = pattern.partition("*")
    return prefix, suffix


def domain_names(columns: Sequence[str], prefix: str, suffix: str) -> tuple[str, ...]:
    return tuple(c[len(prefix) : len(c) - len(suffix)] for c in columns)


def check_proportions(
    weights,
    *,
    columns: Sequence[str] | None = None,
    atol: float = DEFAULT_ATOL,
    normalize: bool = False,
    argument: str = "weights",
) -> np.ndarray:
    """Validate mixtures (rows) and return them rescaled to sum exactly to 1.

    **Arguments:**

    - `weights`: array of shape `(n_runs, n_domains)` (or `(n_domains,)`).
    - `columns`: names for messages.
    - `atol`: how far a row's sum may be from 1 (default 0.01).
    - `normalize`: rescale rows whatever their sum (e.g. token counts instead of weights).

    **Returns:** a float64 array of the same shape whose rows sum to 1.
    """
    w = np.array(weights, dtype=float)
    single = w.ndim == 1
    w = np.atleast_2d(w)
    if w.ndim != 2:
        raise ValueError(f"{argument}: expected a 2-D array (runs x domains), got shape {np.shape(weights)}.")
    if not np.all(np.isfinite(w)):
        rows = np.flatnonzero(~np.all(np.isfinite(w), axis=1))
        raise ValueError(f"{argument}: non-finite weights in row(s) {_rows(rows)}.")
    negative = w < 0
    if negative.any():
        rows = np.flatnonzero(negative.any(axis=1))
        col = int(np.flatnonzero(negative[rows[0]])[0])
        name = columns[col] if columns is not None else f"column {col}"
        raise ValueError(
            f"{argument}: negative weights in row(s) {_rows(rows)} (e.g. {name} = {w[rows[0], col]:.6g}); "
            "mixture weights must be >= 0."
        )
    totals = w.sum(axis=1)
    if (totals <= 0).any():
        raise ValueError(f"{argument}: row(s) {_rows(np.flatnonzero(totals <= 0))} have all weights zero.")
    off = np.abs(totals - 1.0) > atol
    if off.any() and not normalize:
        rows = np.flatnonzero(off)
        raise ValueError(
            f"{argument}: weights in row(s) {_rows(rows)} sum to {totals[rows[0]]:.6g}, not 1 "
            f"(tolerance {atol:g}). Fix the data, or pass normalize=True (--normalize) to rescale each row."
        )
    w = w / totals[:, None]
    return w[0] if single else w


def _rows(rows, limit: int = 8) -> str:
    rows = [int(r) for r in rows]
    text = ", ".join(str(r) for r in rows[:limit])
    return text + (f", ... ({len(rows)} in all)" if len(rows) > limit else "")
