"""Float64 without touching the caller's process: a scope around each public entry point.

Scaling-law fits are ill-conditioned (Chinchilla's A and B differ from E by orders of
magnitude and Epoch AI's Huber threshold is 1e-3 on log loss), so everything this package
computes is computed in float64. Importing the package must not change `jax.config` for
the rest of the user's process (their own float32 model code would silently become
float64), so instead of switching `jax_enable_x64` on globally, every public entry point
runs inside `jax.enable_x64(True)` and returns NumPy arrays or laws whose coefficients are
float64; the caller's setting is restored on exit, whatever it was.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import jax

__all__ = ["float64", "in_float64"]

_P = ParamSpec("_P")
_R = TypeVar("_R")


def in_float64():
    """Context manager: JAX computes in float64 inside it; the caller's setting is restored.

    ```python
    with scalinglaws.precision.in_float64():
        loss = law(N=7e10, D=1.4e12)
    ```
    """
    return jax.enable_x64(True)


def float64(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """Decorator: run `function` inside [`in_float64`][] (for public entry points)."""

    @functools.wraps(function)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with jax.enable_x64(True):
            return function(*args, **kwargs)

    return wrapper
