r"""Sweeps: one law per group (x several laws) in a few compiled, batched, sharded calls.

Scaling-law studies are sweeps: Choshen et al. 2024 ("A Hitchhiker's Guide to Scaling Law
Estimation", arXiv:2410.11840) fit over a thousand laws, every model family x law x subset
of runs. [`sweep`][] fits every group of a table at once: groups are padded with zero-weight
rows to a few bucket sizes (so a sweep compiles once per size bucket, not once per group),
screened and refined exactly as [`scalinglaws.fit`][] does, vectorised over groups and split
across the local devices (see `scalinglaws.sharding`).

Why padding is exact: a padded row is a copy of a real row of its group with weight 0, so
its term $w_i\,\rho(r_i)$ is exactly 0 (and so is its gradient), and its residual is finite
wherever the real row's is. Each group's screen, selection, BFGS refinement, rounds and
convergence checks are the same mathematics as a separate `fit` on that group. The sum over
a padded row axis may associate differently, so objectives agree to rounding (about 1e-14
on 1,000 simulated data sets); a fit that stops at `max_steps` without converging can end
further apart (up to 1e-5 relative on the Hitchhiker families), and is reported as not
converged either way.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import functools
import hashlib
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx
import pandas as pd

from ..ahead import ahead_executor, compile_ahead, usable_cores
from ..data import load_runs
from ..errors import ConvergenceWarning, IdentifiabilityError, InputError
from ..laws import AbstractLaw, get_law
from ..precision import float64
from ..sharding import concat_batches, device_count, lower_batched, pad_batch, padded_size, sharded_map
from ._fit import (
    _assemble, _preconditioner, _reporter, agreement, edge_limits, refined_laws, screen, select_batch, whitened_objective,
)
from ._objective import LossKind
from ._parameterization import free_element_names
from ._problem import prepare_problem
from ._result import FitResult, input_ranges, ranged_columns
from ._starts import make_starts

__all__ = ["HoldoutSweep", "SweepFit", "SweepResult", "holdout_sweep", "sweep"]

# (group, start, row) triples evaluated per compiled screening call (one fused kernel, see
# `huber`). On 1,000 simulated Chinchilla data sets (4,500 starts, 64-row bucket, 2-core
# CPU, warm) screening took 0.55-0.65 s at 2, 4, 8, 16 or 32 groups per call, so the budget
# (4 groups of 64 rows) is not critical.
CHUNK_BUDGET = 1 << 21
# BFGS lanes are padded to at least this many rows (see `_bucket`).
MIN_BUCKET = 16
MAX_CHUNK = 256


@dataclasses.dataclass(frozen=True)
class SweepFit:
    """One fit of a sweep: `group` (the value of the `by` column; `None` without `by`),
    `law` (its registered name, or class name), `result` (a [`FitResult`][])."""

    group: Any
    law: str
    result: FitResult


class SweepResult:
    """What [`sweep`][] (and `fit(..., by=...)`) returns: one [`FitResult`][] per group and
    law.

    **Attributes:** `by` (the grouping column), `fits` (a tuple of [`SweepFit`][], groups in
    sorted order, laws in the order given), `skipped` (a tuple of `(group, law, reason)` for
    groups too small to identify a law).

    **Access:** `result["OPT"]` (with one law) or `result["OPT", "chinchilla"]` gives a
    `FitResult`; iterating yields `SweepFit`s; `table()` is a pandas DataFrame (one row per
    fit); `as_dict()` is what `scalinglaws fit --by --json` prints.
    """

    def __init__(self, by: str | None, fits: Sequence[SweepFit], skipped: Sequence[tuple[Any, str, str]] = ()):
        self.by = by
        self.fits = tuple(fits)
        self.skipped = tuple(skipped)

    def __len__(self) -> int:
        return len(self.fits)

    def __iter__(self) -> Iterator[SweepFit]:
        return iter(self.fits)

    def __getitem__(self, key) -> FitResult:
        laws = self.laws
        if isinstance(key, tuple) and len(key) == 2 and key[1] in laws:
            group, law = key
        elif len(laws) == 1:
            group, law = key, laws[0]
        else:
            raise KeyError(f"{key!r}: this sweep has several laws {list(laws)}; index by (group, law).")
        for item in self.fits:
            if item.law == law and _same(item.group, group):
                return item.result
        skipped = [reason for g, l_, reason in self.skipped if l_ == law and _same(g, group)]
        if skipped:
            raise KeyError(f"{key!r}: skipped: {skipped[0]}")
        raise KeyError(f"{key!r}: no such group; groups are {self.groups}.")

    @property
    def groups(self) -> list:
        return list(dict.fromkeys(item.group for item in self.fits))

    @property
    def laws(self) -> list[str]:
        return list(dict.fromkeys(item.law for item in self.fits))

    @property
    def n_failed(self) -> int:
        """Fits that did not converge (see each result's `message`)."""
        return sum(not bool(item.result.converged) for item in self.fits)

    def table(self) -> pd.DataFrame:
        """One row per fit: group, law, objective, converged, n_agree, n_points, then the
        coefficients (scalar ones; vector coefficients are left out)."""
        rows = []
        for item in self.fits:
            r = item.result
            row = {
                "group": item.group, "law": item.law, "objective": float(r.objective),
                "converged": bool(r.converged), "n_agree": int(r.n_agree), "n_points": r.n_points,
            }
            row.update({k: v for k, v in r.coefficients.items() if np.ndim(v) == 0})
            rows.append(row)
        return pd.DataFrame(rows)

    def as_dict(self) -> dict[str, Any]:
        """`{"by", "fits": [{"group", "law", "objective", "converged", "n_agree", "n_points",
        "message", "coefficients"}], "skipped": [{"group", "law", "reason"}]}`."""
        fits = []
        for item in self.fits:
            r = item.result
            fits.append({
                "group": _plain(item.group), "law": item.law, "objective": float(r.objective),
                "converged": bool(r.converged), "n_agree": int(r.n_agree), "n_points": int(r.n_points),
                "message": r.message,
                "coefficients": {k: (v if np.ndim(v) == 0 else np.asarray(v).tolist())
                                 for k, v in r.coefficients.items()},
            })
        return {
            "by": self.by,
            "fits": fits,
            "skipped": [{"group": _plain(g), "law": law, "reason": reason} for g, law, reason in self.skipped],
        }

    def summary(self) -> str:
        """A plain-text table: one line per fit."""
        frame = self.table()
        lines = [
            f"{len(self.fits)} fits" + (f" by {self.by!r}" if self.by else "")
            + f"; {self.n_failed} did not converge" + (f"; {len(self.skipped)} skipped" if self.skipped else "")
        ]
        if len(frame):
            lines.append(frame.to_string(index=False, float_format=lambda v: f"{v:.6g}"))
        lines += [f"skipped {g!r} ({law}): {reason}" for g, law, reason in self.skipped]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"SweepResult(by={self.by!r}, {len(self.fits)} fits, {len(self.skipped)} skipped)"


def _same(a, b) -> bool:
    try:
        return bool(a == b) or (a is None and b is None)
    except Exception:
        return False


def _plain(value):
    """A group label as a JSON-ready Python value."""
    return value.item() if isinstance(value, np.generic) else value


def _law_label(law: AbstractLaw) -> str:
    from ..laws import law_name

    return law_name(law) or type(law).__name__


# ---- screening, vectorised over groups --------------------------------------------------


def _screen_batched(batched, shared):
    """Screen every start for each group of the batch (the first half of `fit`'s round; the
    `k` best after `offset` are then picked on the host, by `select_batch`). Module-level so
    one compilation serves every chunk."""
    param, starts, o = shared["param"], shared["starts"], shared["options"]
    return jax.vmap(lambda x, log_y, w: screen(param, x, log_y, w, starts, o["loss"], o["delta"]))(
        batched["x"], batched["log_y"], batched["w"]
    )


# ---- refinement: a pool of BFGS lanes, refilled as lanes finish ---------------------------
#
# `fit` refines its 16 starts with `optimistix.minimise` vmapped: the lanes run in lock-step
# until the slowest stops, which for one fit is cheap. For a thousand groups x 16 starts it
# is not: on 1,000 simulated Chinchilla data sets lanes take ~216 (preconditioned) BFGS
# steps on average, but 40% of the groups have a lane that runs to `max_steps` (so does any
# batch of many groups), and a group's slowest lane takes ~2.7x its mean. Here a fixed
# number of slots (one compilation) each runs one lane for up to `SEGMENT` steps per call;
# finished lanes are replaced by waiting ones between calls. Every lane performs exactly
# `refine`'s iteration: the preconditioner `P` at its start `u0` (computed once per lane,
# before the pool runs, and passed in with `u0` at every call), then
# `optimistix.minimise` over `z` from 0 (`optimistix._iterate`: `solver.init`, then
# `step`/`terminate` until done or `max_steps`); the state is carried, never reset, so the
# trajectory is the one an uninterrupted solve takes.

SEGMENT = 32
MAX_SLOTS = 512
# A lane that has run this many steps in its slot while lanes that have not started yet are
# waiting goes to the back of the queue, its state kept (it resumes where it stopped).
# Why: lanes that run to `max_steps` (3% of them on 1,000 simulated Chinchilla data sets)
# otherwise start until the queue's last moments and leave each pool a tail of calls whose
# slots are mostly idle: 28 of a pool's 139 calls ran under half full. Parked at 256 steps,
# the long lanes run together at the end: about 125 calls per pool (a replay of the
# measured step counts, and measured; 320 gives 127, 192 gives 130). A resumed lane may run
# in another slot, and a lane's arithmetic can depend on its slot in the last bit (a 96-step
# loop over 512 lanes, permuted, changed 3 of the state's 15 leaves); all 1,000 data sets'
# results were identical to the bit nonetheless. The schedule depends on step counts only,
# so results never depend on timing.
PARK_AFTER = 256
# Pools run side by side (one thread each) when a round's lanes fill more than one pool.
# Why: a pool's step is a chain of small kernels, most of which XLA runs on one core, so
# one pool leaves the second core of a 2-core CPU mostly idle. Measured there (float64, the
# Chinchilla law at 64 rows): 32-step loops over 512 lanes took 430-450 ns per lane-step in
# two threads against 600-635 ns in one (and 555-570 ns for one loop over 1,024 lanes). The
# whole grouped call on 1,000 simulated Chinchilla data sets took 5.94-6.31 s (median 6.14)
# against 6.33-6.69 s (median 6.54) with one pool, five alternating runs each: less than the
# loops suggest, because each pool ends with a tail (a few lanes that run to `max_steps` in
# otherwise idle slots, about 0.5 s), and a third or fourth pool only adds tails (3 and 4
# measured: the same full-pool throughput, longer tails). Fixed, not the core count, so
# that lanes are laid out the same on every machine.
STREAMS = 2
# Side-by-side pools hand their last lanes over to one pool once none of their lanes waits
# and at most this share of their slots runs; that pool finishes them alone, the lanes that
# have taken the fewest steps first. Why: a call costs the same however few of its slots
# run, and a pool's last calls run mostly lanes bound for `max_steps` (a plateau near 270 of
# 512 slots for its last 20-odd calls). Measured on 1,000 simulated Chinchilla data sets
# (2-core CPU): a call takes about 16 ms with two pools side by side and 9.7 ms alone (XLA
# then uses both cores); without the hand-over each pool made 125-126 calls, with it 102-106
# side by side and 26 alone (about 0.09 s less). At 50% the plateau hands over late (10 calls
# alone); 67-90% match 60%; without the fewest-steps-first order no gain was measured.
# Where each pool hands over depends on its own step counts only, so results never depend
# on timing (all 1,000 results were identical to the bit).
HAND_OVER_PERCENT = 60


def _lane_problem(shared):
    """The solver and objective of a lane, in `refine`'s whitened coordinates: the lane
    minimises over `z` with `u = u0 + P z`, `u0` and `P` passed in `args`."""
    o = shared["options"]
    solver = optx.BFGS(rtol=o["rtol"], atol=o["atol"])
    value = whitened_objective(shared["param"], o["loss"], o["delta"])

    def fn(z, args):  # optimistix's solvers take `fn` returning `(value, aux)`
        return value(z, args), None

    return solver, fn


def _terminate_and_result(solver, fn, y, args, state):
    terminate, result = solver.terminate(fn, y, args, {}, state, frozenset())
    return terminate, optx.RESULTS.where(jnp.all(jnp.isfinite(y)), result, optx.RESULTS.nonfinite)


def _init_one(solver, fn, args):
    """The carry of a lane that has taken 0 steps (`optimistix._iterate`'s `init_carry` at
    `z = 0`), and the static part of the solver state (never carried)."""
    z0 = jnp.zeros_like(args[3])
    f_struct = jax.ShapeDtypeStruct((), z0.dtype)
    state = solver.init(fn, z0, args, {}, f_struct, None, frozenset())
    terminate, result = _terminate_and_result(solver, fn, z0, args, state)
    dynamic, static = eqx.partition(state, eqx.is_array)
    return {"y": z0, "steps": jnp.array(0), "state": dynamic, "terminate": terminate, "result": result}, static


def _lanes_starts(batched, shared):
    """Every lane's start `y0` (its chosen grid point, unconstrained, as `fit`'s round
    computes it) and `refine`'s preconditioner `P` there, on its group's rows: computed once
    per lane, before the pool runs."""
    o, param = shared["options"], shared["param"]
    y0 = param.unconstrained(batched["start"])
    p = jax.vmap(lambda y0, x, log_y, w: _preconditioner(param, x, log_y, w, y0, o["loss"], o["delta"]))(
        y0, batched["x"], batched["log_y"], batched["w"]
    )
    return y0, p


def _lane_args(batched):
    return batched["x"], batched["log_y"], batched["w"], batched["y0"], batched["P"]


def _lanes_init_shape(batched, shared):
    solver, fn = _lane_problem(shared)
    return jax.vmap(lambda *args: _init_one(solver, fn, args)[0])(*_lane_args(batched))


def _lanes_run(batched, shared):
    """Start the `fresh` slots (`solver.init` at `z = 0`), then up to `SEGMENT` more steps
    for every slot; returns the carry, whether each lane is finished, and its final outputs
    (value `y0 + P z`, objective, result, steps) as `refine` gives them."""
    solver, fn = _lane_problem(shared)
    max_steps = shared["options"]["max_steps"]

    def one(carry, fresh, *args):
        start, static = _init_one(solver, fn, args)
        carry = jax.tree.map(lambda new, old: jnp.where(fresh, new, old), start, carry)

        def running(c):
            return jnp.invert(c["terminate"]) & (c["result"] == optx.RESULTS.successful) & (c["steps"] < max_steps)

        def cond(pair):
            c, k = pair
            return running(c) & (k < SEGMENT)

        def body(pair):
            c, k = pair
            state = eqx.combine(static, c["state"])
            new_y, new_state, _ = solver.step(fn, c["y"], args, {}, state, frozenset())
            terminate, result = _terminate_and_result(solver, fn, c["y"], args, new_state)
            dynamic, _ = eqx.partition(new_state, eqx.is_array)
            new = {"y": new_y, "steps": c["steps"] + 1, "state": dynamic, "terminate": terminate, "result": result}
            return new, k + 1

        carry, _ = jax.lax.while_loop(cond, body, (carry, jnp.array(0)))
        done = jnp.invert(running(carry))
        result = optx.RESULTS.where(
            (carry["result"] == optx.RESULTS.successful) & jnp.invert(carry["terminate"]),
            optx.RESULTS.nonlinear_max_steps_reached,
            carry["result"],
        )
        z = carry["y"]  # BFGS's postprocess returns y unchanged
        y0, p = args[3], args[4]
        return carry, done, (y0 + p @ z, fn(z, args)[0], result, carry["steps"])

    return jax.vmap(one)(batched["carry"], batched["fresh"], *_lane_args(batched))


def _idle_carry(shared, one_lane, slots: int):
    """A carry of `slots` idle slots: each holds a finished (terminated) lane, so it takes
    no steps. `one_lane`: `_lanes_run`'s inputs for one lane (only their shapes matter)."""
    shape = eqx.filter_eval_shape(_lanes_init_shape, one_lane, shared)
    carry = jax.tree.map(lambda a: np.zeros((slots, *a.shape[1:]), a.dtype), shape)
    carry["terminate"] = np.ones(slots, dtype=bool)
    return carry


def _slot_count(n_lanes: int) -> int:
    return padded_size(min(MAX_SLOTS, _power_of_two(n_lanes)))


class _PoolPrograms:
    """A bucket's two BFGS-pool programs, `_lanes_starts` and `_lanes_run`, each called
    as `sharded_map` calls it (`slots` lanes on the bucket's rows).

    With one device, `compile_on(executor)` compiles both on a background thread
    (`ahead_executor`) while this thread works: a sweep screens every bucket while the first
    bucket's pool compiles, then compiles each next bucket's pool while it refines the
    current one. Why: each bucket's pool costs about 1 s of tracing and compiling, on one
    core (XLA compiles one program on one thread), which then overlaps work instead of
    holding it up. The programs are compiled from `sharded_map`'s own lowering
    (`lower_batched`), so results are bit for bit those of compiling at the call."""

    def __init__(self, param, options, arrays, start, slots: int):
        self.shared = {"param": param, "options": options}
        self._example = (arrays, start, slots)
        self._starts = self._run = None

    @functools.cached_property
    def _starts_example(self):
        """An example input (zeros of the right shapes) of `_lanes_starts`."""
        arrays, start, slots = self._example
        lanes = np.zeros(slots, dtype=np.int64)
        return {"start": {n: v[lanes] for n, v in start.items()}, **jax.tree.map(lambda a: a[lanes], arrays)}

    @functools.cached_property
    def _run_example(self):
        """An example input of `_lanes_run` (built once: it traces `_lanes_starts` for the
        shapes of `y0` and `P`, and the solver's state for the carry)."""
        starts = self._starts_example
        rows = {k: v for k, v in starts.items() if k != "start"}
        slots = self._example[2]
        y0, p = (np.zeros(a.shape, a.dtype) for a in eqx.filter_eval_shape(_lanes_starts, starts, self.shared))
        one = {"y0": y0[:1], "P": p[:1], **jax.tree.map(lambda a: a[:1], rows)}
        carry = _idle_carry(self.shared, one, slots)
        return {"carry": carry, "fresh": np.zeros(slots, dtype=bool), "y0": y0, "P": p, **rows}

    def compile_on(self, executor) -> None:
        if executor is None or device_count() != 1:
            return
        self._starts = compile_ahead(executor, lambda: lower_batched(_lanes_starts, self._starts_example, self.shared))
        self._run = compile_ahead(executor, lambda: lower_batched(_lanes_run, self._run_example, self.shared))

    def starts(self, batched):
        if self._starts is None:
            return sharded_map(_lanes_starts, batched, self.shared)
        return self._starts(_lanes_starts, batched, self.shared)

    def run(self, batched):
        if self._run is None:
            return sharded_map(_lanes_run, batched, self.shared)
        return self._run(_lanes_run, batched, self.shared)


def _refine_pool(programs: _PoolPrograms, arrays, lane_group, start, slots):
    """Preconditioned BFGS (as `refine`) from every lane's `start` (a mapping of its free
    coefficients in natural units), on its group's padded rows, in `slots` slots (a fixed
    count per bucket: later rounds, with few lanes, reuse the compilation).

    `arrays`: the bucket's padded `x`, `log_y`, `w` (one row per group); `lane_group[i]`:
    the bucket row of lane `i`. Returns every lane's unconstrained start `y0` and
    `(values, objectives, results, steps)` exactly as `fit`'s `refine` does.

    Lanes that fill more than one pool run as `STREAMS` pools side by side (see
    `STREAMS`): the first `n / STREAMS` lanes in one, the next in the other, always split
    the same way, whatever the machine, so the result never depends on its core count.
    Their last lanes then finish in one pool (see `HAND_OVER_PERCENT`)."""
    n_lanes = len(lane_group)
    take = lambda groups: jax.tree.map(lambda a: a[groups], arrays)  # noqa: E731

    # Each lane's start and preconditioner, once, in batches of `slots` lanes (one compilation),
    # every batch dispatched before any is read (the device never waits for this thread).
    batches = []
    for lo in range(0, n_lanes, slots):
        idx = np.minimum(np.arange(lo, lo + slots), n_lanes - 1)
        batches.append(programs.starts({"start": {n: v[idx] for n, v in start.items()}, **take(lane_group[idx])}))
    y0, p = (joined[:n_lanes] for joined in concat_batches(batches))

    parts = np.array_split(np.arange(n_lanes), STREAMS if n_lanes > slots else 1)

    def run(part, first_call=None, hand_over=None, resume=None):
        with jax.enable_x64(True):  # configuration contexts are per thread
            return _run_stream(programs, take, lane_group[part], y0[part], p[part], slots, first_call,
                               hand_over=hand_over, resume=resume)

    if len(parts) == 1:
        return y0, run(parts[0])[0]
    hand_over = (slots * HAND_OVER_PERCENT) // 100
    if not _concurrent_ok():
        streams = [run(part, hand_over=hand_over) for part in parts]
    else:
        with concurrent.futures.ThreadPoolExecutor(len(parts) - 1, thread_name_prefix="scalinglaws-lanes") as pool:
            later = []
            # The other streams start once this one's first call has returned, so that a pool
            # compiled at the call (several devices) is compiled once, not once per stream.
            first = lambda: later.extend(pool.submit(run, part, hand_over=hand_over) for part in parts[1:])  # noqa: E731
            streams = [run(parts[0], first, hand_over)]
            streams += [future.result() for future in later]
    out = concat_batches(stream[0] for stream in streams)
    # The pools' last lanes, handed over, finish in one pool (see `HAND_OVER_PERCENT`).
    left = np.concatenate([part[stream[1]] for part, stream in zip(parts, streams, strict=True)])
    if left.size:
        resume = concat_batches(stream[2] for stream in streams)
        # Fewest steps taken first: lanes that wait for a slot are then the ones nearest
        # `max_steps` (or their end), which add the least to the last calls.
        order = np.argsort(resume["steps"], kind="stable")
        left, resume = left[order], jax.tree.map(lambda a: a[order], resume)
        tail, _, _ = run(left, resume=resume)
        for target, leaf in zip(jax.tree.leaves(out), jax.tree.leaves(tail), strict=True):
            target[left] = leaf
    return y0, out


def _concurrent_ok() -> bool:
    """Whether pools may run side by side: on two or more usable cores (on one, the streams
    run one after the other, laid out the same)."""
    return usable_cores() >= 2


def _run_stream(programs: _PoolPrograms, take, lane_group, y0, p, slots, first_call=None, *,
                hand_over=None, resume=None):
    """Run lanes (`lane_group`, `y0`, `P` for each) through one pool of `slots` slots,
    refilled as lanes finish (a long lane may wait its turn again, its state kept: see
    `PARK_AFTER`). Returns `(outputs, left, carries)`: the lanes' final `(values,
    objectives, results, steps)`, stacked in lane order, and the lanes handed over
    unfinished, with their states (none without `hand_over`).

    `first_call`: called once, after the first call of the pool. `hand_over`: stop once no
    lane waits and at most this many run (see `HAND_OVER_PERCENT`). `resume`: every lane's
    state (a carry, stacked), from which it resumes instead of starting."""
    n_lanes = len(lane_group)

    def rows_of(lanes):  # the program's per-slot inputs for these lanes
        return {"y0": y0[lanes], "P": p[lanes], **take(lane_group[lanes])}

    slot_lane = np.full(slots, -1)
    carry = _idle_carry(programs.shared, rows_of(np.zeros(1, dtype=int)), slots)
    # The slots' inputs (an idle slot holds lane 0's), rewritten only where a slot's lane
    # changes, and the finished lanes' outputs, written in place: gathering every slot's rows
    # and slicing each finished lane's outputs one by one, in Python, took about 0.3 s of
    # each pool's 2.7 s on 1,000 simulated data sets (and holds the GIL the other pool needs).
    holds = np.zeros(slots, dtype=int)
    inputs = rows_of(holds)
    queue = collections.deque(range(n_lanes))
    unstarted = n_lanes  # lanes never yet in a slot (the queue's first ones)
    entered = np.zeros(slots, dtype=np.int64)  # a slot's lane's steps when it entered the slot
    parked = np.zeros(n_lanes, dtype=bool)
    store = jax.tree.map(lambda a: np.empty((n_lanes, *a.shape[1:]), a.dtype), carry)  # parked carries
    if resume is not None:
        for kept, leaf in zip(jax.tree.leaves(store), jax.tree.leaves(resume), strict=True):
            kept[...] = leaf
        parked[:] = True
        unstarted = 0
    out_leaves = treedef = None
    while True:
        fresh = np.zeros(slots, dtype=bool)
        free = np.flatnonzero(slot_lane < 0)
        if queue and free.size:
            new = free[: len(queue)]
            entering = np.array([queue.popleft() for _ in new])
            unstarted -= int((~parked[entering]).sum())
            slot_lane[new] = entering
            resumed = parked[entering]
            fresh[new[~resumed]] = True
            if resumed.any():
                carry = jax.tree.map(np.array, carry)  # writable
                for leaf, kept in zip(jax.tree.leaves(carry), jax.tree.leaves(store), strict=True):
                    leaf[new[resumed]] = kept[entering[resumed]]
                parked[entering[resumed]] = False
            entered[new] = np.where(resumed, carry["steps"][new], 0)
        if (slot_lane < 0).all():
            break
        lanes = np.maximum(slot_lane, 0)
        changed = np.flatnonzero(holds != lanes)
        if changed.size:
            for target, value in zip(jax.tree.leaves(inputs), jax.tree.leaves(rows_of(lanes[changed])), strict=True):
                target[changed] = value
            holds[changed] = lanes[changed]
        carry, done, final = jax.tree.map(np.asarray, programs.run({"carry": carry, "fresh": fresh, **inputs}))
        if first_call is not None:
            first_call()
            first_call = None
        if out_leaves is None:
            leaves, treedef = jax.tree.flatten(final)
            out_leaves = [np.empty((n_lanes, *leaf.shape[1:]), leaf.dtype) for leaf in leaves]
        finished = np.flatnonzero(done & (slot_lane >= 0))
        for target, leaf in zip(out_leaves, jax.tree.leaves(final), strict=True):
            target[slot_lane[finished]] = leaf[finished]
        slot_lane[finished] = -1
        if unstarted:
            park = np.flatnonzero((slot_lane >= 0) & (carry["steps"] - entered >= PARK_AFTER))
            for kept, leaf in zip(jax.tree.leaves(store), jax.tree.leaves(carry), strict=True):
                kept[slot_lane[park]] = leaf[park]
            parked[slot_lane[park]] = True
            queue.extend(slot_lane[park].tolist())
            slot_lane[park] = -1
        carry["terminate"] = np.where(slot_lane < 0, True, carry["terminate"])
        running = np.flatnonzero(slot_lane >= 0)
        if hand_over is not None and not queue and 0 < running.size <= hand_over:
            left = slot_lane[running]
            return jax.tree.unflatten(treedef, out_leaves), left, jax.tree.map(lambda a: a[running], carry)
    if first_call is not None:
        first_call()
    return jax.tree.unflatten(treedef, out_leaves), np.zeros(0, dtype=np.int64), None


def _bucket(n: int) -> int:
    """Padded row count of a group's BFGS lanes: 16 for up to 16 rows (`MIN_BUCKET`), 64 for
    17 to 64 rows, then the next multiple of an eighth of the next power of two (at most
    12.5% padding: large groups are few, so fine buckets cost few compilations and save real
    work). Screening pads to finer sizes within these buckets (`_screen_rows`).

    Why so few buckets: each is a BFGS pool, about 1.2 s of tracing and compiling on a
    2-core CPU, while a lane's cost is mostly its per-step work, not its rows (512 lanes of
    32 rows: about 290 us per step, of 64 rows about 315 us). 1,000 simulated Chinchilla
    data sets: of 20-60 rows, the whole process took 7.8 s with one 64-row bucket against
    8.4-9.2 s with 32- and 64-row buckets; of 8-14 rows, the grouped call took 6.4-6.6 s in
    one 16-row bucket, 7.1 s in 8- and 16-row buckets and 7.4-8.2 s at 64 rows."""
    if n <= MIN_BUCKET:
        return MIN_BUCKET
    if n <= 64:
        return 64
    step = _power_of_two(n) // 8
    return -(-n // step) * step


def _screen_rows(n: int, bucket: int) -> int:
    """Padded row count for screening a group of `n` rows whose BFGS lanes use `bucket` rows:
    the next multiple of `MIN_BUCKET` (16, 32, 48 or 64) in buckets of up to 64 rows, else
    the bucket's. Why finer than the lanes' buckets: a screening program compiles in about
    0.05 s, a BFGS pool in about 1 s, and screening's cost is proportional to the padded
    rows (1,000 groups of 20-60 rows: 48 padded rows on average instead of 64)."""
    return -(-n // MIN_BUCKET) * MIN_BUCKET if bucket <= 64 else bucket


def _chunk_size(n_groups: int, n_starts: int, rows: int, chunk: int | None) -> int:
    if chunk is None:
        chunk = max(1, CHUNK_BUDGET // max(1, n_starts * rows))
        chunk = 1 << int(np.floor(np.log2(min(chunk, MAX_CHUNK))))
    # Never a chunk much larger than the bucket (padding lanes cost as much as real ones).
    return padded_size(max(1, min(chunk, _power_of_two(n_groups))))


def _fingerprint(columns: Mapping[str, np.ndarray]) -> str:
    """As `Runs.fingerprint` on the group's rows (so a group's fit has the fingerprint a
    separate `fit` on those rows would have)."""
    digest = hashlib.sha256()
    for name, values in columns.items():
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(values).tobytes())
    return digest.hexdigest()[:16]


def _group_codes(runs, by: str | None) -> tuple[np.ndarray, list]:
    if by is None:
        return np.zeros(len(runs), dtype=np.int64), [None]
    if not isinstance(by, str):
        raise InputError(f"by={by!r}: expected a column name (a string), e.g. by='family'.")
    if by not in runs.frame:
        raise InputError(
            f"by={by!r}: no such column; columns are {runs.columns}. Name the column whose values "
            "define the groups to fit separately (e.g. a model family)."
        )
    column = runs.frame[by]
    if column.isna().any():
        raise InputError(
            f"by={by!r}: {int(column.isna().sum())} row(s) have no value in this column; fill them "
            "or drop them (query=) so every row belongs to a group."
        )
    try:
        codes, labels = pd.factorize(column, sort=True)
    except TypeError:  # labels of mixed types cannot be sorted: keep order of appearance
        codes, labels = pd.factorize(column, sort=False)
    return codes.astype(np.int64), [_plain(v) for v in np.asarray(labels, dtype=object)]


def _fit_law_groups(template, runs, codes, labels, *, by, options, report) -> tuple[list, list]:
    """Fit `template` to every group; returns `(fits, skipped)`."""
    target, weights, fix, tie, group = (options[k] for k in ("target", "weights", "fix", "tie", "group"))
    label = _law_label(template)
    try:
        problem = prepare_problem(template, runs, target=target, weights=weights, fix=fix, tie=tie, group=group)
    except IdentifiabilityError as error:
        raise IdentifiabilityError(f"by={by!r}: no group can identify the law {label}: {error}") from None
    param, target = problem.param, problem.target
    inputs_of_law = list(problem.x)
    n_free = len(param.free)
    start_values = {n: np.asarray(v) for n, v in make_starts(param, options["starts"], options["seed"]).items()}
    starts = {n: jnp.asarray(v) for n, v in start_values.items()}
    n_starts = int(next(iter(starts.values())).shape[0])
    k = min(options["n_refine"], n_starts)
    log_y_all = np.log(problem.y)

    # Per-group checks, the same as a separate fit's (`prepare_problem`).
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(labels) + 1))
    members, skipped = {}, []
    what = f"{n_free} free coefficients {list(param.free)}"
    for g, name in enumerate(labels):
        idx = order[bounds[g] : bounds[g + 1]]
        if idx.size == 0:
            continue
        distinct = (len(np.unique(np.column_stack([problem.x[c][idx] for c in inputs_of_law]), axis=0))
                    if inputs_of_law else 1)
        if idx.size < n_free:
            skipped.append((name, label, f"{idx.size} rows but {what}"))
        elif distinct < n_free:
            skipped.append((name, label, f"only {distinct} distinct value(s) of the inputs {inputs_of_law} but {what}"))
        elif not (problem.weights[idx] > 0).any():
            skipped.append((name, label, "every row has weight 0"))
        else:
            members[g] = idx
    if not members:
        raise IdentifiabilityError(
            f"by={by!r}: no group can identify the law {label} ({skipped[0][2]} in group {skipped[0][0]!r}, ...). "
            "Group by a coarser column, add runs, or fix or tie coefficients (fix=, tie=)."
        )

    lane_options = {k_: options[k_] for k_ in ("loss", "delta", "max_steps", "rtol", "atol")}
    # Per group, the pieces of every round, as in `fit`: (chosen, u0, (values, objs, results, steps)).
    rounds: dict[int, list] = {g: [] for g in members}
    screened_of: dict[int, np.ndarray] = {}
    first_chosen: dict[int, np.ndarray] = {}  # each group's starts for round 1
    buckets: dict[int, list[int]] = {}
    for g, idx in members.items():
        buckets.setdefault(_bucket(idx.size), []).append(g)
    buckets = dict(sorted(buckets.items()))
    arrays_of = {rows: _padded_arrays(groups, members, rows, problem.x, log_y_all, problem.weights)
                 for rows, groups in buckets.items()}
    slots_of = {rows: _slot_count(len(groups) * k) for rows, groups in buckets.items()}
    programs = {rows: _PoolPrograms(param, lane_options, arrays_of[rows], start_values, slots_of[rows])
                for rows in buckets}
    order = list(buckets)
    # The first bucket's BFGS pool compiles on a background thread while this one screens
    # every bucket; each next one while this one refines the one before (see `_PoolPrograms`).
    executor = ahead_executor()
    programs[order[0]].compile_on(executor)
    assembly = _AssemblyAhead(executor, param, len(members) * k)
    shared = {"param": param, "starts": starts, "options": {"loss": options["loss"], "delta": options["delta"]}}
    for rows, groups in buckets.items():
        clock = time.perf_counter()
        by_rows: dict[int, list[int]] = {}
        for g in groups:
            by_rows.setdefault(_screen_rows(members[g].size, rows), []).append(g)
        for screen_rows, screen_groups in sorted(by_rows.items()):
            arrays = (arrays_of[rows] if screen_rows == rows and screen_groups == groups else
                      _padded_arrays(screen_groups, members, screen_rows, problem.x, log_y_all, problem.weights))
            chunk = _chunk_size(len(screen_groups), n_starts, screen_rows, options["chunk"])
            in_flight = None
            for lo in range(0, len(screen_groups), chunk):
                positions = np.arange(lo, min(lo + chunk, len(screen_groups)))
                batched = pad_batch(jax.tree.map(lambda a: a[positions], arrays), chunk)
                # Each call is dispatched before the previous one's result is read, so the
                # device never waits for this thread (which may wait for the compiling thread's
                # Python, holding the interpreter lock).
                screened = sharded_map(_screen_batched, batched, shared)
                if in_flight is not None:
                    _take_screened(*in_flight, k, screened_of, first_chosen)
                in_flight = ([screen_groups[pos] for pos in positions], screened)
            _take_screened(*in_flight, k, screened_of, first_chosen)
        report(f"{label}: {len(groups)} group(s) of <= {rows} rows: screened {n_starts} starts each in "
               f"{time.perf_counter() - clock:.2f} s")
    for position, (rows, groups) in enumerate(buckets.items()):
        if position + 1 < len(order):
            programs[order[position + 1]].compile_on(executor)
        arrays, slots = arrays_of[rows], slots_of[rows]
        pending = list(range(len(groups)))
        for round_ in range(options["max_rounds"]):
            offset = round_ * k
            if offset >= n_starts or not pending:
                break
            k_round = min(k, n_starts - offset)
            chosen = (np.stack([first_chosen[groups[pos]] for pos in pending]) if round_ == 0 else
                      select_batch(np.stack([screened_of[groups[pos]] for pos in pending]), k_round, offset))
            chosen_of = dict(zip(pending, chosen, strict=True))
            clock_refine = time.perf_counter()
            lane_group = np.repeat(np.asarray(pending), k_round)
            lane_start = {n: v[chosen.reshape(-1)] for n, v in start_values.items()}
            y0, refined = _refine_pool(programs[rows], arrays, lane_group, lane_start, slots)
            still = []
            for i, pos in enumerate(pending):
                lanes = slice(i * k_round, (i + 1) * k_round)
                piece = jax.tree.map(lambda a: a[lanes], refined)
                pieces = rounds[groups[pos]]
                pieces.append((chosen_of[pos], y0[lanes], piece))
                n_agree, _ = agreement(
                    np.concatenate([p[1] for p in pieces]), np.concatenate([p[2][1] for p in pieces])
                )
                if n_agree < 2:
                    still.append(pos)
            report(
                f"{label}: {len(pending)} group(s) of <= {rows} rows, round {round_ + 1}: refined {k_round} "
                f"each in {time.perf_counter() - clock_refine:.2f} s"
                + (f"; {len(still)} need another round" if still and round_ + 1 < options["max_rounds"] else "")
            )
            pending = still

    if executor is not None:
        executor.shutdown(wait=False)

    # Assemble each group's result on the host, as `fit` does (see `_assemble`), from every
    # lane's law, computed in one call (padded to a power of two: few compilations).
    bounds = assembly.bounds()
    # Per group, the refined (values, objectives, results, steps) of all its rounds.
    refined_of = {g: tuple(concat_batches(p[2][i] for p in rounds[g]) for i in range(4)) for g in members}
    laws = jax.tree.map(np.asarray, assembly.laws(np.concatenate([refined_of[g][0] for g in members])))
    first = dict(zip(members, np.cumsum([0] + [len(refined_of[g][0]) for g in members]), strict=False))
    results: dict[int, FitResult] = {}
    # The columns whose ranges a separate `fit` stores, cut to each group below.
    ranged = ranged_columns(problem.x, problem.runs)
    for g, idx in members.items():
        pieces = rounds[g]
        lanes = slice(first[g], first[g] + len(refined_of[g][0]))
        results[g] = _assemble(
            param, screened_of[g], np.concatenate([p[0] for p in pieces]), np.concatenate([p[1] for p in pieces]),
            *refined_of[g], options["loss"], options["delta"], target, idx.size,
            refined_law=jax.tree.map(lambda a: a[lanes], laws), bounds=bounds,
            n_groups=0 if problem.groups is None else int(np.unique(problem.groups[idx]).size),
            data_fingerprint=_fingerprint({c: problem.x[c][idx] for c in inputs_of_law} | {target: problem.y[idx]}),
            input_ranges=input_ranges({c: v[idx] for c, v in ranged.items()}),
        )
    fits = [SweepFit(labels[g], label, results[g]) for g in sorted(results)]
    return fits, skipped


def _take_screened(groups, screened, n_refine, screened_of, first_chosen) -> None:
    """Store a screening call's rows (its first rows are `groups`'): each group's row of
    screened objectives in `screened_of` and its first round's `n_refine` starts
    (`select_batch`) in `first_chosen`.

    Why here, call by call: the ranking then runs while the next screening call computes,
    not after the last one, when refinement may wait for it (1,000 groups x 4,500 starts:
    0.15-0.17 s on one core; often the first BFGS pool is still compiling then, and
    whole-process times moved within noise). The rows are views of the call's output, as a
    separate `fit`'s are, not copies: copying them took 0.1 s of page faults (1,000 rows of
    36 kB). A kept result therefore keeps its call's whole output alive: one chunk of
    groups (`_chunk_size`: at most `MAX_CHUNK`, and about `CHUNK_BUDGET` / rows floats in
    all; 8 groups for 4,500 starts on 48 rows)."""
    screened = np.asarray(screened)[: len(groups)]
    screened_of.update(zip(groups, screened))
    first_chosen.update(zip(groups, select_batch(screened, n_refine)))


class _AssemblyAhead:
    """The two things a sweep's assembly (see `_assemble`) computes first, prepared on the
    compiling thread (`ahead_executor`) while the sweep screens and refines: `bounds()`,
    `edge_limits(param)` (eager JAX operations, each compiled on first use), and `laws(values)`,
    every lane's law, by `refined_laws` compiled for the first round's lanes (padded to a
    power of two, as every call is). Why: both are first-call costs (about 0.06 s and 0.1 s)
    on one core after the last lane ends, when the whole sweep waits for them. Without a
    compiling thread, or when later rounds add lanes, they are computed at the call: the
    same values, from the same program."""

    def __init__(self, executor, param, n_lanes: int):
        self.param = param
        self._bounds = self._laws = None
        self._rows = _power_of_two(n_lanes)
        if executor is None or device_count() != 1:
            return

        def bounds():
            with jax.enable_x64(True):  # configuration contexts are per thread
                return edge_limits(param)

        self._bounds = executor.submit(bounds)
        example = np.zeros((self._rows, len(free_element_names(param))))
        self._laws = compile_ahead(executor, lambda: refined_laws.lower(param, example))

    def bounds(self):
        return edge_limits(self.param) if self._bounds is None else self._bounds.result()

    def laws(self, values):
        padded = pad_batch(values, _power_of_two(len(values)))
        if self._laws is not None and len(padded) == self._rows:
            return self._laws(self.param, padded)
        return refined_laws(self.param, padded)


def _power_of_two(n: int) -> int:
    """The smallest power of two at least `n` (1 for `n <= 1`)."""
    return 1 << int(np.ceil(np.log2(max(n, 1))))


def _padded_arrays(groups, members, rows, x, log_y, weights) -> dict[str, Any]:
    """`(len(groups), rows)` arrays: row `i` holds the rows of group `groups[i]`, then copies
    of its first row with weight 0 (exactly zero terms, finite residuals)."""
    index = np.zeros((len(groups), rows), dtype=np.int64)
    mask = np.zeros((len(groups), rows), dtype=bool)
    for i, g in enumerate(groups):
        idx = members[g]
        index[i, : idx.size] = idx
        index[i, idx.size :] = idx[0]
        mask[i, : idx.size] = True
    return {
        "x": {c: v[index] for c, v in x.items()},
        "log_y": log_y[index],
        "w": np.where(mask, weights[index], 0.0),
    }


@float64
def sweep(
    law: str | type[AbstractLaw] | AbstractLaw | Sequence[str | type[AbstractLaw] | AbstractLaw],
    data: Any,
    *,
    by: str | None,
    query: str | None = None,
    target: str | None = None,
    loss: LossKind = "huber",
    delta: float = 1e-3,
    weights: str | np.ndarray | None = None,
    fix: Mapping[str, float] | None = None,
    tie: Mapping[str, str] | None = None,
    starts: str | int | Mapping[str, np.ndarray] = "grid",
    seed: int = 0,
    n_refine: int = 16,
    max_rounds: int = 3,
    max_steps: int = 1000,
    rtol: float = 1e-10,
    atol: float = 1e-12,
    group: str | None = None,
    chunk: int | None = None,
    progress: bool | Callable[[str], None] = False,
    columns: Mapping[str, str] | None = None,
) -> SweepResult:
    r"""Fit one law (or several) to every group of runs, in a few batched, sharded calls.

    Each group's fit is the one [`scalinglaws.fit`][] gives on that group's rows alone
    (same starts, same screen-then-refine, same rounds and convergence checks; objectives
    agree to rounding), but all groups are screened and refined together: groups are
    padded with zero-weight rows to a few bucket sizes (16 rows, 64 rows, then within
    12.5%), so a sweep over a thousand data sets compiles once per size bucket, and each
    batch of groups is split across the local devices (`scalinglaws.sharding`).

    **Arguments:**

    - `law`: a law (name, class or instance) or a list of them: the sweep is every group x
        every law.
    - `data`: runs, as in [`scalinglaws.fit`][].
    - `by`: the column whose values define the groups (e.g. `"family"`); `None` fits all
        rows as one group.
    - `chunk`: groups per compiled call when screening (default: as many as keep about 2M
        (group, start, row) evaluations per call, at most 256).
    - every other argument as in [`scalinglaws.fit`][] (applied to every group).

    **Returns:** a [`SweepResult`][]: `result["OPT"]` is that group's `FitResult`,
    `result.table()` a DataFrame.

    **Warns:** a group with fewer rows (or distinct input points) than free coefficients
    cannot identify the law: it is skipped with a `UserWarning` naming it and listed in
    `result.skipped`; if no group is left, [`scalinglaws.IdentifiabilityError`][] is raised.
    Fits that did not converge give one [`scalinglaws.ConvergenceWarning`][] naming them.

    **Example:**

    ```python
    import scalinglaws as sl
    sweep = sl.fit("chinchilla", "runs.csv", by="family")
    print(sweep.table())
    ```
    """
    if loss not in ("huber", "squared"):
        raise InputError(f"loss={loss!r}: expected 'huber' or 'squared'.")
    if not (np.isfinite(delta) and delta > 0):
        raise InputError(f"delta={delta!r}: the Huber threshold must be a positive number.")
    if chunk is not None and (isinstance(chunk, bool) or not isinstance(chunk, (int, np.integer)) or chunk < 1):
        raise InputError(f"chunk={chunk!r}: expected a positive integer (groups per compiled call).")
    for name, value in (("n_refine", n_refine), ("max_rounds", max_rounds), ("max_steps", max_steps)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise InputError(f"{name}={value!r}: expected a positive integer.")
    laws = list(law) if isinstance(law, (list, tuple)) else [law]
    if not laws:
        raise InputError("law: expected a law or a non-empty list of laws.")
    templates = [get_law(item) for item in laws]
    runs = load_runs(data, query=query, columns=columns)
    codes, labels = _group_codes(runs, by)
    report = _reporter(progress)
    options = dict(
        target=target, weights=weights, fix=fix, tie=tie, group=group, starts=starts, seed=seed,
        n_refine=int(n_refine), max_rounds=int(max_rounds), max_steps=int(max_steps), rtol=float(rtol),
        atol=float(atol), loss=loss, delta=float(delta), chunk=None if chunk is None else int(chunk),
    )
    fits, skipped = [], []
    for template in templates:
        f, s = _fit_law_groups(template, runs, codes, labels, by=by, options=options, report=report)
        fits += f
        skipped += s
    order = {name: i for i, name in enumerate(labels)}
    fits.sort(key=lambda item: order[item.group])  # groups in order, laws in the order given
    result = SweepResult(by, fits, skipped)
    if skipped:
        shown = "; ".join(f"{g!r} ({law}): {reason}" for g, law, reason in skipped[:10])
        more = f"; and {len(skipped) - 10} more" if len(skipped) > 10 else ""
        warnings.warn(
            f"by={by!r}: skipped {len(skipped)} group(s) too small to identify the law: {shown}{more}. "
            "They are listed in `result.skipped`.",
            UserWarning,
            stacklevel=3,
        )
    failed = [item for item in fits if not bool(item.result.converged)]
    if failed:
        shown = "; ".join(f"{item.group!r} ({item.law}): {item.result.message}" for item in failed[:5])
        more = f"; and {len(failed) - 5} more" if len(failed) > 5 else ""
        warnings.warn(
            f"by={by!r}: {len(failed)} of {len(fits)} fit(s) did not converge: {shown}{more}",
            ConvergenceWarning,
            stacklevel=3,
        )
    return result


# ---- held-out checks of every group x law ------------------------------------------------


class HoldoutSweep:
    """What `holdout(..., per=...)` returns: one [`HoldoutReport`][] per group and law.

    **Attributes:** `per` (the grouping column), `reports` (a tuple of `(group, law,
    HoldoutReport)`), `skipped` (`(group, law, reason)`: groups whose split or fit was not
    possible). `result["OPT"]` / `result["OPT", "chinchilla"]` gives a report; `table()` a
    DataFrame (one row per report); `as_dict()` is what `scalinglaws holdout --per --json`
    prints.
    """

    def __init__(self, per, reports, skipped=()):
        self.per = per
        self.reports = tuple(reports)
        self.skipped = tuple(skipped)

    def __len__(self) -> int:
        return len(self.reports)

    def __iter__(self):
        return iter(self.reports)

    def __getitem__(self, key):
        laws = list(dict.fromkeys(law for _, law, _ in self.reports))
        if isinstance(key, tuple) and len(key) == 2 and key[1] in laws:
            group, law = key
        elif len(laws) == 1:
            group, law = key, laws[0]
        else:
            raise KeyError(f"{key!r}: this sweep has several laws {laws}; index by (group, law).")
        for g, l_, report in self.reports:
            if l_ == law and _same(g, group):
                return report
        raise KeyError(f"{key!r}: no report for this group (see `skipped`).")

    def table(self) -> pd.DataFrame:
        rows = []
        for group, law, r in self.reports:
            rows.append({
                "group": group, "law": law, "n_train": r.n_train, "n_test": r.n_test,
                "mean_abs_rel_error": r.mean_abs_rel_error, "max_abs_rel_error": r.max_abs_rel_error,
                "rmse_log": r.rmse_log, "coverage": r.coverage, "converged": bool(r.fit.converged),
            })
        return pd.DataFrame(rows)

    def as_dict(self) -> dict[str, Any]:
        return {
            "per": self.per,
            "reports": [{"group": _plain(g), "law": law, **r.as_dict()} for g, law, r in self.reports],
            "skipped": [{"group": _plain(g), "law": law, "reason": reason} for g, law, reason in self.skipped],
        }

    def summary(self) -> str:
        frame = self.table()
        lines = [f"{len(self.reports)} held-out checks per {self.per!r}"
                 + (f"; {len(self.skipped)} skipped" if self.skipped else "")]
        if len(frame):
            lines.append(frame.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        lines += [f"skipped {g!r} ({law}): {reason}" for g, law, reason in self.skipped]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"HoldoutSweep(per={self.per!r}, {len(self.reports)} reports, {len(self.skipped)} skipped)"


@float64
def holdout_sweep(
    law,
    data: Any,
    *,
    per: str,
    above: float | None = None,
    largest: int | None = None,
    by: str = "C",
    train: str | None = None,
    test: str | None = None,
    query: str | None = None,
    columns: Mapping[str, str] | None = None,
    interval: str = "bootstrap",
    kind: str = "predictive",
    level: float = 0.9,
    group: str | None = None,
    n_boot: int = 200,
    seed: int = 0,
    progress: bool | Callable[[str], None] = False,
    **fit_kwargs: Any,
) -> HoldoutSweep:
    """Choshen et al. 2024's leave-largest-out check for every group x law: the split is
    made within each group (its own largest runs are held out), the point fits of all
    groups run as one [`sweep`][], intervals are then computed group by group. Arguments as
    in [`scalinglaws.holdout`][], plus `per` (the grouping column) and `law` (a law or a
    list of laws). Groups whose split is impossible (nothing above the threshold, say) or
    too small to fit are skipped with one warning and listed in `skipped`."""
    from ._holdout import HoldoutReport, _posterior_interval, check_interval_options, split_runs
    from ._resample import run_groups

    check_interval_options(interval, kind, level)
    if per is None:
        raise InputError("per=None: name the column whose groups are checked separately, e.g. per='family'.")
    runs = load_runs(data, query=query, columns=columns)
    codes, labels = _group_codes(runs, per)
    run_ids = run_groups(runs, group)
    train_all = np.zeros(len(runs), dtype=bool)
    splits, skipped = {}, []
    laws = list(law) if isinstance(law, (list, tuple)) else [law]
    templates = [get_law(item) for item in laws]
    for g, name in enumerate(labels):
        rows = np.flatnonzero(codes == g)
        sub = runs.subset(codes == g)
        try:
            train_mask, threshold, test_mask = split_runs(
                sub, above=above, largest=largest, by=by, train=train, test=test,
                groups=None if run_ids is None else run_ids[rows],
            )
        except InputError as error:
            skipped += [(name, _law_label(t), f"no held-out split: {error}") for t in templates]
            continue
        splits[g] = (rows, train_mask, threshold, test_mask)
        train_all[rows[train_mask]] = True
    if not splits:
        raise InputError(f"per={per!r}: no group has a held-out split; {skipped[0][2]}")
    train_runs = runs.subset(train_all)
    train_codes = codes[train_all]
    options = dict(
        target=fit_kwargs.get("target"), weights=fit_kwargs.get("weights"), fix=fit_kwargs.get("fix"),
        tie=fit_kwargs.get("tie"), group=group, starts=fit_kwargs.get("starts", "grid"),
        seed=fit_kwargs.get("seed", 0), n_refine=int(fit_kwargs.get("n_refine", 16)),
        max_rounds=int(fit_kwargs.get("max_rounds", 3)), max_steps=int(fit_kwargs.get("max_steps", 1000)),
        rtol=float(fit_kwargs.get("rtol", 1e-10)), atol=float(fit_kwargs.get("atol", 1e-12)),
        loss=fit_kwargs.get("loss", "huber"), delta=float(fit_kwargs.get("delta", 1e-3)), chunk=None,
    )
    unknown = set(fit_kwargs) - set(options) - {"columns"}
    if unknown:
        raise InputError(f"holdout(per=...): unknown option(s) {sorted(unknown)}.")
    passed = {k: v for k, v in fit_kwargs.items() if k in ("target", "weights", "fix", "tie", "loss", "delta")}
    report = _reporter(progress)
    reports = []
    for template in templates:
        fits, small = _fit_law_groups(template, train_runs, train_codes, labels, by=per, options=options,
                                      report=report)
        skipped += small
        for item in fits:
            g = labels.index(item.group)
            rows, train_mask, threshold, test_mask = splits[g]
            result = item.result
            sub = runs.subset(codes == g)
            train_g, test_g = sub.subset(train_mask), sub.subset(test_mask)
            x_test = test_g.arrays(result.inputs)
            for extra in ("N", "D", "C", by):
                if extra in test_g.columns and extra not in x_test:
                    x_test[extra] = test_g[extra]
            predicted = np.asarray(result.law.predict({c: x_test[c] for c in result.inputs}))
            lo = hi = np.full(len(test_g), np.nan)
            details, draws = {}, {}
            if interval == "bootstrap":
                from ..bayes import bootstrap

                boot = bootstrap(template, train_g, n=n_boot, seed=seed, group=group, init=result, by=by, **passed)
                draws = {k: boot.draws(x_test, kind=k, seed=seed) for k in ("predictive", "mean")}
                lo, hi = np.exp(np.quantile(draws[kind], [(1 - level) / 2, (1 + level) / 2], axis=0))
                details = {"n_failed": boot.n_failed, "noise": None if boot.noise is None else boot.noise.as_dict()}
            elif interval in ("laplace", "nuts"):
                lo, hi = _posterior_interval(template, train_g, result, x_test, interval, kind, level, seed, group,
                                             passed)
            reports.append((item.group, item.law, HoldoutReport(
                fit=result, n_train=len(train_g), n_test=len(test_g), threshold=threshold, predicted=predicted,
                actual=test_g[result.target], lo=np.asarray(lo, dtype=float), hi=np.asarray(hi, dtype=float),
                by=by, interval=interval, kind=kind, level=float(level), details=details, draws=draws,
            )))
    order = {name: i for i, name in enumerate(labels)}
    reports.sort(key=lambda r: order[r[0]])
    if skipped:
        shown = "; ".join(f"{g!r} ({law}): {reason}" for g, law, reason in skipped[:10])
        warnings.warn(f"per={per!r}: skipped {len(skipped)} group(s): {shown}", UserWarning, stacklevel=3)
    failed = [(g, law) for g, law, r in reports if not bool(r.fit.converged)]
    if failed:
        warnings.warn(
            f"per={per!r}: {len(failed)} of {len(reports)} fit(s) did not converge: "
            + ", ".join(f"{g!r} ({law})" for g, law in failed[:10]) + "; see each report's fit.message.",
            ConvergenceWarning,
            stacklevel=3,
        )
    return HoldoutSweep(per, reports, skipped)
