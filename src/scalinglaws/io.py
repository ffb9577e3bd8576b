"""Saving and loading fitted laws: JSON, written atomically, read back bit-for-bit."""

from __future__ import annotations

import importlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .laws import AbstractLaw
from .laws._registry import _REGISTRY

FORMAT = "scalinglaws.fit"
VERSION = 1


@dataclass(frozen=True)
class SavedFit:
    """A fit read back from disk: the law and the metadata stored beside it."""

    law: AbstractLaw
    metadata: dict[str, Any] = field(default_factory=dict)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write `text` to `path` atomically: a temporary file in the same folder, then rename,
    so a reader never sees a half-written file."""
    path = Path(path)
    if path.parent and not path.parent.exists():
        raise ValueError(f"out={str(path)!r}: the folder {str(path.parent)!r} does not exist.")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def law_to_dict(law: AbstractLaw) -> dict[str, Any]:
    """JSON-ready description of a (scalar) law. Floats survive a JSON round trip exactly."""
    cls = type(law)
    coefficients = {}
    for name, value in law.coefficients.items():
        array = np.asarray(value, dtype=float)
        # Python floats (repr) survive JSON exactly; vectors are stored as lists of them.
        coefficients[name] = float(array) if array.ndim == 0 else array.tolist()
    return {
        "class": f"{cls.__module__}:{cls.__qualname__}",
        "static": {k: list(v) if isinstance(v, tuple) else v for k, v in law.static_fields.items()},
        "coefficients": coefficients,
    }


def law_from_dict(spec: dict[str, Any], *, source: str = "law") -> AbstractLaw:
    try:
        module_name, _, qualname = spec["class"].partition(":")
        cls = getattr(importlib.import_module(module_name), qualname)
        static = {k: tuple(v) if isinstance(v, list) else v for k, v in spec.get("static", {}).items()}
        return cls(**spec["coefficients"], **static)
    except Exception as error:
        raise ValueError(f"{source}: cannot rebuild the law from {spec!r} ({error}).") from None


def law_name(law: AbstractLaw) -> str:
    """The registry name of a law instance, if it has one, else `module:Class`."""
    for name, factory in _REGISTRY.items():
        try:
            candidate = factory()
        except Exception:  # a user factory that needs arguments
            continue
        if type(candidate) is type(law) and candidate.static_fields == law.static_fields:
            return name
    cls = type(law)
    return f"{cls.__module__}:{cls.__qualname__}"


def fit_to_dict(result) -> dict[str, Any]:
    """JSON-ready summary of a `FitResult` (what the CLI prints with `--json`)."""
    return {
        "law": law_name(result.law),
        "formula": result.law.formula,
        "coefficients": {k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in result.coefficients.items()},
        "objective": float(result.objective),
        "n_points": result.n_points,
        "converged": bool(result.converged),
        "message": result.message,
        "loss": result.loss,
        "delta": result.delta,
        "target": result.target,
        "inputs": list(result.inputs),
        "fixed": list(result.fixed),
        "ties": {f: l for f, l in result.ties},
        "n_agree": int(result.n_agree),
        "n_starts": int(np.size(result.start_objectives)),
        "n_refined": int(np.size(result.refined_objectives)),
        "data_fingerprint": result.data_fingerprint,
    }


def save_fit(result_or_law, path: str | os.PathLike, **metadata: Any) -> None:
    """Write a fit (a `FitResult` or a law) to `path` as JSON, atomically.

    Extra keyword `metadata` (data source, query, ...) is stored beside it.
    """
    if isinstance(result_or_law, AbstractLaw):
        law, summary = result_or_law, {}
    else:
        law, summary = result_or_law.law, fit_to_dict(result_or_law)
    document = {
        "format": FORMAT,
        "version": VERSION,
        "law": law_to_dict(law),
        "fit": summary,
        "metadata": metadata,
    }
    atomic_write_text(path, json.dumps(document, indent=2, sort_keys=True) + "\n")


def read_document(
    path: str | os.PathLike, *, format: str, version: int, what: str, remedy: str
) -> tuple[dict[str, Any], str]:
    """Read a JSON document written by this package and check its `format` and `version`.

    Returns the document and a description of the file for error messages. A missing,
    truncated or corrupt file, or one of another kind, raises a `ValueError` that says so
    and what to do (`remedy`, e.g. "Re-run the fit with --out.").
    """
    path = Path(path)
    argument = f"{what} file {str(path)!r}"
    if not path.exists():
        raise ValueError(f"{argument}: no such file.")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(
            f"{argument}: not valid JSON ({error}); the file is truncated or corrupt. {remedy}"
        ) from None
    if not isinstance(document, dict) or document.get("format") != format:
        raise ValueError(f"{argument}: not a scalinglaws {what} file (expected format {format!r}).")
    if document.get("version") != version:
        raise ValueError(f"{argument}: version {document.get('version')!r} is not supported (expected {version}).")
    return document, argument


def load_fit(path: str | os.PathLike) -> SavedFit:
    """Read a fit written by [`save_fit`][] (or `scalinglaws fit --out`)."""
    document, argument = read_document(
        path, format=FORMAT, version=VERSION, what="fit", remedy="Re-run the fit with --out."
    )
    law = law_from_dict(document.get("law", {}), source=argument)
    metadata = dict(document.get("metadata", {}))
    metadata["fit"] = document.get("fit", {})
    return SavedFit(law=law, metadata=metadata)
