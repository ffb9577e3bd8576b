"""Helpers shared by the CLI sub-commands."""

from __future__ import annotations

import contextlib
import contextvars
import fnmatch
import json
import math
import warnings
from collections.abc import Iterator
from typing import Any

import click


def parse_assignments(items: tuple[str, ...], option: str, *, numeric: bool) -> dict[str, Any]:
    """`("alpha=0.3", ...)` -> `{"alpha": 0.3}`; a clear error naming the option otherwise."""
    out: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name or not value:
            raise click.BadParameter(f"expected NAME=VALUE, got {item!r}", param_hint=option)
        if numeric:
            try:
                value = float(value)
            except ValueError:
                raise click.BadParameter(f"{name}={value!r} is not a number", param_hint=option) from None
            if not math.isfinite(value):
                raise click.BadParameter(f"{name}={value!r} is not a finite number", param_hint=option)
        if name in out:
            raise click.BadParameter(f"{name} is given twice", param_hint=option)
        out[name] = value
    return out


class FiniteFloat(click.ParamType):
    """A float option that must be finite and positive (or, with `allow_zero`, >= 0):
    `--budget nan`, `--budget -1` and `--budget inf` are usage errors naming the option."""

    name = "float"

    def __init__(self, *, allow_zero: bool = False):
        self.allow_zero = allow_zero

    def convert(self, value, param, ctx):
        if isinstance(value, float):
            number = value
        else:
            try:
                number = float(value)
            except (TypeError, ValueError):
                self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(number) or number < 0 or (number == 0 and not self.allow_zero):
            self.fail(f"{value!r}: must be {'>= 0' if self.allow_zero else 'positive'} and finite", param, ctx)
        return number


POSITIVE = FiniteFloat()
NON_NEGATIVE = FiniteFloat(allow_zero=True)


class NonFiniteResult(click.ClickException):
    """A result that is not a number (NaN or infinite): an error, never a `null` in the output.

    Exit status 1, like bad data: such results come from inputs outside the range where a
    law or method is defined (a NaN coefficient, an overflowing budget, ...).
    """

    exit_code = 1


def to_jsonable(value: Any, *, nullable: tuple[str, ...] = (), path: str = "") -> Any:
    """Make a result JSON-ready: arrays become lists, NumPy scalars Python numbers.

    A NaN or infinity raises [`NonFiniteResult`][] naming the field (e.g.
    `allocations[0].loss`), except in fields matching one of the `nullable` glob patterns
    (fields documented as possibly undefined), where it becomes `null`.
    """
    if isinstance(value, dict):
        return {
            k: to_jsonable(v, nullable=nullable, path=f"{path}.{k}" if path else str(k))
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v, nullable=nullable, path=f"{path}[{i}]") for i, v in enumerate(value)]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return to_jsonable(value.tolist(), nullable=nullable, path=path)
    if isinstance(value, float) and not math.isfinite(value):
        if any(fnmatch.fnmatchcase(path, pattern) for pattern in nullable):
            return None
        raise NonFiniteResult(
            f"the result {path or 'value'} is {value} (not a finite number), so nothing was printed "
            "or written. The inputs are outside the range where the law or method is defined: "
            "check the coefficients, budgets and sizes."
        )
    return value


def checked(document: dict[str, Any], *, nullable: tuple[str, ...] = ()) -> dict[str, Any]:
    """`document` made JSON-ready, or a [`NonFiniteResult`][] naming the first bad field.
    Commands call this before writing any file or printing anything (text or JSON)."""
    return to_jsonable(document, nullable=nullable)


def drop_none(value: Any) -> Any:
    """`value` without the dict entries that are None (optional fields that do not apply:
    absent from the output rather than `null`)."""
    if isinstance(value, dict):
        return {k: drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_none(v) for v in value]
    return value


def print_json(document: dict[str, Any], *, nullable: tuple[str, ...] = ()) -> None:
    click.echo(json.dumps(checked(document, nullable=nullable), indent=2, allow_nan=False))


def column_option(function):
    """`--column SRC=DST` (repeatable): the user's own column names, for commands that read a table."""
    return click.option(
        "--column",
        "column_map",
        multiple=True,
        metavar="SRC=DST",
        help="Read your column SRC as DST, e.g. --column params=N (repeatable). Common "
        "spellings (params, tokens, flops, final_loss, val_loss, ...) are recognised without it.",
    )(function)


def parse_columns(items: tuple[str, ...]) -> dict[str, str] | None:
    """`--column` values -> the `columns=` mapping of the Python API (None when not given)."""
    mapping = parse_assignments(items, "--column", numeric=False)
    return mapping or None


# Diagnostics already shown in this command (warnings, non-convergence notes): each once.
_SHOWN: contextvars.ContextVar[set[str] | None] = contextvars.ContextVar("scalinglaws_shown", default=None)


def warn_once(text: str, *, prefix: str = "warning") -> None:
    """One line `warning: text` on stderr, unless the same text was already shown."""
    shown = _SHOWN.get()
    if shown is not None:
        if text in shown:
            return
        shown.add(text)
    click.echo(f"{prefix}: {text}", err=True)


@contextlib.contextmanager
def one_line_warnings() -> Iterator[None]:
    """Inside: Python warnings print as one line each on stderr (`note: ...` for a
    [`ColumnNote`][scalinglaws.errors.ColumnNote], `warning: ...` otherwise), each distinct
    text once, instead of Python's `file:line: Category: message`. Restored on exit."""
    from scalinglaws.errors import ColumnNote

    def show(message, category, filename, lineno, file=None, line=None):
        warn_once(str(message), prefix="note" if issubclass(category, ColumnNote) else "warning")

    token = _SHOWN.set(set())
    try:
        with warnings.catch_warnings():
            warnings.showwarning = show
            yield
    finally:
        _SHOWN.reset(token)


def progress_printer(enabled: bool):
    """Stage messages on stderr (`scalinglaws.progress`), so that stdout stays clean for `--json`."""
    from scalinglaws.progress import reporter

    return reporter(True) if enabled else False
