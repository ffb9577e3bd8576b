"""Compiling ahead: XLA programs compiled on a background thread while the caller computes.

The one home of this for the package: `infer` (sampler, mode search) and sweeps (BFGS pools,
assembly) use it."""

from __future__ import annotations

import concurrent.futures
import os
from collections.abc import Callable
from typing import Any

import jax

__all__ = ["ahead_executor", "compile_ahead"]


def ahead_executor() -> concurrent.futures.ThreadPoolExecutor | None:
    """A one-thread executor for ahead-of-time compilation, or `None` when this process
    may use a single core only (a background compilation would then compete with the
    caller instead of overlapping it, e.g. under `taskset -c 0`)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    if cores < 2:
        return None
    return concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="scalinglaws-compile")


class compile_ahead:  # noqa: N801 (used like a function)
    """`compile_ahead(executor, lower)`: run `lower()` (a function returning a lowered
    program, e.g. `lambda: jax.jit(fn).lower(*abstract_args)` or an equinox
    `filter_jit(fn).lower(...)`) and compile it on `executor`'s thread; calling the result
    waits for the compilation and runs it.

    XLA compilation releases the GIL, so on two or more cores it overlaps the caller's own
    work: `infer` compiles the sampler while it runs the point fit and the mode search, and
    a sweep compiles each size bucket's BFGS pool while it screens and refines (a BFGS
    pool is a `while_loop`, which XLA runs on one core). Only compilation happens on the
    thread, never execution: two programs executing at once on a 2-core CPU can exhaust
    XLA's thread pool and wait on each other forever. JAX's configuration contexts are per
    thread, so the thread enters float64 itself.
    """

    def __init__(self, executor: concurrent.futures.Executor, lower: Callable[[], Any]):
        def build():
            with jax.enable_x64(True):
                return lower().compile()

        self._future = executor.submit(build)

    def __call__(self, *args):
        return self._future.result()(*args)
