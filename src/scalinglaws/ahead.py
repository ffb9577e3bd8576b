"""Compiling ahead: XLA programs compiled on a background thread while the caller computes.

The one home of this for the package: `infer` (sampler, mode search) and sweeps (BFGS pools,
assembly) use it."""

from __future__ import annotations

import concurrent.futures
import os
from collections.abc import Callable
from typing import Any

import jax

__all__ = ["ahead_executor", "compile_ahead", "usable_cores"]


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask, e.g. under `taskset`)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def ahead_executor() -> concurrent.futures.ThreadPoolExecutor | None:
    """A one-thread executor for ahead-of-time compilation, or `None` when this process
    may use a single core only (a background compilation would then compete with the
    caller instead of overlapping it, e.g. under `taskset -c 0`)."""
    if usable_cores() < 2:
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
    pool is a `while_loop`, which XLA runs mostly on one core). Only compilation happens on
    this thread. (Programs do execute side by side elsewhere: a sweep's BFGS pools, see
    `scalinglaws.fit._sweep.STREAMS`, and `infer`'s chains on a CPU, see
    `scalinglaws.bayes._infer.resolve_chain_method`. An earlier note here warned that two
    programs executing at once on a 2-core CPU could exhaust XLA's thread pool; with jax
    0.10.2, 6,000 pairs of 32-step BFGS loops over 512 lanes, 1,500 screening calls beside
    such loops, 70 sweeps of 1,000 groups and 120 `infer` calls ran without a hang.)
    JAX's configuration contexts are per thread, so the thread enters float64 itself.
    """

    def __init__(self, executor: concurrent.futures.Executor, lower: Callable[[], Any]):
        def build():
            with jax.enable_x64(True):
                return lower().compile()

        self._future = executor.submit(build)

    def __call__(self, *args):
        return self._future.result()(*args)
