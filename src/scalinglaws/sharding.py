"""The one place batched work is placed on devices.

Sweeps are batches of independent problems: the groups of a grouped fit and their BFGS
lanes (`scalinglaws.fit.sweep`), the replicates of a bootstrap. (The starts of a single
`fit` are not split yet: one small problem gains little from several devices.) Each problem is small (tens to thousands of rows), so
the package never splits one problem across devices; it splits the *batch*: a 1-D
`jax.sharding.Mesh` named `"batch"` over the local devices, every batched leaf laid out
with `NamedSharding(mesh, PartitionSpec("batch"))`, and the compiled function is
partitioned by XLA's SPMD partitioner along that axis. Every item's own computation
(screening its starts, its BFGS steps, the sum over its rows) runs along unsharded axes,
so it stays on one device and is computed as one device would: results do not depend on
the number of devices (the package's tests check bit-identity between 1 and 4 forced CPU
devices). The only collective is the "is any lane still running" test of a vectorised
`while_loop`, a boolean OR.

Why not `jax.shard_map`: inside it, array shapes carry the manual mesh axis, and lineax
(under optimistix's BFGS) rejects an operator whose input and output structures then
differ (jax 0.10, lineax as pinned), so the SPMD partitioner does the splitting.

With one device every helper is a no-op: the function is simply called.

Multi-host: call `jax.distributed.initialize(...)` in every process before using the
package (see `benchmarks/two_process.py`); the mesh here spans the *local* devices of each
process, so each process runs its own sweep over its own share of the work (e.g. one family
per process), which is how independent fits scale across hosts without collectives.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from .compile_options import jit

__all__ = [
    "BATCH_AXIS", "batch_mesh", "concat_batches", "device_count", "lower_batched", "pad_batch", "padded_size",
    "shard_batch", "sharded_map",
]

BATCH_AXIS = "batch"

_T = TypeVar("_T")


def device_count() -> int:
    """Number of local devices batched work is spread over (`jax.local_device_count()`)."""
    return jax.local_device_count()


@functools.cache
def _mesh(n: int) -> Mesh:
    return Mesh(np.asarray(jax.local_devices()[:n]), (BATCH_AXIS,))


def batch_mesh() -> Mesh | None:
    """The 1-D mesh `("batch",)` over all local devices, or `None` with a single device."""
    n = device_count()
    return None if n == 1 else _mesh(n)


def padded_size(n: int, multiple: int | None = None) -> int:
    """`n` rounded up to a multiple of `multiple` (default: the device count)."""
    multiple = device_count() if multiple is None else multiple
    return -(-n // multiple) * multiple


def pad_batch(tree: _T, size: int) -> _T:
    """Pad the leading axis of every array leaf to `size` with copies of item 0.

    Copies of a real item (never zeros) keep every padded lane's computation finite and as
    cheap as a real one; callers drop the padded items from the results."""

    def pad(leaf):
        leaf = np.asarray(leaf)
        extra = size - leaf.shape[0]
        if extra < 0:
            raise ValueError(f"pad_batch: batch of {leaf.shape[0]} is larger than size={size}.")
        if extra == 0:
            return leaf
        return np.concatenate([leaf, np.repeat(leaf[:1], extra, axis=0)])

    return jax.tree.map(pad, tree)


def concat_batches(trees) -> Any:
    """Pytrees of one structure (batches of results, e.g. a computation's parts or rounds)
    joined into one: every array leaf concatenated along its leading axis, as NumPy arrays."""
    return jax.tree.map(lambda *leaves: np.concatenate(leaves), *trees)


def shard_batch(tree: _T) -> _T:
    """Place every array leaf's leading (batch) axis across the local devices.

    The leading axis must be a multiple of [`device_count`][] (see [`pad_batch`][]). A
    no-op with one device."""
    mesh = batch_mesh()
    if mesh is None:
        return tree
    sharding = NamedSharding(mesh, PartitionSpec(BATCH_AXIS))
    return jax.tree.map(lambda leaf: jax.device_put(leaf, sharding), tree)


@jit  # with the package's compile options (see `scalinglaws.compile_options`)
def _run(fn, batched, shared):
    out = fn(batched, shared)
    mesh = batch_mesh()
    if mesh is None:
        return out
    # Outputs stay split along the batch axis (each device keeps its items).
    return jax.lax.with_sharding_constraint(out, NamedSharding(mesh, PartitionSpec(BATCH_AXIS)))


def _array(leaf):
    return leaf if isinstance(leaf, np.ndarray | jax.Array) else jnp.asarray(leaf)


def sharded_map(fn: Callable[[Any, Any], _T], batched: Any, shared: Any = None) -> _T:
    """Run `fn(batched, shared)` with the batch split across the local devices.

    **Arguments:**

    - `fn`: a function of `(batched, shared)` that is already vectorised over the leading
        axis of `batched` (e.g. built with `jax.vmap`) and returns a pytree whose array
        leaves all have that leading axis. It must be a hashable, module-level function (it
        is a static argument of the compiled call, so one compilation serves every call).
    - `batched`: a pytree of arrays with a common leading axis of any length.
    - `shared`: a pytree (arrays, laws, settings) every item uses; replicated.

    **Returns:** `fn`'s output for the items of `batched` (padding removed), as JAX arrays.

    With more than one local device the batch is padded to a multiple of the device count
    (copies of item 0) and placed with `NamedSharding(mesh, PartitionSpec("batch"))`; the
    compiled call is partitioned along that axis, each device computing its own items.
    """
    n = int(jax.tree.leaves(batched)[0].shape[0])
    if device_count() == 1:
        # NumPy arrays go to the compiled call as they are (`jnp.asarray` on each leaf would be
        # an eager dispatch: a sweep's BFGS pool passes ~20 leaves per call, 0.1 ms each).
        return _run(fn, jax.tree.map(_array, batched), shared)
    size = padded_size(n)
    out = _run(fn, shard_batch(pad_batch(batched, size)), shared)
    return jax.tree.map(lambda leaf: leaf[:n], out) if size != n else out


def lower_batched(fn: Callable[[Any, Any], Any], batched: Any, shared: Any = None):
    """The program [`sharded_map`][] runs for `fn` on arguments shaped like `batched`
    (their values are not used), lowered but neither compiled nor run, for compiling ahead
    (`scalinglaws.ahead.compile_ahead`). Calling the compiled result with
    `(fn, batched, shared)` gives `sharded_map(fn, batched, shared)`, bit for bit: it is
    the same lowering. One device only: with several, `sharded_map` places the batch first."""
    if device_count() != 1:
        raise ValueError("lower_batched: only with one local device; use sharded_map.")
    return _run.lower(fn, jax.tree.map(_array, batched), shared)
