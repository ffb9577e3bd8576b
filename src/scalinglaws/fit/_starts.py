"""Starting points for multi-start fitting: grids and random draws, in natural units."""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import numpy as np

from ._parameterization import Parameterization

# Default grids stay near Epoch AI's 4,500 points: large enough to find the global
# basin of the laws we ship, small enough that screening is a fraction of a second.
_GRID_BUDGET = 4500


def grid_starts(param: Parameterization) -> dict[str, np.ndarray]:
    """The law's `default_grid` (Epoch's 4,500 points for Chinchilla) restricted to free
    coefficients; coefficients without grid values get a few points across their `init`
    range, as many as keeps the grid near 4,500 points."""
    law = param.template
    if any(param.shape(n) for n in param.free):
        # A grid over every element of a vector coefficient would be astronomically large:
        # laws with vector coefficients (e.g. mixing laws) start from random draws instead.
        return random_starts(param, _GRID_BUDGET, seed=0)
    declared = dict(law.default_grid or {})
    axes: dict[str, np.ndarray] = {n: np.asarray(declared[n], float) for n in param.free if n in declared}
    missing = [n for n in param.free if n not in axes]
    if missing:
        used = int(np.prod([len(v) for v in axes.values()])) if axes else 1
        per_axis = int(np.floor((_GRID_BUDGET / used) ** (1.0 / len(missing)))) if used < _GRID_BUDGET else 1
        per_axis = int(np.clip(per_axis, 1, 6))
        for name in missing:
            axes[name] = _spread(law, name, per_axis)
    names = list(axes)
    points = np.array(list(itertools.product(*(axes[n] for n in names))), dtype=float)
    return {n: points[:, i] for i, n in enumerate(names)}


def random_starts(param: Parameterization, n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """`n` draws across each free coefficient's `init` range (log-uniform where the range
    is positive, uniform otherwise)."""
    rng = np.random.default_rng(seed)
    law = param.template
    out = {}
    for name in param.free:
        low, high = law.coefficient_init(name)
        size = (n, *param.shape(name))
        if low > 0:
            out[name] = np.exp(rng.uniform(np.log(low), np.log(high), size=size))
        else:
            out[name] = rng.uniform(low, high, size=size)
    return out


def make_starts(
    param: Parameterization,
    starts: str | int | Mapping[str, np.ndarray],
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Resolve the `starts` argument of `fit` to arrays of free-coefficient values."""
    if isinstance(starts, str):
        if starts != "grid":
            raise ValueError(f"starts={starts!r}: expected 'grid', a number of random starts, or a dict.")
        out = grid_starts(param)
    elif isinstance(starts, (int, np.integer)) and not isinstance(starts, bool):
        if starts < 1:
            raise ValueError(f"starts={starts}: need at least one starting point.")
        out = random_starts(param, int(starts), seed)
    elif isinstance(starts, Mapping):
        unknown = sorted(set(starts) - set(param.free))
        missing = sorted(set(param.free) - set(starts))
        if unknown or missing:
            raise ValueError(
                f"starts: expected values for exactly the free coefficients {list(param.free)}"
                + (f"; unknown {unknown}" if unknown else "")
                + (f"; missing {missing}" if missing else "")
            )
        arrays = {}
        for n, v in starts.items():
            v = np.asarray(v, float)
            arrays[n] = v.reshape((-1, *param.shape(n)))
        lengths = {len(v) for v in arrays.values()}
        if len(lengths) != 1:
            raise ValueError(f"starts: all coefficients need the same number of values, got {lengths}")
        out = arrays
    else:
        raise TypeError(f"starts=...: expected 'grid', an int or a dict, got {type(starts).__name__}")
    return {n: np.asarray(out[n], float) for n in param.free}


def _spread(law, name: str, k: int) -> np.ndarray:
    low, high = law.coefficient_init(name)
    if k == 1:
        return np.array([np.sqrt(low * high) if low > 0 else 0.5 * (low + high)])
    if low > 0:
        return np.geomspace(low, high, k)
    return np.linspace(low, high, k)
