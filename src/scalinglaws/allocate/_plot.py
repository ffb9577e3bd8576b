"""Figures: isoFLOP curves with their optima, the efficient frontier, loss against compute.

matplotlib is imported inside the functions, so importing `scalinglaws.allocate` stays cheap.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..data import load_runs
from ._isoflop import IsoflopResult
from ._optimal import Allocation

__all__ = ["plot_allocation", "plot_allocation_bands", "plot_frontier", "plot_isoflop", "plot_loss_vs_compute"]


def _axes(ax):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=(5.5, 4.0))
    return ax


def plot_isoflop(
    data: Any,
    result: IsoflopResult,
    *,
    query: str | None = None,
    group: str = "C",
    target: str = "loss",
    ax=None,
):
    """Loss against parameters for each budget, with each budget's optimum (a star; hollow
    when left out of the power-law fit). **Returns:** the matplotlib `Axes`."""
    import matplotlib.pyplot as plt

    ax = _axes(ax)
    frame = load_runs(data, query=query).frame
    budgets = sorted(frame[group].unique())
    colors = plt.cm.viridis(np.linspace(0, 0.9, max(len(budgets), 1)))
    optima = {o["C"]: o for o in result.optima}
    for color, c in zip(colors, budgets):
        rows = frame[frame[group] == c].sort_values("N")
        ax.plot(rows["N"], rows[target], "o-", color=color, ms=3, lw=1, label=f"{c:.3g}")
        o = optima.get(float(c))
        if o is not None and np.isfinite(o["N"]):
            ax.plot(
                o["N"],
                o["loss"],
                "*",
                ms=12,
                color=color,
                mec="k",
                mfc=color if o["used"] else "none",
            )
    ax.set_xscale("log")
    ax.set_xlabel("parameters N")
    ax.set_ylabel(target)
    ax.set_title(f"isoFLOP curves: N* ~ C^{result.a:.3f}")
    ax.legend(title="C (FLOPs)", fontsize=6, title_fontsize=7, ncol=2)
    return ax


def plot_frontier(allocation: Allocation | IsoflopResult, *, ax=None, label: str | None = None):
    """The efficient frontier: $N^*$ and $D^*$ against $C$ (log-log). **Returns:** the `Axes`."""
    ax = _axes(ax)
    if isinstance(allocation, IsoflopResult):
        used = [o for o in allocation.optima if o["used"]]
        c = np.array([o["C"] for o in used])
        n, d = np.array([o["N"] for o in used]), np.array([o["D"] for o in used])
        ax.plot(c, n, "o", label=f"N* (a = {allocation.a:.3f})")
        ax.plot(c, d, "s", label=f"D* (b = {allocation.b:.3f})")
        ax.plot(c, allocation.n_coef * c**allocation.a, "-", color="C0", lw=1)
        ax.plot(c, allocation.d_coef * c**allocation.b, "-", color="C1", lw=1)
    else:
        prefix = f"{label}: " if label else ""
        ax.plot(allocation.C, allocation.N, "-", label=f"{prefix}parameters N*")
        ax.plot(allocation.C, allocation.D, "--", label=f"{prefix}tokens D*")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("compute C (FLOPs)")
    ax.set_ylabel("N*, D*")
    ax.set_title("compute-optimal frontier")
    ax.legend(fontsize=7)
    return ax


def plot_loss_vs_compute(allocation: Allocation, *, ax=None, label: str | None = None):
    """Predicted loss at the optimum against compute. **Returns:** the `Axes`."""
    ax = _axes(ax)
    ax.plot(allocation.C, allocation.loss, "-", label=label)
    ax.set_xscale("log")
    ax.set_xlabel("compute C (FLOPs)")
    ax.set_ylabel("predicted loss at the optimum")
    ax.set_title("loss against compute")
    if label:
        ax.legend(fontsize=7)
    return ax


def plot_allocation(allocation: Allocation):
    """A two-panel figure: frontier and loss against compute. **Returns:** the `Figure`."""
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    plot_frontier(allocation, ax=left)
    plot_loss_vs_compute(allocation, ax=right)
    fig.tight_layout()
    return fig


def plot_allocation_bands(draws: dict[str, np.ndarray], *, level: float = 0.9):
    """$N^*$, $D^*$ and the predicted loss at the optimum against compute, with the median
    and the central `level` band over draws (posterior draws or bootstrap replicates), as
    returned by `scalinglaws.bayes.optimal_allocation_draws`. Draws without an interior
    optimum are left out, as in the tables. The loss band is the *mean law's* spread at
    each draw's own optimum, not a new run's observed loss.

    **Returns:** the matplotlib `Figure` (two panels).
    """
    import matplotlib.pyplot as plt

    if not 0.0 < level < 1.0:
        raise ValueError(f"level={level!r}: must be between 0 and 1, e.g. 0.9")
    c = np.asarray(draws["C"], dtype=float)
    order = np.argsort(c)
    keep = np.asarray(draws.get("interior", np.ones_like(draws["N"], dtype=bool)), dtype=bool)
    qs = [(1 - level) / 2, 0.5, (1 + level) / 2]

    def bands(values):
        masked = np.where(keep, np.asarray(values, dtype=float), np.nan)
        return np.nanquantile(masked, qs, axis=0)[:, order]

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for name, style, color in (("N", "o-", "C0"), ("D", "s--", "C1")):
        lo, mid, hi = bands(draws[name])
        left.fill_between(c[order], lo, hi, color=color, alpha=0.25, lw=0)
        left.plot(c[order], mid, style, color=color, ms=4, label=f"{name}* (median, {level:.0%} band)")
    left.set_xscale("log")
    left.set_yscale("log")
    left.set_xlabel("compute C (FLOPs)")
    left.set_ylabel("N*, D*")
    left.set_title("compute-optimal allocation under uncertainty")
    left.legend(fontsize=7)
    lo, mid, hi = bands(draws["loss"])
    right.fill_between(c[order], lo, hi, color="C2", alpha=0.25, lw=0)
    right.plot(c[order], mid, "o-", color="C2", ms=4, label=f"mean-law loss (median, {level:.0%} band)")
    right.set_xscale("log")
    right.set_xlabel("compute C (FLOPs)")
    right.set_ylabel("predicted loss at the optimum")
    right.set_title("loss against compute")
    right.legend(fontsize=7)
    fig.tight_layout()
    return fig
