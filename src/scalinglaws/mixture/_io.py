"""Saving and loading mixture fits (JSON, atomic, exact round trip)."""

from __future__ import annotations

import json
import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import InputError
from ..io import DocumentKind, law_from_dict, law_to_dict, read_document
from ..output import write_text
from ..precision import float64
from ._fit import MixtureFit
from ._laws import AbstractMixingLaw

DOCUMENT = DocumentKind("scalinglaws.mixture", 1, "mixture fit", "Re-run `scalinglaws mix fit --out`.")


@float64
def save_mixture_fit(fit: MixtureFit, path: str | os.PathLike, **metadata: Any) -> None:
    """Write a [`MixtureFit`][] to `path` as JSON, atomically (one law per target column;
    floats are written with `repr`, so they read back bit for bit)."""
    if not isinstance(fit, MixtureFit):
        raise TypeError(f"fit=...: expected a MixtureFit, got {type(fit).__name__}.")
    document = {
        **DOCUMENT.header(),
        "targets": list(fit.targets),
        "laws": {t: law_to_dict(fit.law_for(t)) for t in fit.targets},
        "objective": [float(v) for v in np.asarray(fit.objective)],
        "converged": [bool(v) for v in np.asarray(fit.converged)],
        "n_agree": [int(v) for v in np.asarray(fit.n_agree)],
        "n_points": int(fit.n_points),
        "weight_range": None if fit.weight_range is None else np.asarray(fit.weight_range, float).tolist(),
        "fitted_scales": {column: list(values) for column, values in fit.fitted_scales},
        "metadata": metadata,
    }
    write_text(path, json.dumps(document, indent=2) + "\n", "save_mixture_fit(path=...)")


@float64
def load_mixture_fit(path: str | os.PathLike, *, allow_import: bool = False) -> MixtureFit:
    """Read a fit written by [`save_mixture_fit`][] (or `scalinglaws mix fit --out`).

    The file is data: see `scalinglaws.load_fit` for `allow_import`.
    """
    document, argument = read_document(path, DOCUMENT)
    try:
        targets = tuple(document["targets"])
        laws = [law_from_dict(document["laws"][t], source=argument, allow_import=allow_import) for t in targets]
        m = len(targets)
        objective = np.asarray(document["objective"], dtype=float).reshape(m)
        converged = np.asarray(document["converged"], dtype=bool).reshape(m)
        n_agree = np.asarray(document["n_agree"], dtype=int).reshape(m)
        n_points = int(document["n_points"])
        weight_range = document.get("weight_range")
        if weight_range is not None:
            weight_range = jnp.asarray(np.asarray(weight_range, dtype=float).reshape(len(laws[0].domains), 2))
    except InputError:
        raise
    except (KeyError, TypeError, ValueError) as error:
        raise InputError(f"{argument}: missing or malformed entries ({error!r}).") from None
    if not targets or not all(isinstance(law, AbstractMixingLaw) for law in laws):
        raise InputError(f"{argument}: expected at least one mixing law.")
    if len({(type(law), tuple(sorted(law.static_fields.items()))) for law in laws}) != 1:
        raise InputError(f"{argument}: the targets' laws differ in type or domains.")
    batched = jax.tree.map(lambda *leaves: jnp.stack(leaves), *laws)
    return MixtureFit(
        law=batched, objective=jnp.asarray(objective), converged=jnp.asarray(converged),
        n_agree=jnp.asarray(n_agree), weight_range=weight_range, targets=targets, n_points=n_points,
        fitted_scales=_scales(document.get("fitted_scales"), argument),
    )


def _scales(value, argument: str) -> tuple:
    """`fitted_scales` of a file: {column: [value, ...]} (absent in older files)."""
    if value is None:
        return ()
    if not isinstance(value, dict) or not all(isinstance(v, list) for v in value.values()):
        raise InputError(f"{argument}: 'fitted_scales' must map column names to lists; the file is corrupt.")
    return tuple((str(c), tuple(str(v) for v in values)) for c, values in value.items())
