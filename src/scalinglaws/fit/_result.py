"""The result of a fit."""

from __future__ import annotations

import dataclasses

import equinox as eqx
import numpy as np
import optimistix as optx
from jaxtyping import Array

from ..data import hint
from ..laws import AbstractLaw

# Refined starts whose objective is within this relative distance of the best one (or
# within the absolute distance, for fits that reach zero on noiseless data) count as having
# reached the same optimum.
AGREEMENT_RTOL = 1e-6
AGREEMENT_ATOL = 1e-14


def ranged_columns(x, runs=None) -> dict:
    """The columns whose ranges a fit stores: the fitted inputs `x` (column -> array), and
    the runs' `C` column when present."""
    columns = dict(x)
    if runs is not None and "C" not in columns and "C" in getattr(runs, "columns", ()):
        columns["C"] = runs["C"]
    return columns


def input_ranges(x, runs=None) -> tuple[tuple[str, float, float], ...]:
    """`(column, min, max)` of the [`ranged_columns`][] of `x` and `runs`: stored on a
    [`FitResult`][] (and in saved fits) so that later forecasts can say how far they
    extrapolate."""
    out = []
    for name, values in ranged_columns(x, runs).items():
        values = np.asarray(values, dtype=float)
        values = values[np.isfinite(values)]
        if values.size:
            out.append((str(name), float(values.min()), float(values.max())))
    return tuple(out)


def built_unchecked(cls: type[eqx.Module], **fields) -> eqx.Module:
    """An instance of the equinox Module `cls` from its fields (defaults where omitted),
    built as equinox builds one when it unflattens a pytree (`object.__new__`, then each
    field), without the checks `cls(...)` runs for common mistakes (JAX-transformed
    functions as fields, arrays in static fields, a `__check_init__`). Only for classes
    without converters or `__check_init__`, and fields a caller has already checked.

    Why: `_assemble` builds one `FitResult` per fit on the host, and the checked constructor
    takes about 65 us (25 fields, each flattened and checked): 0.07 s of a 1,000-group sweep,
    on one core, after the last lane ends and before the sweep returns."""
    self = object.__new__(cls)
    for field in dataclasses.fields(cls):
        if field.name in fields:
            value = fields.pop(field.name)
        elif field.default is not dataclasses.MISSING:
            value = field.default
        else:
            raise TypeError(f"built_unchecked({cls.__name__}): field {field.name!r} not given.")
        object.__setattr__(self, field.name, value)
    if fields:
        raise TypeError(f"built_unchecked({cls.__name__}): no field(s) {sorted(fields)}.")
    return self


