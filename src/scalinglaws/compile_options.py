"""The XLA options the package's fitting programs are compiled with: one place.

**512-bit vectors on CPUs that have them.** XLA's CPU compiler prefers 256-bit vectors
(`xla_cpu_prefer_vector_width`, default 256) even on a CPU with AVX-512. Refining a fit
is a loop of small vectorised kernels over `(starts, rows)` arrays: the law, its log
residuals, the Huber loss, and their gradient. With 512-bit vectors that loop runs about a
quarter faster. Measured on a 2-core AMD EPYC with AVX-512, float64:

- the value and gradient of the Chinchilla objective, 512 starts x 64 rows, 32 steps in one
  program: 767-789 ns per start-step, now 574-584 ns (one core);
- a 1,000-group sweep's refinement (warm, in-process): 2.1-2.4 s, now 1.8-2.0 s;
- screening (values only): 3.4 ms a call either way.

Where the options apply: only on the CPU backend, and only where the host CPU reports
AVX-512 (`avx512f` in Linux's `/proc/cpuinfo`, read as text); elsewhere XLA's defaults.
They apply to the programs that fit: `fit`'s rounds and the laws it assembles from, and
everything [`scalinglaws.sharding.sharded_map`][] runs (a sweep's screening and BFGS pools,
bootstrap replicates). As with any change of XLA's code generation, results move in the last
bits (a sum's order of additions follows the vector width). One kind of program is always
compiled with the same options, so the package's bit-identities (side-by-side pools against
one pool, 4 devices against 1) still hold.

Nothing global changes: the options go to `jax.jit` for these programs only (`XLA_FLAGS`
and JAX's configuration are left alone).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import equinox as eqx
import jax

__all__ = ["compiler_options", "jit"]

_CPU_INFO = Path("/proc/cpuinfo")


@functools.cache
def _cpu_flags() -> frozenset[str]:
    """The host CPU's feature flags (Linux); empty where they cannot be read."""
    try:
        text = _CPU_INFO.read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


@functools.cache
def compiler_options() -> dict[str, Any] | None:
    """The options for `jax.jit(..., compiler_options=...)`: `{"xla_cpu_prefer_vector_width":
    512}` on the CPU backend of a host with AVX-512, else `None` (XLA's defaults). Asked at
    the first compilation, not at import (the backend is not known before)."""
    if jax.default_backend() == "cpu" and "avx512f" in _cpu_flags():
        return {"xla_cpu_prefer_vector_width": 512}
    return None


class jit:  # noqa: N801 (used like a decorator)
    """`eqx.filter_jit(fun, compiler_options=compiler_options())`, built at the first call
    or `lower` (see [`compiler_options`][]). Calling it, or `.lower(...)`, is as with
    `eqx.filter_jit`."""

    def __init__(self, fun: Callable):
        self._fun = fun
        self._jitted = None
        self._lock = threading.Lock()  # a sweep's pools may make the first call side by side
        functools.update_wrapper(self, fun)

    def _built(self):
        if self._jitted is None:
            with self._lock:
                if self._jitted is None:
                    self._jitted = eqx.filter_jit(self._fun, compiler_options=compiler_options())
        return self._jitted

    def __call__(self, *args, **kwargs):
        return self._built()(*args, **kwargs)

    def lower(self, *args, **kwargs):
        return self._built().lower(*args, **kwargs)
