"""The table of training runs: validation, derived columns and loading.

A `Runs` table holds one row per training run (or checkpoint). Known columns:

| column | meaning |
|---|---|
| `N` | parameters |
| `D` | training tokens |
| `C` | training FLOPs; derived as $6ND$ when absent (Kaplan et al. 2020) |
| `loss` | the measured loss (nats/token) |
| `U` | unique tokens (data-constrained runs, Muennighoff et al. 2023) |
| `group` | family or dataset |
| `step` | optimiser step of an intermediate checkpoint |

`D` is derived as $C/(6N)$ when absent. Any other columns are kept (downstream errors,
mixture weights, ...). Numeric columns that a law reads must be finite and positive.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

# Columns that must be strictly positive wherever they appear.
POSITIVE_COLUMNS = ("N", "D", "C", "U", "P", "loss")
# How far C may stray from 6ND before we warn (other FLOP conventions differ by more).
_C_TOLERANCE = 0.05


class Runs:
    """A validated table of training runs (a thin wrapper around a pandas DataFrame).

    Build one with [`load_runs`][] (CSV path, built-in dataset name, DataFrame or dict of
    arrays) or `Runs(frame)`. Rows are never reordered; `query` keeps pandas semantics.

    **Attributes:** `frame`, the validated `pandas.DataFrame`; `source`, where it came from.
    """

    def __init__(self, frame: pd.DataFrame, *, source: str = "<data>", argument: str = "data"):
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"Runs(frame=...): expected a pandas DataFrame, got {type(frame).__name__}")
        self.source = source
        self._argument = argument
        self.frame = _derive_columns(frame.reset_index(drop=True).copy(), argument)
        _check_values(self.frame, [c for c in POSITIVE_COLUMNS if c in self.frame], argument)
        _check_compute_convention(self.frame, argument)

    # ---- basic access ---------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.frame)

    def __repr__(self) -> str:
        return f"Runs({len(self)} rows, columns={list(self.frame.columns)}, source={self.source!r})"

    @property
    def columns(self) -> list[str]:
        return list(self.frame.columns)

    def __getitem__(self, column: str) -> np.ndarray:
        if column not in self.frame:
            raise KeyError(f"{self._argument}: no column {column!r}; columns are {self.columns}")
        return self.frame[column].to_numpy(dtype=float)

    def query(self, expression: str | None, *, argument: str = "query") -> Runs:
        """Rows matching a pandas-style expression, e.g. `"C < 1e21 and N > 1e8"`."""
        if expression is None or not str(expression).strip():
            return self
        try:
            selected = self.frame.query(expression, engine="python")
        except Exception as error:  # pandas raises many types for a bad expression
            raise ValueError(
                f"{argument}={expression!r}: could not evaluate the expression ({error}). "
                f"Columns are {self.columns}."
            ) from None
        if len(selected) == 0:
            raise ValueError(
                f"{argument}={expression!r}: no rows left (the data had {len(self)} rows). "
                "Loosen the expression."
            )
        return Runs(selected, source=f"{self.source} [{expression}]", argument=self._argument)

    def subset(self, mask: np.ndarray) -> Runs:
        """Rows where the boolean `mask` is true."""
        return Runs(self.frame[np.asarray(mask, dtype=bool)], source=self.source, argument=self._argument)

    def require(self, columns: Iterable[str], *, why: str) -> None:
        """Raise a clear error if any of `columns` is missing or holds bad values."""
        columns = list(columns)
        missing = [c for c in columns if c not in self.frame]
        if missing:
            raise ValueError(
                f"{self._argument}: missing column(s) {missing} ({why}). "
                f"Available columns: {self.columns}."
            )
        _check_values(self.frame, columns, self._argument)

    def arrays(self, columns: Iterable[str]) -> dict[str, np.ndarray]:
        """Column name -> float64 array, for the given columns."""
        return {c: self[c] for c in columns}

    def fingerprint(self, columns: Iterable[str] | None = None) -> str:
        """SHA-256 of the given columns' values: identifies the data behind a fit."""
        columns = list(columns) if columns is not None else self.columns
        digest = hashlib.sha256()
        for c in columns:
            digest.update(c.encode())
            digest.update(np.ascontiguousarray(self[c]).tobytes())
        return digest.hexdigest()[:16]


def load_runs(
    data: Any,
    *,
    query: str | None = None,
    columns: Mapping[str, str] | None = None,
    argument: str = "data",
) -> Runs:
    """Load runs from a `Runs`, a built-in dataset name, a CSV path, a DataFrame or a dict.

    **Arguments:**

    - `data`: what to load. A string is first looked up among the built-in datasets
        (`scalinglaws datasets` lists them), then read as a CSV path.
    - `query`: optional pandas-style row filter, e.g. `"epoch_default_included == 1"`.
    - `columns`: optional renaming, e.g. `{"params": "N", "tokens": "D"}`.

    **Returns:** a validated [`Runs`][].
    """
    if isinstance(data, Runs):
        runs = data
    else:
        frame, source = read_table(data, argument=argument, kind="Runs")
        runs = Runs(_rename(frame, columns, argument), source=source, argument=argument)
    return runs.query(query)


