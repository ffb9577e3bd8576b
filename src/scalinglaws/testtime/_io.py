"""The attempts table: per problem, how many samples were drawn and how many were correct.

| column | meaning |
|---|---|
| `problem` | problem identifier (any string or number) |
| `n` | number of samples drawn for the problem (integer >= 1) |
| `c` | number of those samples that were correct (integer, 0 <= c <= n) |
| `model` | optional: which model produced the samples |
| `group` | optional: problem group (difficulty bucket, dataset, ...) |

This is the input of the unbiased pass@k estimator (Chen et al. 2021, arXiv:2107.03374)
and of the beta-binomial coverage fit.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..data import read_table, rename_columns

REQUIRED_COLUMNS = ("problem", "n", "c")


class Attempts:
    """A validated table of sampling attempts (a thin wrapper around a pandas DataFrame).

    Build one with [`load_attempts`][]. `n` and `c` are stored as int64.

    **Attributes:** `frame`, the validated DataFrame; `source`, where it came from.
    """

    def __init__(self, frame: pd.DataFrame, *, source: str = "<data>", argument: str = "attempts"):
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(
                f"Attempts(frame=...): expected a pandas DataFrame, got {type(frame).__name__}"
            )
        self.source = source
        self.frame = _validate(frame.reset_index(drop=True).copy(), argument)

    def __len__(self) -> int:
        return len(self.frame)

    def __repr__(self) -> str:
        return f"Attempts({len(self)} problems, columns={list(self.frame.columns)}, source={self.source!r})"

    @property
    def n(self) -> np.ndarray:
        """Samples per problem (int64)."""
        return self.frame["n"].to_numpy(dtype=np.int64)

    @property
    def c(self) -> np.ndarray:
        """Correct samples per problem (int64)."""
        return self.frame["c"].to_numpy(dtype=np.int64)

    @property
    def models(self) -> list:
        """The distinct values of the `model` column (`[None]` when there is none)."""
        if "model" not in self.frame:
            return [None]
        return list(pd.unique(self.frame["model"]))

    def for_model(self, model: Any) -> Attempts:
        """The rows of one model (all rows when `model` is None and there is no model column)."""
        if model is None:
            if "model" in self.frame and len(self.models) > 1:
                raise ValueError(
                    f"attempts: the table holds several models {self.models}; choose one with model=..."
                )
            return self
        if "model" not in self.frame:
            raise ValueError(f"model={model!r}: the attempts table has no 'model' column.")
        rows = self.frame[self.frame["model"].astype(str) == str(model)]
        if len(rows) == 0:
            raise ValueError(
                f"model={model!r}: no such model in the attempts; models are {self.models}."
            )
        return Attempts(rows, source=self.source)


def load_attempts(
    data: Any, *, model: Any = None, argument: str = "attempts", columns: dict[str, str] | None = None
) -> Attempts:
    """Load and validate an attempts table.

    **Arguments:**

    - `data`: an [`Attempts`][], a CSV path, a built-in dataset name (`"testtime-attempts"`),
        a pandas DataFrame, or a dict of arrays with columns `problem`, `n`, `c` (and
        optionally `model`, `group`).
    - `model`: keep only this model's rows (required when the table holds several models
        and the caller needs one).
    - `columns`: your column names -> these, e.g. `{"samples": "n", "correct": "c"}`.

    **Returns:** a validated [`Attempts`][].
    """
    if isinstance(data, Attempts):
        attempts = data
    else:
        frame, source = read_table(data, argument=argument, kind="Attempts")  # or a built-in name: testtime-attempts
        frame = rename_columns(frame, columns, argument=argument)
        attempts = Attempts(frame, source=source, argument=argument)
    if model is not None:
        attempts = attempts.for_model(model)
    return attempts


def _validate(frame: pd.DataFrame, argument: str) -> pd.DataFrame:
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{argument}: missing column(s) {missing}; an attempts table needs columns "
            f"{list(REQUIRED_COLUMNS)} (optionally 'model', 'group'), got {list(frame.columns)}."
        )
    if len(frame) == 0:
        raise ValueError(f"{argument}: the table has no rows.")
    for column in ("n", "c"):
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(values)
        if bad.any():
            raise ValueError(
                f"{argument}: column {column!r} has missing or non-numeric values{_rows(bad)}."
            )
        if (values < 0).any():
            raise ValueError(
                f"{argument}: column {column!r} has negative counts{_rows(values < 0)}; counts must be >= 0."
            )
        if (values != np.round(values)).any():
            raise ValueError(
                f"{argument}: column {column!r} has non-integer counts{_rows(values != np.round(values))}."
            )
        frame[column] = values.astype(np.int64)
    n, c = frame["n"].to_numpy(), frame["c"].to_numpy()
    if (n < 1).any():
        raise ValueError(f"{argument}: n must be at least 1 (samples per problem){_rows(n < 1)}.")
    if (c > n).any():
        raise ValueError(
            f"{argument}: c > n{_rows(c > n)}: a problem cannot have more correct samples than samples."
        )
    return frame


def _rows(mask: np.ndarray) -> str:
    index = np.flatnonzero(mask)
    shown = ", ".join(str(i) for i in index[:5]) + (", ..." if len(index) > 5 else "")
    return f" ({len(index)} row(s): {shown})"
