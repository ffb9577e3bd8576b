r"""Spending a test-time budget: which model, how many samples, which generation length.

[`plan`][] chooses, for a budget $B$ per query, the candidate $m$ (a model at a
generation length, with a cost per sample $c_m$ and a fitted coverage law) and the number
of samples $k$ that maximise expected coverage subject to $k\,c_m \le B$. For each
candidate it runs projected gradient ascent on $\log k$ (the continuous relaxation,
$1 \le k \le B/c_m$), then checks integers: the floor and ceiling of the relaxed optimum,
the bounds, and a geometric grid, so a non-monotone score (a law fitted with a bump, a
verifier penalty) cannot fool it.

[`allocate_samples`][] spreads a total number of samples across problems of different
difficulty, in the spirit of compute-optimal test-time scaling (Snell et al. 2024,
arXiv:2408.03314): more samples where they raise the chance of a first success most.
"""

from __future__ import annotations

import heapq
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..laws import AbstractLaw
from ._io import load_attempts

MODEL_COLUMNS = ("model", "cost_per_token", "law")


@dataclass(frozen=True)
class Candidate:
    """One option of the planner: a model (at a generation length) with its coverage law.

    **Fields:** `name`; `cost_per_sample` (FLOPs, effective FLOPs or money, the unit of the
    budget); `law`, a coverage law with input `k` ([`BetaCoverage`][] or [`ExpPowerLaw`][]);
    optional `size` (parameters) and `tokens` (generation length) for the report.
    """

    name: str
    cost_per_sample: float
    law: AbstractLaw
    size: float | None = None
    tokens: float | None = None

    def __post_init__(self):
        cost = float(self.cost_per_sample)
        if not (np.isfinite(cost) and cost > 0):
            raise ValueError(
                f"cost_per_sample={self.cost_per_sample!r} (candidate {self.name!r}): must be positive."
            )
        if not isinstance(self.law, AbstractLaw) or tuple(self.law.inputs) != ("k",):
            raise TypeError(
                f"law (candidate {self.name!r}): expected a coverage law with input 'k' "
                f"(BetaCoverage or ExpPowerLaw), got {type(self.law).__name__}."
            )


@dataclass(frozen=True)
class Plan:
    """What [`plan`][] returns: the chosen `model`, `k` (integer samples), its expected
    `coverage`, `cost` ($k\\,c_m$), the `budget`, the candidate's `size` and `tokens`,
    `k_relaxed` (the continuous optimum) and `options` (the best integer plan of every
    candidate, for the report)."""

    model: str
    k: int
    coverage: float
    cost: float
    budget: float
    size: float | None
    tokens: float | None
    k_relaxed: float
    options: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "k": self.k,
            "coverage": self.coverage,
            "cost": self.cost,
            "budget": self.budget,
            "size": self.size,
            "tokens": self.tokens,
            "k_relaxed": self.k_relaxed,
            "options": self.options,
        }


def _relaxed_log_k(law: AbstractLaw, log_k_max, steps: int = 200):
    """Projected gradient ascent of log coverage in log k on [0, log_k_max] (Adam-like
    normalised steps, shrinking), starting from the middle."""

    def score(log_k):
        return law.log_predict({"k": jnp.exp(log_k)})

    grad = jax.grad(score)

    def body(i, state):
        log_k, step = state
        g = grad(log_k)
        log_k = jnp.clip(log_k + step * jnp.sign(g), 0.0, log_k_max)
        return log_k, step * 0.97

    init = (0.5 * log_k_max, 0.25 * jnp.maximum(log_k_max, 1.0))
    log_k, _ = jax.lax.fori_loop(0, steps, body, init)
    return log_k


_relaxed_jit = eqx.filter_jit(_relaxed_log_k)
_predict_jit = eqx.filter_jit(lambda law, k: law.predict({"k": k}))
_N_CHECK = 72  # at most 64 grid points plus 4 neighbours of the relaxed optimum


def _integer_candidates(k_relaxed: float, k_max: int) -> np.ndarray:
    grid = np.round(np.geomspace(1, k_max, 64)) if k_max > 1 else np.array([1.0])
    near = [math.floor(k_relaxed), math.ceil(k_relaxed), 1, k_max]
    ks = np.unique(np.clip(np.concatenate([grid, near]), 1, k_max)).astype(np.int64)
    return ks


