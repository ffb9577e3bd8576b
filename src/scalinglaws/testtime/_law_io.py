"""Saving and loading fitted coverage laws (JSON, written atomically)."""

from __future__ import annotations

import json
import os
from typing import Any

from ..io import atomic_write_text, law_from_dict, law_to_dict, read_document
from ..laws import AbstractLaw

FORMAT = "scalinglaws.coverage"
VERSION = 1


def save_coverage_law(law: AbstractLaw, path: str | os.PathLike, **metadata: Any) -> None:
    """Write a coverage law (and `metadata`, e.g. the fit's log likelihood) to `path`, atomically."""
    if tuple(law.inputs) != ("k",):
        raise TypeError(f"law: expected a coverage law with input 'k', got {type(law).__name__}.")
    document = {"format": FORMAT, "version": VERSION, "law": law_to_dict(law), "metadata": metadata}
    atomic_write_text(path, json.dumps(document, indent=2, sort_keys=True) + "\n")


def load_coverage_law(path: str | os.PathLike, *, with_metadata: bool = False):
    """Read a law written by [`save_coverage_law`][] (or `scalinglaws testtime fit --out`).

    A truncated or corrupt file raises a `ValueError` that says so.
    """
    document, argument = read_document(
        path,
        format=FORMAT,
        version=VERSION,
        what="coverage law",
        remedy="Re-run `scalinglaws testtime fit --out`.",
    )
    law = law_from_dict(document.get("law", {}), source=argument)
    if tuple(law.inputs) != ("k",):
        raise ValueError(f"{argument}: holds {type(law).__name__}, not a coverage law in k.")
    return (law, dict(document.get("metadata", {}))) if with_metadata else law
