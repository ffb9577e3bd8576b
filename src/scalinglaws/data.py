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

Your own column names are mapped with `columns={"params": "N", ...}` (the CLI's
`--column params=N`). Common spellings (`params`, `tokens`, `flops`, `final_loss`, ...; see
`KNOWN_SPELLINGS`) are recognised without it, with a [`ColumnNote`][] saying which mapping
was applied. CSV files are read with pandas' pyarrow engine when pyarrow is installed (a
1M-row table in about a second) and validated column by column, never row by row.
"""

from __future__ import annotations

import contextlib
import contextvars
import difflib
import hashlib
import os
import warnings
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import ColumnNote, InputError

# Columns that must be strictly positive wherever they appear.
POSITIVE_COLUMNS = ("N", "D", "C", "U", "P", "loss")
# How far C may stray from 6ND before we warn (other FLOP conventions differ by more).
_C_TOLERANCE = 0.05

# Spellings of the known columns that are common in other people's tables (issue 12):
# recognised automatically when the canonical column is absent, with a note.
KNOWN_SPELLINGS: dict[str, str] = {
    "params": "N",
    "parameters": "N",
    "n_params": "N",
    "tokens": "D",
    "train_tokens": "D",
    "flops": "C",
    "compute": "C",
    "final_loss": "loss",
    "val_loss": "loss",
    "eval_loss": "loss",
}


class MissingColumnError(InputError, KeyError):
    """A column that is not in the table (an `InputError`; also a `KeyError` for `runs[name]`)."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""


# How hints name options: `target=` in Python, `--target` on the command line. The CLI
# switches this for the duration of one command (a context variable, so nothing leaks).
_CLI_HINTS: contextvars.ContextVar[bool] = contextvars.ContextVar("scalinglaws_cli_hints", default=False)


@contextlib.contextmanager
def cli_hints() -> Iterator[None]:
    """Inside this context, error hints name command-line options (`--target`, `--column`)."""
    token = _CLI_HINTS.set(True)
    try:
        yield
    finally:
        _CLI_HINTS.reset(token)


def hint(python: str, cli: str) -> str:
    """`python` (e.g. `"target="`) in the Python API, `cli` (e.g. `"--target"`) in the CLI."""
    return cli if _CLI_HINTS.get() else python


