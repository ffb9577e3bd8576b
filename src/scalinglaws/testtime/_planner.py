r"""Spending a test-time budget: which model, how many samples, which generation length.

[`plan`][] chooses, for a budget $B$ per query, the candidate $m$ (a model at a
generation length, with a cost per sample $c_m$, a per-query cost $s_m$ shared by all
samples, and a fitted coverage law) and the number of samples $k$ that maximise the
expected score subject to $s_m + k\,c_m \le B$. The shared cost is Kinetics' prompt KV
reads (Sadhukhan et al. 2025, arXiv:2506.05333: every trial of a query reads the same
prompt cache; see [`kinetics_cost`][] and [`Candidate.from_model`][]); it is 0 for a
plain cost per token.

The score depends on how one answer is selected from the $k$ samples (`selection`):

- `"coverage"`: a perfect verifier, the coverage law itself (Brown et al. 2024).
- `"verifier"`: resample until an imperfect verifier (false-positive rate `fpr`,
    true-positive rate `tpr`) accepts (Stroebl et al. 2024, [`verifier_accuracy`][]).
- `"majority"`: majority vote over two answers ([`majority_vote_accuracy`][]).

The last two need per-problem success probabilities, taken from a [`BetaCoverage`][]
law ([`representative_p`][]). For coverage, projected gradient ascent on $\log k$ (the
continuous relaxation) is followed by an integer check: the floor and ceiling of the
relaxed optimum, the bounds, and a geometric grid, so a non-monotone score cannot fool
it; the other two scores are checked on the integer grid. $k$ is capped at $2^{53}$
(integers beyond are not representable in float64), so budgets up to float64's largest
number are accepted.

[`allocate_samples`][] spreads a total number of samples across problems of different
difficulty, in the spirit of compute-optimal test-time scaling (Snell et al. 2024,
arXiv:2408.03314): more samples where they raise the chance of a first success most.
"""

from __future__ import annotations

import heapq
import math
import os
from collections.abc import Sequence
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..errors import InputError
from ..laws import AbstractLaw
from ..precision import float64, in_float64
from ._cost import H100_INTENSITY, ModelCost, kinetics_cost
from ._io import load_attempts

MODEL_COLUMNS = ("model", "law")
#: Columns that describe the architecture; with them the cost follows Kinetics.
ARCHITECTURE_COLUMNS = ("params", "n_layers", "d_attn", "d_kv")
SELECTIONS = ("coverage", "verifier", "majority")
#: The largest k considered: every integer up to 2**53 is exact in float64.
K_CAP = float(2**53)


@dataclass(frozen=True)
class Candidate:
    """One option of the planner: a model (at a generation length) with its coverage law.

    **Fields:** `name`; `cost_per_sample` (FLOPs, effective FLOPs or money, the unit of the
    budget); `law`, a coverage law with input `k` ([`BetaCoverage`][] or [`ExpPowerLaw`][]);
    optional `size` (parameters) and `tokens` (generation length) for the report;
    `shared_cost`, paid once per query whatever $k$ (Kinetics' prompt KV reads; default 0).
    """

    name: str
    cost_per_sample: float
    law: AbstractLaw
    size: float | None = None
    tokens: float | None = None
    shared_cost: float = 0.0

    @classmethod
    def from_model(
        cls,
        name: str,
        model: ModelCost,
        law: AbstractLaw,
        *,
        tokens: float,
        prompt: float = 0.0,
        intensity: float = H100_INTENSITY,
    ) -> Candidate:
        r"""A candidate costed by Kinetics (Sadhukhan et al. 2025, eq. 2): the cost of $k$
        trials, [`kinetics_cost`][], is linear in $k$; its intercept (the prompt's KV
        reads, shared by the trials) becomes `shared_cost` and its slope `cost_per_sample`."""
        one = float(kinetics_cost(model, 1, tokens, prompt, intensity=intensity))
        two = float(kinetics_cost(model, 2, tokens, prompt, intensity=intensity))
        per_sample = two - one
        return cls(
            name, per_sample, law, size=float(model.N), tokens=float(tokens),
            shared_cost=one - per_sample,
        )

    def __post_init__(self):
        cost = float(self.cost_per_sample)
        if not (np.isfinite(cost) and cost > 0):
            raise InputError(
                f"cost_per_sample={self.cost_per_sample!r} (candidate {self.name!r}): must be positive and finite."
            )
        shared = float(self.shared_cost)
        if not (np.isfinite(shared) and shared >= 0):
            raise InputError(
                f"shared_cost={self.shared_cost!r} (candidate {self.name!r}): must be >= 0 and finite."
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
    candidate, for the report). `coverage` is the expected score of the chosen
    `selection`: coverage, verifier accuracy or majority-vote accuracy."""

    model: str
    k: int
    coverage: float
    cost: float
    budget: float
    size: float | None
    tokens: float | None
    k_relaxed: float
    options: list[dict[str, Any]] = field(default_factory=list)
    selection: str = "coverage"

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "k": self.k,
            "coverage": self.coverage,
            "selection": self.selection,
            "cost": self.cost,
            "budget": self.budget,
            "size": self.size,
            "tokens": self.tokens,
            "k_relaxed": self.k_relaxed,
            "options": self.options,
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (alias of `as_dict`, the name every result shares)."""
        return self.as_dict()

    def summary(self) -> str:
        """One line for the choice, then one per candidate's best integer plan."""
        from ..results import format_table

        head = (f"model {self.model}" + (f" (tokens {self.tokens:g})" if self.tokens else "")
                + f", k = {self.k} samples: {self.selection} {self.coverage:.4f} at cost {self.cost:.3g} "
                f"of budget {self.budget:.3g}")
        return head + ("\n" + format_table(self.options) if self.options else "")

    def __repr__(self) -> str:
        from ..results import value_repr

        return value_repr("Plan", {"model": self.model, "k": self.k, self.selection: self.coverage,
                                   "cost": self.cost, "budget": self.budget, "tokens": self.tokens})


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


