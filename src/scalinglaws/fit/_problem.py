"""Validated inputs of a fit: the law, the runs, and the arrays a fitter or sampler needs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..data import Runs, hint, load_runs
from ..errors import IdentifiabilityError
from ..laws import AbstractLaw, get_law
from ._parameterization import Parameterization, make_parameterization
from ._resample import run_groups


@dataclass(frozen=True)
class FitProblem:
    """What every estimator (point fit, bootstrap, posterior) starts from.

    **Fields:** `template` (the law), `runs` (validated, filtered), `param` (free, fixed and
    tied coefficients), `x` (covariates, name -> float64 array), `y` (the positive target),
    `weights` (per run), `target` (the target column's name).
    """

    template: AbstractLaw
    runs: Runs
    param: Parameterization
    x: dict[str, np.ndarray]
    y: np.ndarray
    weights: np.ndarray
    target: str
    groups: np.ndarray | None = None


def prepare_problem(
    law: Any,
    data: Any,
    *,
    query: str | None = None,
    target: str | None = None,
    weights: str | np.ndarray | None = None,
    fix: Mapping[str, float] | None = None,
    tie: Mapping[str, str] | None = None,
    extra_parameters: int = 0,
    group: str | None = None,
    columns: Mapping[str, str] | None = None,
) -> FitProblem:
    """Load and validate runs for a law, with errors that name the argument at fault.

    `extra_parameters` counts estimated quantities beyond the law's free coefficients (a
    noise scale, say) when checking that there are enough runs. `group` names a run-id
    column (see [`run_groups`][]); `groups` is then an integer code per row.

    **Raises:** `IdentifiabilityError` when there are fewer rows, or fewer *distinct* input
    points, than free coefficients (all rows identical, say): no fit can identify the law.
    """
    template = get_law(law)
    runs = load_runs(data, query=query, columns=columns)
    target = target or type(template).target
    inputs = tuple(template.inputs)
    runs.require(inputs, why=f"the law {type(template).__name__} reads {list(inputs)}")
    runs.require([target], why=f"the fitted target is {target!r}; choose another with {hint('target=', '--target')}")
    if target in inputs:
        raise ValueError(f"target={target!r}: the target cannot also be an input of the law {list(inputs)}.")
    y = runs[target]
    if (y <= 0).any():
        raise ValueError(f"target={target!r}: values must be positive to fit in log space.")
    param = make_parameterization(template, fix, tie)
    needed = len(param.free) + extra_parameters
    what = f"{len(param.free)} free coefficients {list(param.free)}"
    if extra_parameters:
        what += f" and {extra_parameters} more estimated quantit{'y' if extra_parameters == 1 else 'ies'}"
    if len(runs) < needed:
        raise IdentifiabilityError(
            f"data: {len(runs)} rows but {what}; a fit needs at least as many runs. "
            "Add runs, or fix or tie coefficients."
        )
    x = runs.arrays(inputs)
    distinct = len(np.unique(np.column_stack([x[c] for c in inputs]), axis=0)) if inputs else 1
    if distinct < len(param.free):
        identical = " (all rows have the same inputs)" if distinct == 1 else ""
        raise IdentifiabilityError(
            f"data: only {distinct} distinct value(s) of the inputs {list(inputs)}{identical} but {what}; "
            "the law cannot be identified: repeated rows add no information about its shape. "
            "Add runs at other scales, or fix or tie coefficients (`fix=`, `tie=`)."
        )
    return FitProblem(
        template=template,
        runs=runs,
        param=param,
        x=x,
        y=y,
        weights=_weights(weights, runs),
        target=target,
        groups=run_groups(runs, group),
    )


def _weights(weights, runs: Runs) -> np.ndarray:
    if weights is None:
        return np.ones(len(runs))
    if isinstance(weights, str):
        runs.require([weights], why="named by weights=")
        w = runs[weights]
    else:
        w = np.asarray(weights, dtype=float)
        if w.shape != (len(runs),):
            raise ValueError(f"weights: expected {len(runs)} values (one per run), got shape {w.shape}.")
    if not np.all(np.isfinite(w)) or (w < 0).any() or not (w > 0).any():
        raise ValueError("weights: must be finite, non-negative and not all zero.")
    return w