class FitResult(eqx.Module):
    """What [`scalinglaws.fit`][] returns (a pytree: it can leave `jax.jit`).

    **Fields:**

    - `law`: the best law (coefficients in natural units).
    - `objective`: its objective value (sum of Huber or squared log residuals).
    - `converged`: True only if the solver stopped successfully at the best start, the
        objective is finite, at least two *distinct* refined starts reached the best
        objective (when two or more distinct starts were refined), and no free coefficient
        sits at the edge of its support or init range (see `at_edge`). When False, `fit`
        also issues a [`scalinglaws.ConvergenceWarning`][] and `message` says why.
    - `result`: the `optimistix.RESULTS` item of the best start (`optimistix.RESULTS[result]`
        is its message).
    - `solver_ok`: whether the solver stopped successfully at the best start.
    - `n_agree`: how many refined starts with *distinct starting points* reached the best
        objective (relative 1e-6); `n_distinct`: how many distinct starting points were
        refined (a start refined twice, or two identical starts, count once).
    - `at_edge`: one flag per free coefficient: its fitted value lies beyond its init range
        by more than `EDGE_MARGIN` in unconstrained space (E -> 0, an exponent -> 0, ...).
    - `start_objectives`: objective at every starting point (the screen), shape `(n_starts,)`.
    - `refined_starts`: indices (into the starts) of the starts that were refined.
    - `refined_objectives`, `refined_results`, `refined_steps`: per refined start.
    - `refined_law`: the batched law reached from every refined start (leading axis over
        refined starts); see `refined_coefficients`.
    - `free`, `fixed`, `ties`, `loss`, `delta`, `target`, `inputs`, `n_points`: settings.
    - `n_groups`: number of runs (groups of rows) when fitted with `group=`, else 0.
    - `data_fingerprint`: SHA-256 (16 hex digits) of the input and target columns fitted,
        which ties a saved fit to its data; empty from the array-level `fit_arrays`.
    - `input_ranges`: `(column, min, max)` of the fitted inputs and `C` (see `ranges`,
        `max_compute`); empty from the array-level `fit_arrays`.

    `repr()` shows values; `summary()` is a table; `to_dict()` is JSON-ready.
    """

    law: AbstractLaw
    objective: Array
    converged: Array
    result: optx.RESULTS
    solver_ok: Array
    n_agree: Array
    n_distinct: Array
    at_edge: Array
    start_objectives: Array
    refined_starts: Array
    refined_objectives: Array
    refined_results: optx.RESULTS
    refined_steps: Array
    refined_law: AbstractLaw
    free: tuple[str, ...] = eqx.field(static=True)
    fixed: tuple[str, ...] = eqx.field(static=True)
    ties: tuple[tuple[str, str], ...] = eqx.field(static=True)
    loss: str = eqx.field(static=True)
    delta: float = eqx.field(static=True)
    target: str = eqx.field(static=True)
    inputs: tuple[str, ...] = eqx.field(static=True)
    n_points: int = eqx.field(static=True)
    n_groups: int = eqx.field(static=True, default=0)
    data_fingerprint: str = eqx.field(static=True, default="")
    input_ranges: tuple[tuple[str, float, float], ...] = eqx.field(static=True, default=())

    @property
    def ranges(self) -> dict[str, tuple[float, float]]:
        """Column -> (smallest, largest) value fitted, for the law's inputs and `C` (FLOPs)
        when the table has it; empty from the array-level `fit_arrays`."""
        return {name: (lo, hi) for name, lo, hi in self.input_ranges}

    @property
    def max_compute(self) -> float | None:
        """The largest training compute `C` among the fitted runs (None when unknown):
        forecasts and allocations report how far beyond it they extrapolate."""
        return self.ranges.get("C", (None, None))[1]

    def to_dict(self) -> dict:
        """JSON-ready summary (what `scalinglaws fit --json` prints): `scalinglaws.io.fit_to_dict`."""
        from ..io import fit_to_dict

        return fit_to_dict(self)

    def __repr__(self) -> str:
        # Values, not `f64[]` shapes (issue 12.6); `summary()` has the full table.
        from ..results import value_repr

        return value_repr(
            "FitResult",
            {"law": self.law, "objective": self.objective, "converged": self.converged,
             "n_points": self.n_points, "message": self.message},
        )

    @property
    def coefficients(self) -> dict[str, float | np.ndarray]:
        """Coefficient name -> value in natural units (a float, or an array for vector
        coefficients such as a mixing law's `t`)."""
        return {
            k: float(v) if np.ndim(v) == 0 else np.asarray(v) for k, v in self.law.coefficients.items()
        }

    @property
    def refined_coefficients(self) -> dict[str, np.ndarray]:
        """Free coefficient name -> its value reached from every refined start, shape
        `(n_refined, ...)`, natural units, best first is *not* implied (same order as
        `refined_objectives`). Useful to start chains or refits from distinct optima."""
        k = int(np.size(self.refined_objectives))
        return {
            name: np.broadcast_to(np.asarray(getattr(self.refined_law, name), dtype=np.float64),
                                  (k, *np.shape(getattr(self.law, name)))).copy()
            for name in self.free
        }

    @property
    def edge_coefficients(self) -> tuple[str, ...]:
        """Free coefficients at the edge of their support or init range (see `at_edge`)."""
        flags = np.atleast_1d(np.asarray(self.at_edge, dtype=bool))
        return tuple(name for name, flag in zip(self.free, flags) if flag)

    @property
    def message(self) -> str:
        """A human-readable account of convergence (never says "converged" when
        `converged` is False)."""
        n_refined = int(np.size(self.refined_objectives))
        agree, distinct = int(self.n_agree), int(self.n_distinct)
        if bool(self.converged):
            text = f"converged: {agree} of {distinct} distinct refined starts reached the best objective"
            if distinct < 2:
                text += " (only one distinct start was refined, so agreement could not be checked)"
            return text
        reasons = []
        if not np.isfinite(float(self.objective)):
            reasons.append("the objective is not finite at any refined start.")
        elif not bool(self.solver_ok):
            text = optx.RESULTS[self.result] or "the solver stopped unsuccessfully."
            reasons.append(text.replace("`max_steps`", hint("`max_steps=`", "--max-steps")))  # optimistix's advice
        edge = self.edge_coefficients
        if edge:
            shown = ", ".join(f"{n} = {np.asarray(getattr(self.law, n)).ravel()[0]:.4g}" for n in edge)
            reasons.append(
                f"coefficient(s) {list(edge)} sit at the edge of their support or init range ({shown}): "
                "the data do not pin them down."
            )
        if distinct >= 2 and agree < 2:
            reasons.append(
                f"only {agree} of {distinct} distinct refined starts ({n_refined} refined) reached the best "
                "objective, so a better optimum may exist."
            )
        reasons = [r[:1].upper() + r[1:] for r in reasons]
        return (
            "did not converge: " + " ".join(reasons) + f" Try more starts ({hint('`starts=`', '--starts')}), "
            f"more rounds ({hint('`max_rounds=`', '--max-rounds')}), a larger {hint('`max_steps=`', '--max-steps')}, "
            f"or fixing poorly identified coefficients ({hint('`fix=`', '--fix')})."
        )

    def summary(self) -> str:
        """A plain-text table of the fit."""
        law = self.law
        points = f"{self.n_points} points" + (f" in {self.n_groups} runs" if self.n_groups else "")
        lines = [
            f"law        {type(law).__name__}: {law.formula}",
            f"objective  {float(self.objective):.10g}  ({self.loss}"
            + (f", delta={self.delta:g}" if self.loss == "huber" else "")
            + f", {points})",
            f"status     {self.message}",
            "",
            f"{'coefficient':<12} {'value':>16}  note",
        ]
        tied = dict(self.ties)
        edge = set(self.edge_coefficients)
        for name, value in self.coefficients.items():
            note = "fixed" if name in self.fixed else (f"tied to {tied[name]}" if name in tied else "")
            if name in edge:
                note = "AT EDGE"
            shown = f"{value:>16.8g}" if np.ndim(value) == 0 else np.array2string(value, precision=5)
            lines.append(f"{name:<12} {shown}  {note}")
        return "\n".join(lines)
