"""Output of sweeps (`--by`, `--per`, several `--law`): shared by `fit`, `holdout` and `bootstrap`."""

from __future__ import annotations

import click

from ._common import print_json, warn_once

# A fit in a sweep that failed outright can have an infinite objective or coefficients: it
# is reported (`converged: false`, its message) with nulls rather than stopping the sweep.
NULLABLE = ("fits*.objective", "fits*.coefficients.*", "fits*.coefficients.*[*]")


def sweep_output(result, as_json: bool) -> None:
    """Print a `SweepResult`: `{"by", "fits": [...], "skipped": [...]}` with `--json`, else
    one line per fit. Fits that did not converge also get one `warning:` line each."""
    if as_json:
        print_json(result.as_dict(), nullable=NULLABLE)
    else:
        click.echo(result.summary())
    for item in result:
        if not bool(item.result.converged):
            warn_once(f"{result.by}={item.group!r} ({item.law}): {item.result.message}")
