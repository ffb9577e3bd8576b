"""Figures for loss curves: observed vs fitted curves, predicted curves, the decay trade-off
and the Approach 1 envelope. matplotlib is imported inside each function."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..precision import float64

__all__ = ["plot_curves", "plot_envelope"]


@float64
def plot_curves(curve_fit: Any, *, ax: Any = None, max_runs: int = 12, x: str = "step"):
    """Observed checkpoints (dots) and the fitted law (lines), one colour per run."""
    import matplotlib.pyplot as plt

    from ._fit import _inputs

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    table = curve_fit.table
    law = curve_fit.law
    for i, (rid, rows) in enumerate(table.groupby(curve_fit.run, sort=False)):
        if i >= max_runs:
            break
        rows = rows.sort_values("step")
        pred = np.exp(np.asarray(law.log_predict(_inputs(law, rows))))
        line = ax.plot(rows[x], pred, lw=1.5)[0]
        ax.plot(rows[x], rows[curve_fit.result.target], "o", ms=2.5, color=line.get_color(), label=str(rid))
    ax.set_xlabel(x)
    ax.set_ylabel("loss")
    ax.set_title(f"{type(law).__name__}: checkpoints (dots) and fit (lines)")
    if table[curve_fit.run].nunique() <= 8:
        ax.legend(fontsize=7)
    return ax


def plot_envelope(data: Any, result: Any, *, run: str = "run", target: str = "loss", ax: Any = None):
    """Every run's loss against FLOPs (thin lines) and the Approach 1 envelope (thick)."""
    import matplotlib.pyplot as plt

    from ..data import load_runs

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    frame = load_runs(data).frame
    sizes = np.sort(frame["N"].unique())
    cmap = plt.get_cmap("viridis")
    for rid, rows in frame.groupby(run, sort=False):
        rows = rows.sort_values("C")
        shade = np.searchsorted(sizes, rows["N"].iloc[0]) / max(len(sizes) - 1, 1)
        ax.plot(rows["C"], rows[target], lw=0.6, alpha=0.6, color=cmap(shade))
    env = result.envelope
    ax.plot(env["C"], env["loss"], color="k", lw=2.0, label="envelope (Approach 1)")
    ax.set_xscale("log")
    ax.set_xlabel("C (FLOPs)")
    ax.set_ylabel(target)
    ax.set_title(f"a = {result.a:.3f} [{result.a_interval[0]:.3f}, {result.a_interval[1]:.3f}]")
    ax.legend(fontsize=8)
    return ax