def _integer_candidates(k_relaxed: float, k_max: float) -> np.ndarray:
    r"""Integers (as float64) to check: a geometric grid, the bounds and the neighbours of
    the relaxed optimum, all in $[1, k_\max]$."""
    grid = np.round(np.geomspace(1.0, k_max, 64)) if k_max > 1 else np.array([1.0])
    near = [math.floor(k_relaxed), math.ceil(k_relaxed), 1.0, k_max]
    return np.unique(np.clip(np.concatenate([grid, np.asarray(near, dtype=float)]), 1.0, k_max))


def _majority_scores(p: np.ndarray, ks: np.ndarray) -> np.ndarray:
    r"""Mean over problems of $P(X > k/2) + \tfrac12 P(X = k/2)$, $X \sim
    \mathrm{Binomial}(k, p)$: [`majority_vote_accuracy`][] in $O(1)$ per $(p, k)$ from the
    regularised incomplete Beta function, $P(X \ge j) = I_p(j, k - j + 1)$."""
    from jax.scipy.special import betainc, gammaln

    with in_float64():
        p_ = jnp.asarray(p)[None, :]
        k_ = jnp.asarray(ks)[:, None]
        above = jnp.floor(k_ / 2) + 1  # smallest strict majority
        tail = jnp.where(above <= k_, betainc(above, jnp.maximum(k_ - above + 1, 1.0), p_), 0.0)
        half = k_ / 2
        even = jnp.mod(k_, 2) == 0
        log_tie = (
            gammaln(k_ + 1) - 2 * gammaln(half + 1)
            + half * jnp.log(jnp.maximum(p_, 1e-300)) + half * jnp.log(jnp.maximum(1 - p_, 1e-300))
        )
        tie = jnp.where(even & (p_ > 0) & (p_ < 1), jnp.exp(log_tie), 0.0)
        return np.asarray((tail + 0.5 * tie).mean(axis=1))


def _scores(cand: Candidate, ks: np.ndarray, selection: str, p, fpr: float, tpr: float) -> np.ndarray:
    if selection == "coverage":
        padded = np.concatenate([ks, np.full(_N_CHECK - len(ks), ks[0])]).astype(float)
        return np.asarray(_predict_jit(cand.law, jnp.asarray(padded)))[: len(ks)]
    if selection == "verifier":
        from ._verifier import verifier_accuracy

        return verifier_accuracy(p, ks, fpr=fpr, tpr=tpr)
    return _majority_scores(p, ks)


