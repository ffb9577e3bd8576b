"""Compiled programs of recent `infer` calls, reused by later calls built from the same things.

`infer`'s sampler and mode search are programs that hold the call's data as constants (the
model density closes over them). Tracing and compiling them is most of a call: on the 240
Chinchilla points about 1.8 s of tracing numpyro's NUTS under `vmap` and 2 s of XLA for the
sampler, 0.6 s and 1.5 s for the mode search, against about 1 s of sampling. A later call
on the same data with the same settings (another seed, a re-run notebook cell, a test on a
shared fixture) reuses them.

The key is a SHA-256 digest of everything a program is built from, pickled: the density's
arguments (the law's parameterization, the priors, the data arrays, the likelihood and its
constants), the sampled sites, the program's settings, the JAX backend and the device
count. Equal digests mean equal pickles, so a program is never reused for other data or
settings; anything that does not pickle is simply not cached. (Pickling only writes bytes
to hash; nothing is ever unpickled.) At most `CACHE_SIZE` programs are kept, the least
recently used dropped first.
"""

from __future__ import annotations

import hashlib
import pickle
from collections import OrderedDict
from typing import Any

import jax

CACHE_SIZE = 8
_CACHE: OrderedDict[str, Any] = OrderedDict()


def program_key(kind: str, density, *settings: Any) -> str | None:
    """The digest of what a `kind` program of `density` with `settings` is built from, or
    `None` when it cannot be pickled (then it is never cached)."""
    try:
        blob = pickle.dumps(
            (kind, density.kwargs, density.names, settings, jax.default_backend(), jax.local_device_count()),
            protocol=5,
        )
    except Exception:  # noqa: BLE001 (any object that does not pickle: not cached)
        return None
    return hashlib.sha256(blob).hexdigest()


def cached(key: str | None):
    """The program stored under `key`, or `None`."""
    if key is None or key not in _CACHE:
        return None
    _CACHE.move_to_end(key)
    return _CACHE[key]


class Remembered:
    """`program`, stored under `key` once a call of it has succeeded (so a compilation that
    failed is never reused)."""

    def __init__(self, program, key: str | None):
        self.program, self.key = program, key

    def __call__(self, *args):
        out = self.program(*args)
        if self.key is not None and self.key not in _CACHE:
            _CACHE[self.key] = self
            while len(_CACHE) > CACHE_SIZE:
                _CACHE.popitem(last=False)
        return out


def clear() -> None:
    """Forget every stored program."""
    _CACHE.clear()