def column_fix(mapping: Mapping[str, str]) -> str:
    """How to map columns, in the caller's language: `--column a=N --column b=D` on the
    command line, `columns={'a': 'N', 'b': 'D'}` in Python."""
    if _CLI_HINTS.get():
        return " ".join(f"--column {src}={dst}" for src, dst in mapping.items())
    return f"columns={dict(mapping)!r}"


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
            raise MissingColumnError(f"{self._argument}: no column {column!r}; columns are {self.columns}")
        series = self.frame[column]
        if series.dtype == np.float64:
            return series.to_numpy()
        values = pd.to_numeric(series, errors="coerce")
        bad = values.isna().to_numpy() & series.notna().to_numpy()
        if bad.any():
            raise InputError(
                f"{self._argument}: column {column!r} has non-numeric values in row(s) {_rows(bad)} "
                f"(e.g. {series[bad].iloc[0]!r}). Fix or drop those rows."
            )
        return values.to_numpy(dtype=float, na_value=np.nan)

    def query(self, expression: str | None, *, argument: str = "query") -> Runs:
        """Rows matching a pandas-style expression, e.g. `"C < 1e21 and N > 1e8"`."""
        if expression is None or not str(expression).strip():
            return self
        try:
            selected = self.frame.query(expression, engine="python")
        except Exception as error:  # pandas raises many types for a bad expression
            detail = str(error).splitlines()[0] if str(error) else ""
            detail = detail if len(detail) <= 120 else detail[:117] + "..."
            raise InputError(
                f"{argument}={expression!r}: could not evaluate it as a condition on the columns "
                f"({type(error).__name__}: {detail}). Columns are {self.columns}."
            ) from None
        if not isinstance(selected, pd.DataFrame):  # e.g. query="N" selects no rows but a column
            raise InputError(f"{argument}={expression!r}: expected a condition such as 'N > 1e8'.")
        if len(selected) == 0:
            raise InputError(
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
            raise MissingColumnError(
                f"{self._argument}: missing column(s) {missing} ({why}). "
                f"Available columns: {self.columns}. Map yours with {column_fix(_guess(self.columns, missing))}."
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
    - `columns`: your column names -> the package's, e.g. `{"params": "N", "tokens": "D",
        "final_loss": "loss"}` (the CLI's `--column params=N`). The spellings in
        `KNOWN_SPELLINGS` are recognised without it, with a [`ColumnNote`][] warning.
    - `argument`: how error messages name `data`.

    **Returns:** a validated [`Runs`][].

    **Example:**

    ```python
    runs = sl.load_runs("mine.csv", columns={"size": "N", "toks": "D"})
    ```
    """
    if isinstance(data, Runs):
        runs = data
        if columns:
            frame = rename_columns(runs.frame, columns, argument=argument)
            runs = Runs(frame, source=runs.source, argument=argument)
    else:
        frame, source = read_table(data, argument=argument, kind="Runs")
        if len(frame) == 0:
            raise InputError(f"{argument}: the table from {source!r} has no rows (only a header?).")
        frame = rename_columns(frame, columns, argument=argument, known=KNOWN_SPELLINGS)
        runs = Runs(frame, source=source, argument=argument)
    return runs.query(query)


def read_table(data: Any, *, argument: str, kind: str, builtin: bool = True) -> tuple[pd.DataFrame, str]:
    """A pandas DataFrame and a description of its source, from a DataFrame, a dict of
    arrays, a CSV path or (when `builtin`) a built-in dataset name.

    Shared by the loaders of every table the package reads (runs, attempts, ...); `kind` names
    the loader's own table type in the error for an unsupported `data`. Every failure is an
    [`InputError`][scalinglaws.errors.InputError] naming `argument`.
    """
    if isinstance(data, pd.DataFrame):
        frame, source = data, "<DataFrame>"
    elif isinstance(data, Mapping):
        try:
            frame, source = pd.DataFrame({k: np.asarray(v) for k, v in data.items()}), "<dict>"
        except ValueError as error:
            raise InputError(f"{argument}: columns of the dict must have equal lengths ({error})") from None
    elif isinstance(data, (str, os.PathLike)):
        text = os.fspath(data)
        if isinstance(text, bytes):
            text = os.fsdecode(text)
        path, source = Path(text), text
        if builtin:
            from .datasets import dataset_path, list_datasets

            if text in list_datasets():
                path, source = dataset_path(text), f"dataset:{text}"
            elif not _exists(path, argument, text):
                raise InputError(
                    f"{argument}={text!r}: no such file, and not a built-in dataset "
                    f"(built-ins: {', '.join(list_datasets())})."
                )
        if not _exists(path, argument, text):
            raise InputError(f"{argument}={text!r}: no such file.")
        frame = _read_csv(path, f"{argument}={text!r}")
    else:
        names = "a CSV path, " + ("a dataset name, " if builtin else "") + f"a DataFrame, a dict of arrays or {kind}"
        raise TypeError(f"{argument}=...: expected {names}, got {type(data).__name__}.")
    duplicated = [str(c) for c in frame.columns[frame.columns.duplicated()]]
    if duplicated:
        raise InputError(f"{argument}: column name(s) {duplicated} appear more than once; rename them.")
    return frame, source


def _exists(path: Path, argument: str, text: str) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError) as error:  # a name too long, a NUL byte, ...
        raise InputError(f"{argument}={text!r}: not a usable file name ({error}).") from None


def _read_csv(path: Path, described: str) -> pd.DataFrame:
    """Read a CSV with pandas' pyarrow engine (multi-threaded, several times faster on large
    tables) when pyarrow is installed; otherwise, or when pyarrow refuses the file, with
    pandas' own C engine, whose error then names the problem."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        pass
    else:
        try:
            frame = pd.read_csv(path, engine="pyarrow")
        except MemoryError:
            raise
        except Exception:  # pyarrow refuses some files pandas reads (ragged quoting, ...)
            pass
        else:
            # pyarrow hands back cells that are not UTF-8 as raw bytes; pandas' engine then
            # names the problem (one cheap type inference per text column, not per row).
            if not any(_has_bytes(frame[c]) for c in frame.columns if frame[c].dtype == object):
                return frame
    try:
        return pd.read_csv(path)
    except MemoryError:
        raise
    except UnicodeDecodeError as error:
        raise InputError(f"{described}: not UTF-8 text ({error}). Save the table as UTF-8 CSV.") from None
    except Exception as error:  # pandas raises many types for a malformed file
        raise InputError(f"{described}: could not read it as CSV ({type(error).__name__}: {error}).") from None


def _has_bytes(series: pd.Series) -> bool:
    kind = pd.api.types.infer_dtype(series, skipna=True)
    return kind == "bytes" or (kind.startswith("mixed") and any(isinstance(v, bytes) for v in series))


def rename_columns(
    frame: pd.DataFrame,
    columns: Mapping[str, str] | None,
    *,
    argument: str = "data",
    known: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Rename `frame`'s columns: first the caller's `columns` (source -> destination), then
    any `known` spelling (e.g. `KNOWN_SPELLINGS`) whose destination is still absent, with a
    [`ColumnNote`][] saying which mapping was applied.

    A spelling is recognised only when it is the table's only candidate for its destination
    (a table with both `val_loss` and `eval_loss` has to say which one is `loss`).
    """
    if columns is not None and not isinstance(columns, Mapping):
        raise InputError(
            f"columns={columns!r}: expected a mapping from your column names to the package's, "
            "e.g. {'params': 'N'}."
        )
    columns = dict(columns or {})
    bad = [(s, d) for s, d in columns.items() if not (isinstance(s, str) and isinstance(d, str) and s and d)]
    if bad:
        raise InputError(f"{hint('columns=', '--column')}: expected non-empty names, got {bad}.")
    present = [str(c) for c in frame.columns]
    missing = [s for s in columns if s not in present]
    if missing:
        raise InputError(
            f"{hint('columns=', '--column')}: cannot rename missing column(s) {missing}; "
            f"columns are {present}."
        )
    targets = list(columns.values())
    twice = sorted({d for d in targets if targets.count(d) > 1})
    if twice:
        raise InputError(f"{hint('columns=', '--column')}: several columns are mapped to {twice}; map one each.")
    clash = [d for d in targets if d in present and d not in columns]
    if clash:
        raise InputError(
            f"{hint('columns=', '--column')}: the table already has column(s) {clash}; map another "
            "name, or rename or drop the existing column first."
        )
    final = [columns.get(c, c) for c in present]
    recognised: dict[str, str] = {}
    for destination in dict.fromkeys((known or {}).values()):
        if destination in final:
            continue
        candidates = [c for c in present if c not in columns and (known or {}).get(c) == destination]
        if len(candidates) == 1:
            recognised[candidates[0]] = destination
    if recognised:
        warnings.warn(
            f"{argument}: recognised column(s) "
            + ", ".join(f"{s!r} as {d!r}" for s, d in recognised.items())
            + f"; say so with {column_fix(recognised)} to silence this note.",
            ColumnNote,
            stacklevel=3,
        )
    mapping = {**columns, **recognised}
    return frame.rename(columns=mapping) if mapping else frame


def _guess(available: Iterable[str], missing: Iterable[str]) -> dict[str, str]:
    """For a missing-column hint: the most similar available column for each missing one
    (a placeholder when none is close), e.g. `{'size': 'N', 'YOUR_COLUMN': 'D'}`."""
    available = [str(c) for c in available]
    inverse = {}
    for spelling, destination in KNOWN_SPELLINGS.items():
        inverse.setdefault(destination, []).append(spelling)
    guesses: dict[str, str] = {}
    for name in missing:
        candidates = [c for c in available if c in inverse.get(name, ()) and c not in guesses]
        if not candidates:
            close = difflib.get_close_matches(name, [c for c in available if c not in guesses], n=1, cutoff=0.6)
            candidates = close
        source = candidates[0] if candidates else f"YOUR_{name.upper()}_COLUMN"
        guesses[source] = name
    return guesses


def _derive_columns(frame: pd.DataFrame, argument: str) -> pd.DataFrame:
    has = set(frame.columns)
    if "C" not in has and {"N", "D"} <= has:
        _check_values(frame, ["N", "D"], argument)
        frame["C"] = 6.0 * frame["N"].to_numpy(dtype=float) * frame["D"].to_numpy(dtype=float)
    elif "D" not in has and {"N", "C"} <= has:
        _check_values(frame, ["N", "C"], argument)
        frame["D"] = frame["C"].to_numpy(dtype=float) / (6.0 * frame["N"].to_numpy(dtype=float))
    return frame


def _check_values(frame: pd.DataFrame, columns: Iterable[str], argument: str) -> None:
    """Vectorised checks of numeric columns (one pass per column, none per row); a column
    that passes is stored back as float64 so that later readers see numbers."""
    for column in columns:
        series = frame[column]
        if not pd.api.types.is_float_dtype(series.dtype) or series.dtype != np.float64:
            values = pd.to_numeric(series, errors="coerce")
            bad_type = values.isna().to_numpy() & series.notna().to_numpy()
            if bad_type.any():
                rows = _rows(bad_type)
                example = series[bad_type].iloc[0]
                raise InputError(
                    f"{argument}: column {column!r} has non-numeric values in row(s) {rows} "
                    f"(e.g. {example!r}). Fix or drop those rows."
                )
            array = values.to_numpy(dtype=float, na_value=np.nan)
        else:
            array = series.to_numpy()
        nonfinite = ~np.isfinite(array)
        if nonfinite.any():
            raise InputError(
                f"{argument}: column {column!r} has NaN or infinite values in row(s) "
                f"{_rows(nonfinite)} (empty cells read as NaN). Drop those rows (e.g. with a query) or fill them."
            )
        if column in POSITIVE_COLUMNS and (array <= 0).any():
            raise InputError(
                f"{argument}: column {column!r} must be positive, but row(s) {_rows(array <= 0)} "
                f"are <= 0. Scaling laws work in log space: drop or fix those rows."
            )
        if series.dtype != np.float64:
            frame[column] = array


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