@float64
def plan(
    candidates: Sequence[Candidate],
    budget: float,
    *,
    selection: str = "coverage",
    fpr: float = 0.0,
    tpr: float = 1.0,
) -> Plan:
    r"""Choose the model (and generation length) and number of samples for a budget per query.

    Maximises the expected score of `selection` over candidates $m$ and integers
    $1 \le k \le 2^{53}$ with $s_m + k\,c_m \le B$ (see the module docstring).

    **Arguments:**

    - `candidates`: [`Candidate`][]s (or use [`load_candidates`][] for a CSV table).
    - `budget`: the budget per query, in the unit of `cost_per_sample` (any positive
        float64).
    - `selection`: `"coverage"` (a perfect verifier; default), `"verifier"` (resample
        until an imperfect verifier accepts, Stroebl et al. 2024) or `"majority"`
        (majority vote, Brown et al. 2024). The last two need [`BetaCoverage`][] laws.
    - `fpr`, `tpr`: the verifier's false- and true-positive rates (`"verifier"` only).

    **Returns:** a [`Plan`][].
    """
    budget = float(budget)
    if not (np.isfinite(budget) and budget > 0):
        raise InputError(f"budget={budget!r}: must be positive and finite.")
    if selection not in SELECTIONS:
        raise InputError(f"selection={selection!r}: expected one of {list(SELECTIONS)}.")
    candidates = list(candidates)
    if not candidates:
        raise InputError("candidates: need at least one candidate model.")
    if selection == "verifier":
        from ._verifier import _check_rate

        fpr = _check_rate(fpr, "fpr", allow_zero=True)
        tpr = _check_rate(tpr, "tpr", allow_zero=False)
    elif (fpr, tpr) != (0.0, 1.0):
        raise InputError(f"fpr/tpr: only used with selection='verifier', not selection={selection!r}.")
    cheapest = min(float(c.shared_cost) + float(c.cost_per_sample) for c in candidates)
    if budget < cheapest:
        raise InputError(
            f"budget={budget!r}: below the cost of one sample of the cheapest candidate ({cheapest:g}); "
            "raise the budget or add a cheaper model."
        )
    options = []
    for cand in candidates:
        p = None
        if selection != "coverage":
            from ._coverage import BetaCoverage
            from ._verifier import representative_p

            if not isinstance(cand.law, BetaCoverage):
                raise InputError(
                    f"selection={selection!r} (candidate {cand.name!r}): needs per-problem success "
                    f"probabilities, i.e. a BetaCoverage law (testtime fit --law beta); got "
                    f"{type(cand.law).__name__}. Use selection='coverage' or refit with --law beta."
                )
            p = representative_p(cand.law)
        room = (budget - float(cand.shared_cost)) / float(cand.cost_per_sample)
        k_max = min(math.floor(room * (1 + 1e-12)), K_CAP)
        if k_max < 1:
            continue
        if selection == "coverage":
            log_k = float(_relaxed_jit(cand.law, jnp.asarray(math.log(k_max))))
            k_relaxed = math.exp(log_k)
        else:
            k_relaxed = float(k_max)
        ks = _integer_candidates(k_relaxed, float(k_max))
        scores = _scores(cand, ks, selection, p, fpr, tpr)
        if not np.all(np.isfinite(scores)):
            bad = float(ks[~np.isfinite(scores)][0])
            raise InputError(
                f"candidate {cand.name!r}: its {type(cand.law).__name__} law gives a non-finite {selection} at "
                f"k={bad:.6g}; check the law file's coefficients."
            )
        best = int(np.argmax(scores))
        k_best = float(ks[best])
        options.append(
            {
                "model": cand.name,
                "k": int(k_best),
                "coverage": float(scores[best]),
                "cost": float(cand.shared_cost) + k_best * float(cand.cost_per_sample),
                "size": cand.size,
                "tokens": cand.tokens,
                "k_relaxed": k_relaxed,
            }
        )
    best = max(options, key=lambda o: o["coverage"])
    return Plan(budget=budget, options=options, selection=selection, **best)