def read_table(data: Any, *, argument: str, kind: str, builtin: bool = True) -> tuple[pd.DataFrame, str]:
    """A pandas DataFrame and a description of its source, from a DataFrame, a dict of
    arrays, a CSV path or (when `builtin`) a built-in dataset name.

    Shared by the loaders of every table the package reads (runs, attempts, ...); `kind` names
    the loader's own table type in the error for an unsupported `data`.
    """
    if isinstance(data, pd.DataFrame):
        return data, "<DataFrame>"
    if isinstance(data, Mapping):
        try:
            return pd.DataFrame({k: np.asarray(v) for k, v in data.items()}), "<dict>"
        except ValueError as error:
            raise ValueError(f"{argument}: columns of the dict must have equal lengths ({error})") from None
    if isinstance(data, (str, os.PathLike)):
        text = os.fspath(data)
        path, source = Path(text), text
        if builtin:
            from .datasets import dataset_path, list_datasets

            if text in list_datasets():
                path, source = dataset_path(text), f"dataset:{text}"
            elif not path.exists():
                raise ValueError(
                    f"{argument}={text!r}: no such file, and not a built-in dataset "
                    f"(built-ins: {', '.join(list_datasets())})."
                )
        if not path.exists():
            raise ValueError(f"{argument}={text!r}: no such file.")
        try:
            return pd.read_csv(path), source
        except Exception as error:  # pandas raises many types for a malformed file
            raise ValueError(f"{argument}={text!r}: could not read it as CSV ({error}).") from None
    names = "a CSV path, " + ("a dataset name, " if builtin else "") + f"a DataFrame, a dict of arrays or {kind}"
    raise TypeError(f"{argument}=...: expected {names}, got {type(data).__name__}.")


def _rename(frame: pd.DataFrame, columns: Mapping[str, str] | None, argument: str) -> pd.DataFrame:
    if not columns:
        return frame
    missing = [c for c in columns if c not in frame]
    if missing:
        raise ValueError(f"{argument}: cannot rename missing column(s) {missing}; columns are {list(frame)}")
    return frame.rename(columns=dict(columns))


def _derive_columns(frame: pd.DataFrame, argument: str) -> pd.DataFrame:
    has = set(frame.columns)
    if "C" not in has and {"N", "D"} <= has:
        _check_values(frame, ["N", "D"], argument)
        frame["C"] = 6.0 * frame["N"].astype(float) * frame["D"].astype(float)
    elif "D" not in has and {"N", "C"} <= has:
        _check_values(frame, ["N", "C"], argument)
        frame["D"] = frame["C"].astype(float) / (6.0 * frame["N"].astype(float))
    return frame


def _check_values(frame: pd.DataFrame, columns: Iterable[str], argument: str) -> None:
    for column in columns:
        values = pd.to_numeric(frame[column], errors="coerce")
        bad_type = values.isna() & frame[column].notna()
        if bad_type.any():
            rows = _rows(bad_type)
            example = frame[column][bad_type].iloc[0]
            raise ValueError(
                f"{argument}: column {column!r} has non-numeric values in row(s) {rows} "
                f"(e.g. {example!r}). Fix or drop those rows."
            )
        array = values.to_numpy(dtype=float)
        nonfinite = ~np.isfinite(array)
        if nonfinite.any():
            raise ValueError(
                f"{argument}: column {column!r} has NaN or infinite values in row(s) "
                f"{_rows(nonfinite)}. Drop those rows (e.g. with a query) or fill them."
            )
        if column in POSITIVE_COLUMNS and (array <= 0).any():
            raise ValueError(
                f"{argument}: column {column!r} must be positive, but row(s) {_rows(array <= 0)} "
                f"are <= 0. Scaling laws work in log space: drop or fix those rows."
            )


def _check_compute_convention(frame: pd.DataFrame, argument: str) -> None:
    if not {"N", "D", "C"} <= set(frame.columns):
        return
    ratio = frame["C"].to_numpy(float) / (6.0 * frame["N"].to_numpy(float) * frame["D"].to_numpy(float))
    off = np.abs(ratio - 1.0) > _C_TOLERANCE
    if off.any():
        warnings.warn(
            f"{argument}: column 'C' differs from 6*N*D by more than {_C_TOLERANCE:.0%} in "
            f"{int(off.sum())} row(s) (e.g. rows {_rows(off)}; C/(6ND) from {ratio.min():.3g} "
            f"to {ratio.max():.3g}). Laws that read C and laws that read N and D will then "
            "disagree; check the FLOP-counting convention (Porian et al. 2024).",
            UserWarning,
            stacklevel=3,
        )


def _rows(mask) -> str:
    index = np.flatnonzero(np.asarray(mask))
    shown = ", ".join(str(i) for i in index[:8])
    return shown + (f", ... ({len(index)} in all)" if len(index) > 8 else "")
