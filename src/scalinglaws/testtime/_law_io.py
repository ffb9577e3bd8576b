"""Saving and loading fitted coverage laws (JSON, written atomically)."""

from __future__ import annotations

import json
import os
from typing import Any

from ..errors import InputError
from ..io import DocumentKind, law_from_dict, law_to_dict, read_document
from ..laws import AbstractLaw, register_law
from ..output import write_text
from ..precision import float64
from ._coverage import BetaCoverage, ExpPowerLaw

DOCUMENT = DocumentKind("scalinglaws.coverage", 1, "coverage law", "Re-run `scalinglaws testtime fit --out`.")

# Registered (unlisted: they are not laws of loss in N, D, C) so that coverage files name
# their law by registered name, like every other law file.
register_law("coverage-beta", BetaCoverage, listed=False)
register_law("coverage-exp-power", ExpPowerLaw, listed=False)


@float64
def save_coverage_law(law: AbstractLaw, path: str | os.PathLike, **metadata: Any) -> None:
    """Write a coverage law (and `metadata`, e.g. the fit's log likelihood) to `path`, atomically."""
    if tuple(law.inputs) != ("k",):
        raise TypeError(f"law: expected a coverage law with input 'k', got {type(law).__name__}.")
    document = {**DOCUMENT.header(), "law": law_to_dict(law), "metadata": metadata}
    write_text(path, json.dumps(document, indent=2, sort_keys=True) + "\n", "save_coverage_law(path=...)")


@float64
def load_coverage_law(path: str | os.PathLike, *, with_metadata: bool = False, allow_import: bool = False):
    """Read a law written by [`save_coverage_law`][] (or `scalinglaws testtime fit --out`).

    A truncated or corrupt file raises a `ValueError` that says so. The file is data: see
    `scalinglaws.load_fit` for `allow_import`.
    """
    document, argument = read_document(path, DOCUMENT)
    law = law_from_dict(document.get("law"), source=argument, allow_import=allow_import)
    if tuple(law.inputs) != ("k",):
        raise InputError(f"{argument}: holds {type(law).__name__}, not a coverage law in k.")
    metadata = document.get("metadata", {})
    if not isinstance(metadata, dict):
        raise InputError(f"{argument}: 'metadata' must be an object; the file is corrupt.")
    return (law, dict(metadata)) if with_metadata else law