def load_candidates(
    table: Any,
    *,
    tokens: float | None = None,
    prompt: float | None = None,
    intensity: float = H100_INTENSITY,
    columns: dict[str, str] | None = None,
    allow_import: bool = False,
) -> list[Candidate]:
    """Candidates from a table (CSV path, DataFrame or dict, read by
    `scalinglaws.data.read_table`) with columns `model` and `law` (a coverage-law file
    written by `scalinglaws testtime fit`, relative to the CSV's folder), optionally
    `size` and `tokens` (generation length; else the `tokens` argument), and the cost:

    - `cost_per_token`: cost per sample = `cost_per_token` x `tokens` (linear in the
        length: a price, or a FLOP count that ignores attention), or
    - the architecture, `params`, `n_layers`, `d_attn`, `d_kv` (and optionally `prompt`,
        else the `prompt` argument, default 0): Kinetics' effective FLOPs
        ([`Candidate.from_model`][], Sadhukhan et al. 2025), quadratic in the length, with
        the prompt's KV reads shared by the samples of a query.

    Several rows may share a model at different generation lengths, each with the coverage
    law measured at that length: the planner then also chooses the length.

    `columns` maps your column names to these (`{"cost": "cost_per_token"}`);
    `allow_import` is passed to [`load_coverage_law`][].
    """
    import pandas as pd

    from ..data import read_table, rename_columns
    from ._law_io import load_coverage_law

    frame, source = read_table(table, argument="models", kind="a models table")
    frame = rename_columns(frame, columns, argument="models")  # `columns=`: your column names
    base = Path(os.fspath(table)).parent if isinstance(table, (str, os.PathLike)) else Path(".")
    if source.startswith("dataset:"):  # a built-in (testtime-models): its law files lie beside it
        from ..datasets import dataset_path

        base = dataset_path(source.removeprefix("dataset:")).parent
    has_arch = all(c in frame.columns for c in ARCHITECTURE_COLUMNS)
    missing = [c for c in MODEL_COLUMNS if c not in frame.columns]
    if "cost_per_token" not in frame.columns and not has_arch:
        missing.append(f"cost_per_token (or the architecture {list(ARCHITECTURE_COLUMNS)})")
    if tokens is not None and "tokens" in frame.columns and frame["tokens"].notna().all():
        raise InputError(  # never silently ignored (issue 12): the column would win on every row
            f"models: the table has a 'tokens' column for every row, so tokens={tokens!r} (--tokens) would be "
            "ignored; leave it out, or drop the column to use one generation length for all models."
        )
    if "tokens" not in frame.columns and tokens is None:
        missing.append("tokens (or pass --tokens)")
    if missing:
        raise InputError(
            f"models: missing column(s) {missing}; the candidate table needs {list(MODEL_COLUMNS)}, a cost "
            f"('cost_per_token', or {list(ARCHITECTURE_COLUMNS)} for Kinetics' cost), 'tokens' (or a --tokens "
            f"value) and optionally 'size', 'prompt'; got {list(frame.columns)}."
        )

    def number(row, i, column, default=None):
        if column in frame.columns and pd.notna(row[column]):
            try:
                return float(row[column])
            except (TypeError, ValueError):
                raise InputError(
                    f"models: row {i} ({row['model']!r}) column {column!r} is not a number: {row[column]!r}."
                ) from None
        return default

    out = []
    for i, row in frame.reset_index(drop=True).iterrows():
        length = number(row, i, "tokens", tokens)
        if length is None or not (np.isfinite(length) and length > 0):
            raise InputError(
                f"models: row {i} ({row['model']!r}) needs a positive generation length 'tokens'."
            )
        law_path = Path(str(row["law"]))
        if not law_path.is_absolute():
            law_path = base / law_path
        law = load_coverage_law(law_path, allow_import=allow_import)
        size = number(row, i, "size")
        if has_arch and number(row, i, "params") is not None:
            model = ModelCost(
                N=number(row, i, "params"),
                n_layers=number(row, i, "n_layers"),
                d_attn=number(row, i, "d_attn"),
                d_kv=number(row, i, "d_kv"),
            )
            cand = Candidate.from_model(
                str(row["model"]), model, law, tokens=length,
                prompt=number(row, i, "prompt", prompt if prompt is not None else 0.0),
                intensity=intensity,
            )
            out.append(cand if size is None else dataclasses.replace(cand, size=size))
            continue
        cost = number(row, i, "cost_per_token")
        if cost is None:
            raise InputError(f"models: row {i} ({row['model']!r}) has no cost_per_token.")
        out.append(Candidate(name=str(row["model"]), cost_per_sample=cost * length, law=law, size=size,
                             tokens=length))
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
    if not (np.isfinite(per_query) and per_query >= 0):
        raise InputError(f"plan_or_cost={per_query!r}: the cost per query must be >= 0 and finite.")
    queries = float(queries)
    if not (np.isfinite(queries) and queries >= 0):
        raise InputError(f"queries={queries!r}: must be >= 0 and finite.")
    if training is None:
        train = 0.0
    elif isinstance(training, dict):
        train = float(training["C"])
    elif hasattr(training, "C"):
        train = float(training.C)
    else:
        train = float(training)
    if not (np.isfinite(train) and train >= 0):
        raise InputError(f"training={train!r}: the training cost must be >= 0 and finite (--training-cost).")
    inference = per_query * queries
    total = train + inference
    if not np.isfinite(total):
        raise InputError(
            f"queries={queries!r}: training + inference cost overflows float64 ({train:g} + {per_query:g} x "
            f"{queries:g}); give smaller numbers or another unit."
        )
    return {"training": train, "inference": inference, "total": total}