def plan(candidates: Sequence[Candidate], budget: float) -> Plan:
    r"""Choose the model (and generation length) and number of samples for a budget per query.

    Maximises $\mathrm{coverage}_m(k)$ over candidates $m$ and integers $k \ge 1$ with
    $k\,c_m \le B$: a continuous relaxation by projected gradient on $\log k$, then a
    discrete check around it (see the module docstring).

    **Arguments:**

    - `candidates`: [`Candidate`][]s (or use [`load_candidates`][] for a CSV table).
    - `budget`: the budget per query, in the unit of `cost_per_sample`.

    **Returns:** a [`Plan`][].
    """
    budget = float(budget)
    if not (np.isfinite(budget) and budget > 0):
        raise ValueError(f"budget={budget!r}: must be positive and finite.")
    candidates = list(candidates)
    if not candidates:
        raise ValueError("candidates: need at least one candidate model.")
    cheapest = min(float(c.cost_per_sample) for c in candidates)
    if budget < cheapest:
        raise ValueError(
            f"budget={budget!r}: below the cost of one sample of the cheapest candidate ({cheapest:g}); "
            "raise the budget or add a cheaper model."
        )
    options = []
    for cand in candidates:
        k_max = math.floor(budget / float(cand.cost_per_sample) * (1 + 1e-12))
        if k_max < 1:
            continue
        log_k = float(_relaxed_jit(cand.law, jnp.asarray(math.log(k_max))))
        k_relaxed = math.exp(log_k)
        ks = _integer_candidates(k_relaxed, k_max)
        # Pad to a fixed length so one compilation serves every candidate and budget.
        padded = np.concatenate([ks, np.full(_N_CHECK - len(ks), ks[0])]).astype(float)
        coverage = np.asarray(_predict_jit(cand.law, jnp.asarray(padded)))[: len(ks)]
        best = int(np.argmax(coverage))
        options.append(
            {
                "model": cand.name,
                "k": int(ks[best]),
                "coverage": float(coverage[best]),
                "cost": float(ks[best] * float(cand.cost_per_sample)),
                "size": cand.size,
                "tokens": cand.tokens,
                "k_relaxed": k_relaxed,
            }
        )
    best = max(options, key=lambda o: o["coverage"])
    return Plan(budget=budget, options=options, **best)


def load_candidates(table: Any, *, tokens: float | None = None) -> list[Candidate]:
    """Candidates from a table (CSV path, DataFrame or dict) with columns `model`,
    `cost_per_token` and `law` (a coverage-law file written by `scalinglaws testtime fit`,
    relative to the CSV's folder), and optionally `size` and `tokens` (generation length;
    else the `tokens` argument). Cost per sample = `cost_per_token` x `tokens`.

    Several rows may share a model at different generation lengths, each with the coverage
    law measured at that length: the planner then also chooses the length.
    """
    import pandas as pd

    from ._law_io import load_coverage_law

    base = Path(".")
    if isinstance(table, (str, os.PathLike)):
        path = Path(table)
        if not path.exists():
            raise ValueError(f"models={str(table)!r}: no such file.")
        frame, base = pd.read_csv(path), path.parent
    elif isinstance(table, pd.DataFrame):
        frame = table
    elif isinstance(table, dict):
        frame = pd.DataFrame(table)
    else:
        raise TypeError(
            f"models=...: expected a CSV path, a DataFrame or a dict, got {type(table).__name__}."
        )
    missing = [c for c in MODEL_COLUMNS if c not in frame.columns]
    if "tokens" not in frame.columns and tokens is None:
        missing.append("tokens (or pass --tokens)")
    if missing:
        raise ValueError(
            f"models: missing column(s) {missing}; the candidate table needs {list(MODEL_COLUMNS)} "
            f"plus 'tokens' (or a --tokens value) and optionally 'size'; got {list(frame.columns)}."
        )
    out = []
    for i, row in frame.reset_index(drop=True).iterrows():
        length = (
            float(row["tokens"])
            if "tokens" in frame.columns and pd.notna(row["tokens"])
            else tokens
        )
        if length is None or not (np.isfinite(length) and length > 0):
            raise ValueError(
                f"models: row {i} ({row['model']!r}) needs a positive generation length 'tokens'."
            )
        law_path = Path(str(row["law"]))
        if not law_path.is_absolute():
            law_path = base / law_path
        law = load_coverage_law(law_path)
        size = float(row["size"]) if "size" in frame.columns and pd.notna(row["size"]) else None
        out.append(
            Candidate(
                name=str(row["model"]),
                cost_per_sample=float(row["cost_per_token"]) * length,
                law=law,
                size=size,
                tokens=length,
            )
        )
    return out


