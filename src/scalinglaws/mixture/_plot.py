"""Figures: the optimal mixture as bars, and predicted against actual loss."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def plot_weights(weights: Mapping[str, float], *, reference: Mapping[str, float] | None = None,
                 intervals: Mapping[str, Sequence[float]] | None = None, ax=None, title: str | None = None):
    """Bar chart of a mixture (domain -> weight), optionally beside a reference mixture and
    with bootstrap intervals (domain -> (low, median, high)). Returns the axes."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(max(6, 0.45 * len(weights)), 3.5))
    names = list(weights)
    x = np.arange(len(names))
    width = 0.4 if reference is not None else 0.8
    values = np.array([weights[n] for n in names])
    yerr = None
    if intervals is not None:
        low = np.array([intervals[n][0] for n in names])
        high = np.array([intervals[n][-1] for n in names])
        yerr = np.vstack([np.maximum(values - low, 0), np.maximum(high - values, 0)])
    ax.bar(x - (width / 2 if reference is not None else 0), values, width, yerr=yerr, label="optimised", capsize=2)
    if reference is not None:
        ax.bar(x + width / 2, [reference.get(n, 0.0) for n in names], width, label="reference", alpha=0.7)
        ax.legend()
    ax.set_xticks(x)
    ax.set_xticklabels(names, rotation=60, ha="right")
    ax.set_ylabel("weight")
    if title:
        ax.set_title(title)
    return ax


def plot_predicted_vs_actual(predicted: Mapping[str, np.ndarray], actual: Mapping[str, np.ndarray], *,
                             ncols: int = 5, axes=None):
    """One scatter per loss column of predicted against actual loss, with the Spearman
    correlation in each title. Returns the figure."""
    import matplotlib.pyplot as plt

    from ._spearman import spearman

    names = list(predicted)
    nrows = int(np.ceil(len(names) / ncols))
    if axes is None:
        fig, axes = plt.subplots(nrows, ncols, figsize=(3 * ncols, 2.8 * nrows), squeeze=False)
    else:
        fig = np.ravel(axes)[0].figure
    flat = np.ravel(axes)
    for ax, name in zip(flat, names):
        p, a = np.asarray(predicted[name]), np.asarray(actual[name])
        ax.scatter(a, p, s=6, alpha=0.6)
        low, high = min(a.min(), p.min()), max(a.max(), p.max())
        ax.plot([low, high], [low, high], color="k", lw=0.8)
        ax.set_title(f"{name}\nSpearman {spearman(p, a):.4f}", fontsize=8)
        ax.set_xlabel("actual", fontsize=8)
        ax.set_ylabel("predicted", fontsize=8)
    for ax in flat[len(names):]:
        ax.axis("off")
    fig.tight_layout()
    return fig
