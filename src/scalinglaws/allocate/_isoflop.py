"""IsoFLOP analysis (Hoffmann et al. 2022, Approach 2) and allocation exponents of laws."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import ArrayLike

from ..data import load_runs
from ..laws import AbstractLaw
from ..precision import float64
from ._flops import AbstractFlops, get_flops
from ._optimal import as_law, check_budgets, check_law_inputs, compute_optimal, optimal_allocation

__all__ = ["IsoflopResult", "chinchilla_closed_form", "exponents_from_law", "isoflop_analysis"]


def chinchilla_closed_form(law: AbstractLaw, budgets: ArrayLike):
    r"""Hoffmann et al. 2022 (arXiv:2203.15556, eq. 4) closed form for $C = 6ND$, kept as a check:

    $$N^* = G\,(C/6)^{a},\quad D^* = G^{-1}(C/6)^{b},\quad G = \Big(\frac{\alpha A}{\beta B}\Big)^{1/(\alpha+\beta)},
    \quad a = \frac{\beta}{\alpha+\beta},\ b = \frac{\alpha}{\alpha+\beta}.$$

    JAX-traceable (differentiate it in the coefficients). **Returns:** `(N, D)`.
    """
    A, B, alpha, beta = law.A, law.B, law.alpha, law.beta
    log_g = (jnp.log(alpha * A) - jnp.log(beta * B)) / (alpha + beta)
    log_c6 = jnp.log(jnp.asarray(budgets, dtype=float) / 6.0)
    n = jnp.exp(log_g + beta / (alpha + beta) * log_c6)
    d = jnp.exp(-log_g + alpha / (alpha + beta) * log_c6)
    return n, d


@float64
@float64
def exponents_from_law(
    law: AbstractLaw, budgets: ArrayLike = (1e20, 1e24), *, flops: str | AbstractFlops = "6nd"
) -> dict[str, float]:
    r"""Allocation exponents $a = d\log N^*/d\log C$ and $b = d\log D^*/d\log C$ of a fitted law
    (Hoffmann et al.'s Approach 3 read backwards), averaged over `budgets` in log space.

    With two budgets this is the secant slope between them; the local slopes come from the
    allocator's implicit gradients. For Chinchilla with $6ND$, $a = \beta/(\alpha+\beta)$
    exactly.

    **Returns:** dict with `a`, `b` (secant slopes) and `a_local`, `b_local` (arrays of
    local slopes at each budget).
    """
    law = as_law(law)
    fl = get_flops(flops)
    check_law_inputs(law, fl)
    budgets = check_budgets(budgets)
    alloc = compute_optimal(law, budgets, flops=fl)  # checks interior optima
    log_c = np.log(budgets)

    local = np.asarray(_local_slopes(law, jnp.asarray(log_c), fl))
    if len(budgets) > 1:
        a = float(np.polyfit(log_c, np.log(alloc.N), 1)[0])
        b = float(np.polyfit(log_c, np.log(alloc.D), 1)[0])
    else:
        a, b = float(local[0, 0]), float(local[0, 1])
    return {"a": a, "b": b, "a_local": local[:, 0], "b_local": local[:, 1]}


@eqx.filter_jit
def _local_slopes(law, log_c, flops):
    def log_nd(c):
        out = optimal_allocation(law, c, flops)
        return jnp.stack([out.log_N, out.log_D])

    return jax.vmap(jax.jacfwd(log_nd))(log_c)


@dataclasses.dataclass(frozen=True)
class IsoflopResult:
    """Result of [`isoflop_analysis`][].

    **Fields:** `a`, `a_se` ($N^* \\propto C^a$ and its standard error), `b`, `b_se`
    ($D^* \\propto C^b$), `n_coef`, `d_coef` (prefactors: $N^* = k_N C^a$), `optima`
    (one dict per budget: `C`, `N`, `D`, `loss`, `n_points`, `used`), `method`,
    `n_budgets` (budgets used in the power-law fit).
    """

    a: float
    a_se: float
    b: float
    b_se: float
    n_coef: float
    d_coef: float
    optima: list[dict[str, Any]]
    method: str
    n_budgets: int

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def __repr__(self) -> str:
        # The exponents, not every budget's optimum (those are in `summary()`/`to_dict()`).
        from ..results import value_repr

        return value_repr("IsoflopResult", {"a": self.a, "a_se": self.a_se, "b": self.b, "b_se": self.b_se,
                                            "n_budgets": self.n_budgets, "method": self.method})

    def summary(self) -> str:
        lines = [
            (
                f"N* ~ C^a: a = {self.a:.4f} +- {self.a_se:.4f}   D* ~ C^b: b = {self.b:.4f} +- {self.b_se:.4f}"
                f"   ({self.n_budgets} budgets, {self.method})"
            ),
            f"{'C':>12} {'N*':>12} {'D*':>12} {'D*/N*':>10} {'loss*':>9} {'points':>6}  used",
        ]
        for o in self.optima:
            lines.append(
                f"{o['C']:>12.4g} {o['N']:>12.4g} {o['D']:>12.4g} {o['D'] / o['N']:>10.3g} {o['loss']:>9.5f} "
                f"{o['n_points']:>6d}  {'yes' if o['used'] else 'no (' + o['reason'] + ')'}"
            )
        return "\n".join(lines)


def _slope(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """OLS slope, its standard error and the intercept."""
    design = np.column_stack([np.ones_like(x), x])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    dof = len(x) - 2
    if dof <= 0:
        return float(coef[1]), float("nan"), float(coef[0])
    residual = y - design @ coef
    sigma2 = residual @ residual / dof
    cov = sigma2 * np.linalg.inv(design.T @ design)
    return float(coef[1]), float(np.sqrt(cov[1, 1])), float(coef[0])


@float64
def isoflop_analysis(
    data: Any,
    *,
    query: str | None = None,
    group: str = "C",
    window: int | None = 7,
    target: str = "loss",
    columns: Mapping[str, str] | None = None,
) -> IsoflopResult:
    r"""Locate each budget's optimum on its isoFLOP curve and fit $N^* \propto C^a$, $D^* \propto C^b$.

    Hoffmann et al. 2022 (arXiv:2203.15556), Approach 2: for each budget, fit a parabola to
    loss against $\log N$ and take its vertex; then regress $\log N^*$ and $\log D^*$ on
    $\log C$ (ordinary least squares; standard errors from the regression). $D^*$ is read
    from the runs' own $(N, D)$ relation at that budget (a line in $\log N$ - $\log D$, exact
    for $D = C/6N$).

    The parabola is fitted to the `window` points nearest (in $\log N$) to the lowest loss,
    because isoFLOP curves are not parabolic far from their minimum; `window=None` uses
    all points. A budget is left out of the power-law fit when its curve has fewer than 3
    points, is not convex, or its vertex lies outside the sampled range of $N$.

    **Arguments:**

    - `data`: runs with columns `N`, `loss` and the budget column (`D` optional).
    - `query`: row filter, e.g. `"config == 'rw|base|long|kaplan|kaplan|train'"`.
    - `group`: the budget column (default `"C"`).
    - `window`: points per parabola (>= 3) or `None` for all.
    - `target`: the loss column.
    - `columns`: your column names -> the package's (see `scalinglaws.load_runs`).

    **Returns:** an [`IsoflopResult`][].

    **Example:**

    ```python
    from scalinglaws.allocate import isoflop_analysis
    res = isoflop_analysis("porian-isoflop", query="config == 'rw|tuned|short|const|standard|val'")
    print(res.summary())
    ```
    """
    runs = load_runs(data, query=query, columns=columns)
    runs.require(["N", target, group], why="an isoFLOP analysis groups runs by budget")
    if window is not None and (int(window) != window or window < 3):
        raise ValueError(
            f"window={window!r}: a parabola needs at least 3 points; give an integer >= 3 or None"
        )
    frame = runs.frame
    if len(frame) == 0:
        raise ValueError(f"data: no runs{' match query=' + repr(query) if query else ''}")
    optima = []
    for c, rows in frame.groupby(group, sort=True):
        log_n = np.log(rows["N"].to_numpy(dtype=float))
        loss = rows[target].to_numpy(dtype=float)
        log_d = (
            np.log(rows["D"].to_numpy(dtype=float))
            if "D" in rows
            else np.log(float(c) / (6 * np.exp(log_n)))
        )
        order = np.argsort(log_n)
        log_n, loss, log_d = log_n[order], loss[order], log_d[order]
        entry = {
            "C": float(c),
            "N": float("nan"),
            "D": float("nan"),
            "loss": float("nan"),
            "n_points": len(log_n),
            "used": False,
            "reason": "",
        }
        optima.append(entry)
        if len(np.unique(log_n)) < len(log_n):
            raise ValueError(
                f"data: budget {group}={float(c):.6g} has several runs with the same N; an isoFLOP curve needs one "
                "loss per model size. Select one configuration with `query` (or average repeated runs)."
            )
        if len(log_n) < 3:
            entry["reason"] = "fewer than 3 model sizes"
            continue
        if window is not None and len(log_n) > window:
            best = np.argmin(loss)
            nearest = np.sort(np.argsort(np.abs(log_n - log_n[best]), kind="stable")[:window])
            x, y = log_n[nearest], loss[nearest]
        else:
            x, y = log_n, loss
        center = x.mean()
        c2, c1, c0 = np.polyfit(x - center, y, 2)
        if not c2 > 0:
            entry["reason"] = "not convex"
            continue
        vertex = center - c1 / (2 * c2)
        entry["N"] = float(np.exp(vertex))
        entry["loss"] = float(c0 + c1 * (vertex - center) + c2 * (vertex - center) ** 2)
        slope_d, intercept_d = np.polyfit(log_n, log_d, 1)
        entry["D"] = float(np.exp(intercept_d + slope_d * vertex))
        if not x.min() <= vertex <= x.max():
            entry["reason"] = "vertex outside the sampled sizes"
            continue
        entry["used"] = True
    used = [o for o in optima if o["used"]]
    if len(used) < 2:
        raise ValueError(
            f"data: only {len(used)} budget(s) have an interior isoFLOP optimum; the power-law fit needs at "
            "least 2 (3 for standard errors). Check `query` and `group`."
        )
    log_c = np.log([o["C"] for o in used])
    a, a_se, ka = _slope(log_c, np.log([o["N"] for o in used]))
    b, b_se, kb = _slope(log_c, np.log([o["D"] for o in used]))
    method = "parabola in log N" + (
        "" if window is None else f" over the {window} points nearest the minimum"
    )
    return IsoflopResult(
        a=a,
        a_se=a_se,
        b=b,
        b_se=b_se,
        n_coef=float(np.exp(ka)),
        d_coef=float(np.exp(kb)),
        optima=optima,
        method=method,
        n_budgets=len(used),
    )
