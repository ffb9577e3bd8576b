"""The result of a fit."""

from __future__ import annotations

import equinox as eqx
import numpy as np
import optimistix as optx
from jaxtyping import Array

from ..laws import AbstractLaw

# Refined starts whose objective is within this relative distance of the best one count as
# having reached the same optimum.
AGREEMENT_RTOL = 1e-6


class FitResult(eqx.Module):
    """What [`scalinglaws.fit`][] returns (a pytree: it can leave `jax.jit`).

    **Fields:**

    - `law`: the best law (coefficients in natural units).
    - `objective`: its objective value (sum of Huber or squared log residuals).
    - `converged`: whether the solver stopped successfully at the best start.
    - `result`: optimistix result code of the best start (`optimistix.RESULTS`).
    - `n_agree`: how many refined starts reached the best objective (relative 1e-6).
    - `start_objectives`: objective at every starting point (the screen), shape `(n_starts,)`.
    - `refined_starts`: indices (into the starts) of the starts that were refined.
    - `refined_objectives`, `refined_results`, `refined_steps`: per refined start.
    - `free`, `fixed`, `ties`, `loss`, `delta`, `target`, `inputs`, `n_points`: settings.
    - `data_fingerprint`: SHA-256 (16 hex digits) of the input and target columns fitted,
        which ties a saved fit to its data; empty from the array-level `fit_arrays`.
    """

    law: AbstractLaw
    objective: Array
    converged: Array
    result: Array
    n_agree: Array
    start_objectives: Array
    refined_starts: Array
    refined_objectives: Array
    refined_results: Array
    refined_steps: Array
    free: tuple[str, ...] = eqx.field(static=True)
    fixed: tuple[str, ...] = eqx.field(static=True)
    ties: tuple[tuple[str, str], ...] = eqx.field(static=True)
    loss: str = eqx.field(static=True)
    delta: float = eqx.field(static=True)
    target: str = eqx.field(static=True)
    inputs: tuple[str, ...] = eqx.field(static=True)
    n_points: int = eqx.field(static=True)
    data_fingerprint: str = eqx.field(static=True, default="")

    @property
    def coefficients(self) -> dict[str, float | np.ndarray]:
        """Coefficient name -> value in natural units (a float, or an array for vector
        coefficients such as a mixing law's `t`)."""
        return {
            k: float(v) if np.ndim(v) == 0 else np.asarray(v) for k, v in self.law.coefficients.items()
        }

    @property
    def message(self) -> str:
        """A human-readable account of convergence."""
        n_refined = int(np.size(self.refined_objectives))
        agree = int(self.n_agree)
        if not bool(self.converged):
            reason = optx.RESULTS._index_to_message[int(self.result)] or "unknown"
            if not np.isfinite(float(self.objective)):
                reason = "the objective is not finite at any refined start"
            return (
                f"did not converge: {reason} Try more starts (`starts=`), a larger `max_steps`, "
                "or fixing poorly identified coefficients (`fix=`)."
            )
        text = f"converged: {agree} of {n_refined} refined starts reached the best objective"
        if agree == 1 and n_refined > 1:
            text += (
                "; only one start found this optimum, so a better one may exist: "
                "consider more starts"
            )
        return text

    def summary(self) -> str:
        """A plain-text table of the fit."""
        law = self.law
        lines = [
            f"law        {type(law).__name__}: {law.formula}",
            f"objective  {float(self.objective):.10g}  ({self.loss}"
            + (f", delta={self.delta:g}" if self.loss == "huber" else "")
            + f", {self.n_points} points)",
            f"status     {self.message}",
            "",
            f"{'coefficient':<12} {'value':>16}  note",
        ]
        tied = dict(self.ties)
        for name, value in self.coefficients.items():
            note = "fixed" if name in self.fixed else (f"tied to {tied[name]}" if name in tied else "")
            shown = f"{value:>16.8g}" if np.ndim(value) == 0 else np.array2string(value, precision=5)
            lines.append(f"{name:<12} {shown}  {note}")
        return "\n".join(lines)
