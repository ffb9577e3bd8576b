"""Helpers shared by the CLI sub-commands."""

from __future__ import annotations

import json
import math
import sys
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
        out[name] = value
    return out


def to_jsonable(value: Any) -> Any:
    """Make numbers JSON-safe: NaN and infinities become null (JSON has no NaN)."""
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return to_jsonable(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def print_json(document: dict[str, Any]) -> None:
    click.echo(json.dumps(to_jsonable(document), indent=2))


def progress_printer(enabled: bool):
    """Stage messages on stderr, so that stdout stays clean for `--json`."""
    if not enabled:
        return False
    return lambda text: print(f"[scalinglaws] {text}", file=sys.stderr, flush=True)