def allocate_samples(attempts, total: int, *, law=None, model=None) -> np.ndarray:
    r"""Spread `total` new samples across the problems of an attempts table to maximise the
    expected number solved (compute-optimal test-time scaling, Snell et al. 2024).

    Problem $i$'s success probability has the posterior $\mathrm{Beta}(\alpha + c_i,
    \beta + n_i - c_i)$ under a fitted [`BetaCoverage`][] `law` (default: [`fit_beta`][]
    on the same table), so its chance of a first success among $k$ new samples is
    $1 - B(a_i, b_i + k)/B(a_i, b_i)$, concave in $k$ with marginal gain
    $B(a_i + 1, b_i + k)/B(a_i, b_i)$. Greedy allocation of one sample at a time to the
    largest marginal gain is therefore optimal (separable concave objective).

    **Returns:** an int array, samples per problem (sums to `total`).
    """
    table = load_attempts(attempts, model=model)
    total = int(total)
    if total < 0:
        raise ValueError(f"total={total}: must be >= 0.")
    if law is None:
        from ._beta import fit_beta

        law = fit_beta(table).law
    alpha, beta = float(law.alpha), float(law.beta)
    a = alpha + table.c.astype(float)
    b = beta + (table.n - table.c).astype(float)

    def log_gain(i: int, k: int) -> float:
        # log B(a+1, b+k) - log B(a, b)
        return (
            math.lgamma(a[i] + 1)
            + math.lgamma(b[i] + k)
            - math.lgamma(a[i] + b[i] + k + 1)
            - math.lgamma(a[i])
            - math.lgamma(b[i])
            + math.lgamma(a[i] + b[i])
        )

    counts = np.zeros(len(a), dtype=np.int64)
    heap = [(-log_gain(i, 0), i) for i in range(len(a))]
    heapq.heapify(heap)
    for _ in range(total):
        _, i = heapq.heappop(heap)
        counts[i] += 1
        heapq.heappush(heap, (-log_gain(i, int(counts[i])), i))
    return counts


def expected_solved(attempts, allocation, *, law, model=None) -> float:
    """Expected number of problems solved by `allocation` new samples per problem, under the
    per-problem Beta posteriors of `law` (see [`allocate_samples`][])."""
    from ._coverage import betaln

    table = load_attempts(attempts, model=model)
    k = np.asarray(allocation, dtype=float)
    if k.shape != (len(table),) or (k < 0).any():
        raise ValueError(
            f"allocation: expected {len(table)} non-negative sample counts, one per problem."
        )
    a = float(law.alpha) + table.c
    b = float(law.beta) + table.n - table.c
    fail = np.exp(np.asarray(betaln(a, b + k) - betaln(a, b)))
    return float(np.sum(1.0 - fail))


def total_cost(plan_or_cost, *, queries: float, training=None) -> dict[str, float]:
    r"""Training plus expected inference cost: $C_\text{train} + Q \cdot \text{cost per query}$.

    **Arguments:** `plan_or_cost`: a [`Plan`][] (its `cost`) or a number; `queries`: the
    expected number of queries $Q$; `training`: training cost in the same unit: a number,
    a dict with key `"C"`, or an object with attribute `C` (a compute plan), or None.

    **Returns:** `{"training", "inference", "total"}`.
    """
    per_query = float(plan_or_cost.cost) if isinstance(plan_or_cost, Plan) else float(plan_or_cost)
    queries = float(queries)
    if not (np.isfinite(queries) and queries >= 0):
        raise ValueError(f"queries={queries!r}: must be >= 0.")
    if training is None:
        train = 0.0
    elif isinstance(training, dict):
        train = float(training["C"])
    elif hasattr(training, "C"):
        train = float(training.C)
    else:
        train = float(training)
    inference = per_query * queries
    return {"training": train, "inference": inference, "total": train + inference}
