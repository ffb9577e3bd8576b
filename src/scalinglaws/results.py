"""Readable results: value-showing reprs shared by every result object.

Every result the package returns (`FitResult`, `HoldoutReport`, `Allocation`,
`IsoflopResult`, `MixtureFit`, `MixturePlan`, `MixtureBootstrap`, the test-time `Plan`,
`BetaFit`, `BootstrapResult`, `Posterior`) follows one protocol:

- `repr(result)` shows *values* (`objective=0.00101827`), never shapes (`f64[]`), so a
  REPL answers the question at once; arrays longer than a few entries are abbreviated;
- `result.summary()` is a plain-text account for people (tables fit in 100 columns);
- `result.to_dict()` is a JSON-ready dict for programs (what the command line prints with
  `--json`; `as_dict()` is kept as an alias where it existed).

The helpers here only format: they never compute or change a result.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = [
    "EXTRAPOLATION_WARN", "extrapolation_factor", "extrapolation_note", "format_table", "format_value", "value_repr",
]

# Arrays longer than this are shown as their first and last entries.
_SHOWN = 6


def format_value(value: Any) -> str:
    """A short, value-showing text for a number, an array, a law or anything else.

    Scalars print with 6 significant digits (`0.00101828`, `2.9763e+10`); arrays as
    `[1e+21 1e+23]` (abbreviated beyond 6 entries, with their shape); laws by their own
    value-showing repr.
    """
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, str):
        return repr(value)
    try:
        array = np.asarray(value)
    except Exception:  # noqa: BLE001 - anything that is not array-like keeps its own repr
        return repr(value)
    if array.dtype == object or array.dtype.kind not in "biuf":
        return repr(value)
    if array.ndim == 0:
        if array.dtype.kind == "b":
            return str(bool(array))
        if array.dtype.kind in "iu":
            return str(int(array))
        return f"{float(array):.6g}"
    flat = array.ravel()
    if flat.size > _SHOWN:
        head = " ".join(f"{float(v):.6g}" for v in flat[:3])
        tail = " ".join(f"{float(v):.6g}" for v in flat[-2:])
        return f"[{head} ... {tail}] (shape {array.shape})"
    text = " ".join(f"{float(v):.6g}" if array.dtype.kind == "f" else str(v) for v in flat)
    return f"[{text}]" + (f" (shape {array.shape})" if array.ndim > 1 else "")


def value_repr(name: str, fields: Mapping[str, Any], *, width: int = 100) -> str:
    """`Name(a=1.5, b=[1 2])` on one line when it fits in `width` columns, else one field a
    line; fields whose value is None are left out."""
    items = [f"{key}={format_value(value)}" for key, value in fields.items() if value is not None]
    one_line = f"{name}({', '.join(items)})"
    if len(one_line) <= width and "\n" not in one_line:
        return one_line
    body = ",\n".join("  " + item.replace("\n", "\n  ") for item in items)
    return f"{name}(\n{body}\n)"


# A forecast or allocation this far beyond the largest fitted compute says so (issue 12.6):
# Choshen et al. 2024 find extrapolation error growing with the distance in compute.
EXTRAPOLATION_WARN = 100.0


def extrapolation_factor(x: Mapping[str, float], max_compute: float | None) -> float | None:
    """How many times the largest fitted compute a query is: `C / max_compute`, with `C`
    from `x["C"]` or $6ND$ (Kaplan et al. 2020) when `x` has `N` and `D`. None when either
    is unknown (a fit saved before ranges were stored, or a law without compute)."""
    if max_compute is None or not np.isfinite(max_compute) or max_compute <= 0:
        return None
    if "C" in x:
        compute = float(np.max(x["C"]))
    elif "N" in x and "D" in x:
        compute = float(np.max(6.0 * np.asarray(x["N"], dtype=float) * np.asarray(x["D"], dtype=float)))
    else:
        return None
    return compute / float(max_compute)


def extrapolation_note(factor: float | None, what: str = "this forecast") -> str | None:
    """A one-line warning when `factor` exceeds `EXTRAPOLATION_WARN` (100x), else None."""
    if factor is None or factor <= EXTRAPOLATION_WARN:
        return None
    return (
        f"{what} is {factor:.3g}x the largest fitted compute ({np.log10(factor):.1f} orders of magnitude "
        "beyond the runs): treat it as an extrapolation (see `holdout` for how the law extrapolates)."
    )


def format_table(rows: list[Mapping[str, Any]], *, width: int = 100, key: str | None = None) -> str:
    """Rows of numbers as aligned text no wider than `width` columns.

    Numbers print with 6 significant digits; each column is as wide as its widest entry.
    A table wider than `width` is split into blocks of columns, each block repeating the
    first column (`key`, default the first) so that every line can be read on its own.
    """
    if not rows:
        return ""
    names = list(rows[0])
    key = names[0] if key is None else key

    def cell(value: Any) -> str:
        if isinstance(value, (float, np.floating)):
            return f"{float(value):.6g}"
        return str(value)

    cells = {n: [cell(r.get(n, "")) for r in rows] for n in names}
    widths = {n: max(len(n), *(len(c) for c in cells[n])) for n in names}
    blocks, current = [], [key]
    for n in names:
        if n == key:
            continue
        if sum(widths[m] + 2 for m in current) + widths[n] > width and len(current) > 1:
            blocks.append(current)
            current = [key]
        current.append(n)
    blocks.append(current)
    out = []
    for block in blocks:
        out.append("  ".join(f"{n:>{widths[n]}}" for n in block))
        out.extend("  ".join(f"{cells[n][i]:>{widths[n]}}" for n in block) for i in range(len(rows)))
        out.append("")
    return "\n".join(out[:-1])
