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
bootstrap replicates, and `infer`'s chains when they are split across several devices;
with one device `infer` compiles its own programs, with XLA's defaults: measured, 512-bit
vectors did not make its sampler faster). As with any change of XLA's code generation,
results move in the last bits (a sum's order of additions follows the vector width). A
program compiled ahead (`lower_batched`) and the same program compiled at the call get the
same options, so the bit-identities the tests check (side-by-side pools against one pool,
a sweep and a bootstrap on 4 devices against 1) still hold.

Nothing global changes: the options go to `jax.jit` for these programs only (`XLA_FLAGS`
and JAX's configuration are left alone). Called while another function is being traced
(inside a user's `jax.jit`, say), these functions compile with the enclosing program, as
`eqx.filter_jit` does (JAX accepts compile options only on the outermost `jax.jit`); and
with a JAX whose `jax.jit` takes no `compiler_options`, with XLA's defaults.
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
    or `lower` (see [`compiler_options`][]). Calling it, or its `.lower(...)`, is as calling
    `eqx.filter_jit(fun)`, or its `.lower(...)`, with these options, except while another
    function is being traced: the call is then part of that function's program, as a nested
    `eqx.filter_jit` is, and the options are those of the outermost compilation. (Not a
    method decorator, nor a pytree.)"""

    def __init__(self, fun: Callable):
        self._fun = fun
        self._jitted = None
        # Without options: for calls while tracing (no options allowed there), and where none apply.
        self._nested = eqx.filter_jit(fun)
        self._lock = threading.Lock()  # a sweep's pools may make the first call side by side
        functools.update_wrapper(self, fun)

    def _built(self):
        if self._jitted is None:
            with self._lock:
                if self._jitted is None:
                    self._jitted = _with_options(self._fun, compiler_options(), self._nested)
        return self._jitted

    def __call__(self, *args, **kwargs):
        if _tracing(args, kwargs):
            return self._nested(*args, **kwargs)
        return self._built()(*args, **kwargs)

    def lower(self, *args, **kwargs):
        return self._built().lower(*args, **kwargs)


def _with_options(fun: Callable, options: dict[str, Any] | None, plain):
    """`eqx.filter_jit(fun)` with `options`, or `plain` (that without options) where there
    are none or this JAX's `jax.jit` takes none."""
    if options is None:
        return plain
    try:
        return eqx.filter_jit(fun, compiler_options=options)
    except TypeError:  # a JAX before `jax.jit(..., compiler_options=...)`: its defaults
        return plain


def _tracing(args, kwargs) -> bool:
    """Whether this call happens while a function is being traced (`jax.jit`, `vmap`,
    `grad`, `eval_shape`, ...): JAX's trace state, or, where a JAX does not expose it, a
    traced argument."""
    try:
        from jax._src.core import trace_state_clean
    except ImportError:  # pragma: no cover (another JAX: the arguments decide)
        return any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves((args, kwargs)))
    return not trace_state_clean()
