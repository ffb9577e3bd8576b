r"""Tissue et al.'s annealing law fitted jointly to several runs: shared schedule
coefficients, one offset per run."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConvergenceWarning, InputError
from ._features import DEFAULT_LAMBDA, curve_features, schedule_features
from ._schedule import Schedule

__all__ = ["SharedCurveFit", "fit_curves_shared"]

_ALPHA_RANGE = (0.01, 3.0)


@dataclasses.dataclass(frozen=True)
class SharedCurveFit:
    r"""Tissue et al.'s law with shared `A`, `alpha`, `C` and one `L0` per run (what
    [`fit_curves_shared`][] returns).

    **Fields:** `offsets` (run id -> $L_0$), `A`, `alpha`, `C`, `lam` (the annealing
    momentum the features used), `table` (checkpoints with `S1`, `S2`), `run` (the run-id
    column), `rss` (sum of squared relative residuals), `alpha_at_bound` (the profiled
    exponent sits at an end of its search range: the data do not identify it).
    """

    offsets: dict
    A: float
    alpha: float
    C: float
    lam: float
    table: pd.DataFrame
    run: str
    rss: float
    alpha_at_bound: bool

    def predict(
        self, schedule: Schedule, steps: Any = None, *, run: Any = None, offset: float | None = None
    ) -> np.ndarray:
        """Predicted losses at `steps` (default: the last step) of a run under `schedule`,
        with the offset of fitted run `run` (or an explicit `offset`)."""
        if (run is None) == (offset is None):
            raise InputError(
                "predict: give exactly one of run= (a fitted run id) or offset= (an L0 value)."
            )
        if run is not None:
            if run not in self.offsets:
                raise InputError(
                    f"predict(run={run!r}): not a fitted run; fitted runs are {list(self.offsets)[:5]}..."
                )
            offset = self.offsets[run]
        steps = [schedule.total_steps] if steps is None else steps
        f = schedule_features(schedule.learning_rates(), steps, lam=self.lam)
        return float(offset) + self.A * f["S1"] ** (-self.alpha) - self.C * f["S2"]


def _solve(
    design_runs: np.ndarray,
    s1: np.ndarray,
    s2: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    alpha: float,
):
    """Weighted least squares for (L0_r..., A >= 0, C >= 0) at fixed alpha: the best feasible
    of the four active sets (exact for a convex quadratic with two bounded variables)."""
    columns = {"A": s1 ** (-alpha), "C": -s2}
    best = (np.inf, None)
    for free in (("A", "C"), ("A",), ("C",), ()):
        x = np.column_stack([design_runs, *[columns[k] for k in free]]) * w[:, None]
        coef, *_ = np.linalg.lstsq(x, y * w, rcond=None)
        extra = dict(zip(free, coef[design_runs.shape[1] :], strict=True))
        if any(v < 0 for v in extra.values()):
            continue
        rss = float(np.sum((x @ coef - y * w) ** 2))
        if rss < best[0]:
            best = (rss, (coef[: design_runs.shape[1]], extra.get("A", 0.0), extra.get("C", 0.0)))
    return best


def fit_curves_shared(
    data: Any,
    *,
    schedule: Schedule | Mapping[Any, Schedule] | None = None,
    run: str = "run",
    step: str = "step",
    lr: str = "lr",
    lam: float = DEFAULT_LAMBDA,
    query: str | None = None,
    alpha_range: tuple[float, float] = _ALPHA_RANGE,
    grid: int = 120,
) -> SharedCurveFit:
    r"""Fit $L_r(s) = L_{0,r} + A\,S_1^{-\alpha} - C\,S_2$ to the checkpoints of several runs:
    the schedule coefficients $A, \alpha, C$ shared, one offset $L_{0,r}$ per run.

    This is how Tissue et al. 2024 ("Scaling Law with Learning Rate Annealing",
    arXiv:2408.11029, §4) fit their law: on one or a few *complete* curves of a model
    (constant and cosine schedules, whose annealing phase identifies $C$), then predict the
    curves of other schedules. Here each run keeps its own offset, because runs of one
    model size from different seeds or data orders differ by a constant of order 0.01
    nats; only the schedule response is shared. A single run gives the per-run law.

    The fit minimises squared relative residuals $(\hat L - L)/L$ (the log residual to
    first order) by variable projection: for fixed $\alpha$ the law is linear in
    $(L_{0,r}, A, C)$, solved exactly with $A, C \ge 0$; $\alpha$ is profiled on a
    log grid over `alpha_range` and refined by golden section. The optimum is global in
    $\alpha$ up to the grid's resolution, so there are no failed multi-start fits.

    **Arguments:** `data`, `schedule`, `run`, `step`, `lr`, `lam`: as in
    [`fit_curves`][] (a `loss` column is required); `query`: a pandas row filter applied
    to the checkpoints before fitting; `alpha_range`, `grid`: the profile search.

    **Returns:** a [`SharedCurveFit`][]. A profiled exponent at an end of `alpha_range`
    (not identified) gives a [`scalinglaws.ConvergenceWarning`][].
    """
    table = curve_features(data, schedule=schedule, run=run, step=step, lr=lr, lam=lam)
    if query:
        try:
            table = table.query(query, engine="python").reset_index(drop=True)
        except Exception as error:  # pandas raises many types for a bad expression
            raise InputError(f"query={query!r}: could not evaluate it ({error}).") from None
    if "loss" not in table:
        raise InputError(f"data: missing column 'loss'. Columns are {list(table.columns)}.")
    runs, codes = np.unique(table[run].astype(str).to_numpy(), return_inverse=True)
    originals = {str(r): r for r in table[run].unique()}
    if len(table) < len(runs) + 3:
        raise InputError(
            f"fit_curves_shared: {len(table)} checkpoints of {len(runs)} runs cannot identify "
            f"{len(runs) + 3} coefficients (one offset per run, A, alpha, C)."
        )
    lo, hi = alpha_range
    if not 0 < lo < hi:
        raise InputError(f"alpha_range={alpha_range!r}: expected 0 < low < high.")
    y = table["loss"].to_numpy(dtype=np.float64)
    s1 = table["S1"].to_numpy(dtype=np.float64)
    s2 = table["S2"].to_numpy(dtype=np.float64)
    design = np.zeros((len(table), len(runs)))
    design[np.arange(len(table)), codes] = 1.0
    w = 1.0 / y

    def rss(a):
        return _solve(design, s1, s2, y, w, a)[0]

    alphas = np.geomspace(lo, hi, int(grid))
    values = np.array([rss(a) for a in alphas])
    k = int(np.argmin(values))
    a, b = np.log(alphas[max(k - 1, 0)]), np.log(alphas[min(k + 1, len(alphas) - 1)])
    ratio = (np.sqrt(5) - 1) / 2
    for _ in range(40):
        c, d = b - ratio * (b - a), a + ratio * (b - a)
        if rss(np.exp(c)) < rss(np.exp(d)):
            b = d
        else:
            a = c
    alpha = float(np.exp(0.5 * (a + b)))
    if rss(alpha) > values[k]:
        alpha = float(alphas[k])
    best, (offsets, big_a, big_c) = _solve(design, s1, s2, y, w, alpha)
    at_bound = k in (0, len(alphas) - 1)
    if at_bound:
        warnings.warn(
            f"fit_curves_shared: alpha = {alpha:.4g} sits at an end of alpha_range={alpha_range}: the "
            "checkpoints do not identify the exponent, and forecasts from this fit are unreliable. Add "
            "complete curves (an annealing phase), drop the post-warm-up transient (query='step > ...') "
            "or widen alpha_range.",
            ConvergenceWarning,
            stacklevel=2,
        )
    return SharedCurveFit(
        offsets={originals[r]: float(v) for r, v in zip(runs, offsets, strict=True)},
        A=float(big_a),
        alpha=alpha,
        C=float(big_c),
        lam=float(lam),
        table=table,
        run=run,
        rss=float(best),
        alpha_at_bound=at_bound,
    )
