"""Saving and loading fitted laws: JSON, written atomically, read back bit-for-bit.

Law files are data: a file names its law by registered name (plus static fields and
coefficients), and loading never imports or calls anything the file names unless the
caller opts in with `allow_import=True` (see `scalinglaws.laws.resolve_law`).
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ConvergenceWarning, InputError
from .laws import AbstractLaw, law_path, resolve_law, validate_coefficients, validate_static
from .laws import law_name as _registered_name
from .output import write_text
from .precision import float64



@dataclass(frozen=True)
class DocumentKind:
    """A kind of JSON file this package writes, declared once in its home module and used
    both to write its header and to read it back ([`read_document`][]).

    **Fields:** `format` (the `"format"` tag), `version`, `what` (how errors name the file,
    e.g. `"fit"`), `remedy` (what to do when one is damaged, e.g. "Re-run the fit with --out.").
    """

    format: str
    version: int
    what: str
    remedy: str

    def header(self) -> dict[str, Any]:
        """`{"format": ..., "version": ...}`, the first keys of every document of this kind."""
        return {"format": self.format, "version": self.version}


FIT_DOCUMENT = DocumentKind("scalinglaws.fit", 1, "fit", "Re-run the fit with --out.")


@dataclass(frozen=True)
class SavedFit:
    """A fit read back from disk: the law and the metadata stored beside it."""

    law: AbstractLaw
    metadata: dict[str, Any] = field(default_factory=dict)


def law_to_dict(law: AbstractLaw) -> dict[str, Any]:
    """JSON-ready description of a (scalar) law. Floats survive a JSON round trip exactly.

    `"law"` is the registered name (`None` for an unregistered law); `"class"` the
    `module:Class` path, for information and for files of unregistered laws.
    """
    coefficients = {}
    for name, value in law.coefficients.items():
        array = np.asarray(value, dtype=float)
        # Python floats (repr) survive JSON exactly; vectors are stored as lists of them.
        coefficients[name] = float(array) if array.ndim == 0 else array.tolist()
    return {
        "law": _registered_name(law),
        "class": law_path(type(law)),
        "static": {k: list(v) if isinstance(v, tuple) else v for k, v in law.static_fields.items()},
        "coefficients": coefficients,
    }


def law_from_dict(spec: Any, *, source: str = "law", allow_import: bool = False) -> AbstractLaw:
    """Rebuild a law written by [`law_to_dict`][], treating the file as data.

    The law is resolved by registered name (or, in older files, by a `module:Class` path
    of a registered or already imported law) without importing anything unless
    `allow_import=True`; static fields and coefficients are validated first.

    **Raises:** `InputError` naming `source` (and the coefficient or field).
    """
    if not isinstance(spec, dict):
        raise InputError(f"{source}: the law entry is missing or not an object.")
    name, path = spec.get("law"), spec.get("class")
    if name is not None:
        cls, registered_static = resolve_law(name, allow_import=False, source=source)
        if isinstance(path, str) and path != law_path(cls):
            raise InputError(
                f"{source}: the file names law {name!r} of class {path!r}, but {name!r} is registered "
                f"here as {law_path(cls)!r}; register the right law under that name before loading."
            )
    elif path is not None:
        cls, registered_static = resolve_law(path, allow_import=allow_import, source=source)
    else:
        raise InputError(f"{source}: the law entry names no law (no 'law' or 'class').")
    static = {**registered_static, **validate_static(cls, spec.get("static", {}), source=source)}
    coefficients = validate_coefficients(cls, spec.get("coefficients"), source=source, static=static)
    try:
        return cls(**coefficients, **static)
    except (ValueError, TypeError) as error:
        raise InputError(f"{source}: cannot rebuild the law {cls.__name__} ({error}).") from None


def law_name(law: AbstractLaw) -> str:
    """The registry name of a law instance, if it has one, else `module:Class`."""
    return _registered_name(law) or law_path(type(law))


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
        # The fitted data's ranges: `forecast`/`allocate --fit` report how far beyond the
        # largest fitted compute they extrapolate (issue 12.6). Absent from older files.
        "input_ranges": {name: [lo, hi] for name, (lo, hi) in getattr(result, "ranges", {}).items()},
        "max_compute": getattr(result, "max_compute", None),
    }


@float64
def save_fit(result_or_law, path: str | os.PathLike, **metadata: Any) -> None:
    """Write a fit (a `FitResult` or a law) to `path` as JSON, atomically.

    Extra keyword `metadata` (data source, query, ...) is stored beside it.
    """
    if isinstance(result_or_law, AbstractLaw):
        law, summary = result_or_law, {}
    else:
        law, summary = result_or_law.law, fit_to_dict(result_or_law)
    document = {
        **FIT_DOCUMENT.header(),
        "law": law_to_dict(law),
        "fit": summary,
        "metadata": metadata,
    }
    write_text(path, json.dumps(document, indent=2, sort_keys=True) + "\n", "save_fit(path=...)")


def read_document(path: str | os.PathLike, kind: DocumentKind) -> tuple[dict[str, Any], str]:
    """Read a JSON document written by this package and check its `format` and `version`
    against `kind` (a [`DocumentKind`][]).

    Returns the document and a description of the file for error messages. A missing,
    truncated or corrupt file, or one of another kind, raises an `InputError` that says so
    and what to do (`kind.remedy`). Nothing in the document is imported or executed: it is
    parsed as JSON only.
    """
    format, version, what, remedy = kind.format, kind.version, kind.what, kind.remedy
    path = Path(path)
    argument = f"{what} file {str(path)!r}"
    if not path.exists():
        raise InputError(f"{argument}: no such file.")
    if not path.is_file():
        raise InputError(f"{argument}: not a regular file.")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as error:
        raise InputError(
            f"{argument}: not valid JSON ({error}); the file is truncated or corrupt. {remedy}"
        ) from None
    except OSError as error:
        raise InputError(f"{argument}: cannot read it ({error.strerror}).") from None
    if not isinstance(document, dict) or document.get("format") != format:
        raise InputError(f"{argument}: not a scalinglaws {what} file (expected format {format!r}).")
    if document.get("version") != version:
        raise InputError(f"{argument}: version {document.get('version')!r} is not supported (expected {version}).")
    return document, argument


@float64
def load_fit(path: str | os.PathLike, *, allow_import: bool = False) -> SavedFit:
    """Read a fit written by [`save_fit`][] (or `scalinglaws fit --out`).

    The file is data: its law must be registered (built in, or with
    `scalinglaws.laws.register_law` before loading) or already imported; `allow_import=True`
    lets the loader import the module the file names (only for files you trust). A fit saved
    with `converged: false` loads, with a `scalinglaws.ConvergenceWarning`.
    """
    document, argument = read_document(path, FIT_DOCUMENT)
    law = law_from_dict(document.get("law"), source=argument, allow_import=allow_import)
    metadata, summary = document.get("metadata", {}), document.get("fit", {})
    if not isinstance(metadata, dict) or not isinstance(summary, dict):
        raise InputError(f"{argument}: 'metadata' and 'fit' must be objects; the file is corrupt.")
    metadata = dict(metadata, fit=summary)
    if summary.get("converged") is False:  # saved for inspection; never used quietly
        warnings.warn(
            f"{argument}: this fit did not converge ({summary.get('message') or 'no message'}); "
            "forecasts and allocations from it are doubtful. Refit before relying on them.",
            ConvergenceWarning,
            stacklevel=2,
        )
    return SavedFit(law=law, metadata=metadata)
