r"""Optimal mixtures: gradient descent on the simplex under per-domain and token constraints.

The feasible set is $\{r : \ell_j \le r_j \le h_j,\ \sum_j r_j = 1\}$, where the upper
bound folds in the token budget: with a planned total of $T$ tokens and $U_j$ unique
tokens in domain $j$, domain $j$ is repeated $r_j T / U_j$ times, and at most
`max_epochs` repetitions give $r_j \le \text{max\_epochs}\,U_j/T$.

The descent is mirror descent with the entropy map (exponentiated gradient; Beck &
Teboulle 2003): Adam steps (optax, cosine-decayed) on $\log r$ with the gradient centred
on its Lagrange multiplier, then the KL projection onto the feasible set (its scalar
multiplier found by `optimistix.Bisection`, to float64 precision), so every iterate
satisfies every constraint to about 1e-15.
Restarts are `jax.vmap`-ed; a final pass snaps coordinates that the multiplicative
steps only drive to their lower bound geometrically.

Repeated data are worth less: with token budget and availability given, the law is
evaluated at *effective* proportions $r'_j = D'_j / T$, where $D_j = r_j T$ and
$D' = U + U R^*_D\,(1 - e^{-R/R^*_D})$, $R = D/U - 1$ (Muennighoff et al. 2023,
arXiv:2305.16264, eq. 5; `scalinglaws.laws.data_constrained.effective_tokens`, the same
function the data-constrained law uses). $R^*_D$ defaults to Muennighoff et al.'s fitted
15.4 and is overridable (`r_d_star=`: a number, or a fitted data-constrained law whose
`R_D_star` is used). $r'$ is not renormalised: a repeated domain contributes fewer
effective tokens, and the others do not gain any.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import optimistix as optx
from jaxtyping import Array

from ..errors import InputError
from ..laws.data_constrained import R_D_STAR, effective_tokens
from ..precision import float64
from ._fit import MixtureFit

__all__ = [
    "R_D_STAR",
    "MixturePlan",
    "effective_tokens",
    "kl_project",
    "optimize_mixture",
    "project",
]

# Constraint checks compare sums against 1 with this slack (float64 rounding of user input).
FEASIBILITY_TOL = 1e-12
# The projections' multipliers: |sum - 1| < 1e-13 and the bracket below 1e-14 (relative);
# the last rounding error is then put on one coordinate (`_close_gap`).
_FALLING = optx.Bisection(rtol=1e-14, atol=1e-13, flip=True)
_RISING = optx.Bisection(rtol=1e-14, atol=1e-13, flip=False)
_PROJECTION_STEPS = 256


def _multiplier(total, lower, upper, *, rising: bool):
    """Root of the monotone scalar function `total(tau) - 1` in [lower, upper] (optimistix).

    With `throw=False`: at float64's resolution the bisection may stop on `max_steps`
    with the sum off by ~1e-16 per coordinate, which `_close_gap` then removes exactly.
    """
    sol = optx.root_find(
        lambda tau, _: total(tau) - 1.0,
        _RISING if rising else _FALLING,
        0.5 * (lower + upper),
        options=dict(lower=lower, upper=upper),
        max_steps=_PROJECTION_STEPS,
        throw=False,
    )
    return sol.value


def project(v: Array, lo: Array, hi: Array) -> Array:
    r"""Euclidean projection of `v` onto $\{\ell \le r \le h, \sum r = 1\}$ (last axis).

    The projection is $\mathrm{clip}(v - \tau, \ell, h)$ for the $\tau$ at which it sums to
    1, a non-increasing function of $\tau$, whose root `optimistix.Bisection` finds to
    float64 precision inside $[\min(v - h), \max(v - \ell)]$. Requires $\sum \ell \le 1 \le
    \sum h$ (checked by [`optimize_mixture`][]); leading axes are batch axes.
    """

    def one(v, lo, hi):
        def total(tau):
            return jnp.sum(jnp.clip(v - tau, lo, hi))

        tau = _multiplier(total, jnp.min(v - hi), jnp.max(v - lo), rising=False)
        return _close_gap(jnp.clip(v - tau, lo, hi), lo, hi)

    return jnp.vectorize(one, signature="(n),(n),(n)->(n)")(v, lo, hi)


def kl_project(z: Array, lo: Array, hi: Array) -> Array:
    r"""Bregman (KL) projection of $e^{z}$ onto $\{\ell \le r \le h, \sum r = 1\}$ (last
    axis): $r = \mathrm{clip}(\lambda e^{z}, \ell, h)$ for the $\lambda$ at which it sums
    to 1, found by `optimistix.Bisection` on $\log\lambda$. The projection of mirror
    descent with the entropy mirror map (exponentiated gradient)."""

    def one(z, lo, hi):
        z = jnp.maximum(z, -700.0)

        def total(log_lam):
            return jnp.sum(jnp.clip(jnp.exp(jnp.minimum(log_lam + z, 0.0)), lo, hi))

        lower = jnp.min(jnp.log(jnp.maximum(lo, 1e-300)) - z)  # total = sum(lo) <= 1
        upper = jnp.max(jnp.log(hi) - z)  # total = sum(hi) >= 1
        log_lam = _multiplier(total, lower, upper, rising=True)
        return _close_gap(jnp.clip(jnp.exp(jnp.minimum(log_lam + z, 0.0)), lo, hi), lo, hi)

    return jnp.vectorize(one, signature="(n),(n),(n)->(n)")(z, lo, hi)


def _close_gap(r: Array, lo: Array, hi: Array) -> Array:
    # Put the last rounding error (~1e-16) on the coordinate with most room inside its bounds.
    gap = 1.0 - jnp.sum(r, axis=-1, keepdims=True)
    room = jnp.where(gap > 0, hi - r, r - lo)
    j = jnp.argmax(room, axis=-1)[..., None]
    onehot = jnp.arange(r.shape[-1]) == j
    return jnp.where(onehot, jnp.clip(r + gap, lo, hi), r)


@dataclass(frozen=True)
class MixturePlan:
    """The optimised mixture and what the law predicts for it.

    **Fields:** `weights` (domain -> proportion), `predicted` (loss column -> predicted
    loss), `objective` (the optimised target's value), `target`, `lower`/`upper` (the
    bounds used, upper including the token limit), `effective` (domain -> effective
    proportion, when tokens are given), `restarts` (objective of every restart).
    """

    weights: dict[str, float]
    predicted: dict[str, float]
    objective: float
    target: str
    lower: dict[str, float]
    upper: dict[str, float]
    effective: dict[str, float] | None = None
    restarts: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)

    def as_dict(self) -> dict[str, Any]:
        out = {"weights": self.weights, "predicted": self.predicted, "objective": self.objective,
               "target": self.target}
        if self.effective is not None:
            out["effective"] = self.effective
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (alias of `as_dict`, the name every result shares)."""
        return self.as_dict()

    def summary(self) -> str:
        """The non-zero weights, largest first, and the predicted target loss."""
        shown = sorted(((w, d) for d, w in self.weights.items() if w > 1e-4), reverse=True)
        lines = [f"optimal mixture for {self.target}: predicted {self.objective:.6g}"]
        lines += [f"  {d:<28s} {w:8.4f}" for w, d in shown]
        return "\n".join(lines)

    def __repr__(self) -> str:
        from ..results import value_repr

        top = dict(sorted(((d, round(w, 4)) for d, w in self.weights.items() if w > 1e-3),
                          key=lambda item: -item[1]))
        return value_repr("MixturePlan", {"target": self.target, "objective": self.objective,
                                          "weights (> 0.001)": top})


def _resolve_bounds(domains, minimum, maximum, tokens, available, max_epochs):
    n = len(domains)
    lo, hi = np.zeros(n), np.ones(n)
    for argument, values, array in (("minimum", minimum, lo), ("maximum", maximum, hi)):
        for name, value in dict(values or {}).items():
            if name not in domains:
                raise ValueError(
                    f"{argument}: unknown domain {name!r}; domains are {list(domains)}."
                )
            value = float(value)
            if not (np.isfinite(value) and 0.0 <= value <= 1.0):
                raise ValueError(f"{argument}: {name}={value!r} must be a weight in [0, 1].")
            array[domains.index(name)] = value
    U = None
    if available and tokens is None:
        raise ValueError("available=...: give the planned total token budget too (tokens=..., --tokens).")
    if tokens is not None:
        tokens = float(tokens)
        if not (np.isfinite(tokens) and tokens > 0):
            raise ValueError(f"tokens={tokens!r}: the planned token budget must be positive and finite.")
        if not available:
            raise ValueError("tokens=...: give the unique tokens of each domain (available={domain: tokens}).")
        U = np.full(n, np.inf)
        for name, value in dict(available).items():
            if name not in domains:
                raise ValueError(f"available: unknown domain {name!r}; domains are {list(domains)}.")
            value = float(value)
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"available: {name}={value!r} must be a positive number of tokens.")
            U[domains.index(name)] = value
        # Muennighoff et al. 2023: up to about 4 epochs, repeated data are almost as good as new.
        max_epochs = 4.0 if max_epochs is None else max_epochs
        if max_epochs is not None:
            max_epochs = float(max_epochs)
            if not (np.isfinite(max_epochs) and max_epochs > 0):
                raise ValueError(f"max_epochs={max_epochs!r}: must be positive and finite.")
            hi = np.minimum(hi, max_epochs * U / tokens)
    elif max_epochs is not None:
        raise ValueError("max_epochs=...: needs tokens=... and available=... (unique tokens per domain).")
    bad = np.flatnonzero(lo > hi)
    if bad.size:
        j = int(bad[0])
        raise ValueError(
            f"constraints are infeasible: domain {domains[j]!r} has minimum {lo[j]:g} above its maximum "
            f"{hi[j]:g}" + (" (after the token limit max_epochs * available / tokens)" if U is not None else "")
            + "."
        )
    if lo.sum() > 1.0 + FEASIBILITY_TOL:
        raise ValueError(
            f"constraints are infeasible: the minimum weights sum to {lo.sum():.6g} > 1. Lower some minimums."
        )
    if hi.sum() < 1.0 - FEASIBILITY_TOL:
        if U is not None:
            raise ValueError(
                f"constraints are infeasible: too few tokens for the budget: with max_epochs={max_epochs}, "
                f"the domains can supply at most {hi.sum() * tokens:.4g} of the {tokens:.4g} planned tokens "
                "(maximum weights sum to "
                f"{hi.sum():.6g} < 1). Add data, allow more epochs, or plan fewer tokens."
            )
        raise ValueError(
            f"constraints are infeasible: the maximum weights sum to {hi.sum():.6g} < 1. Raise some maximums."
        )
    return lo, hi, U, tokens


def _target_weights(fit: MixtureFit, target) -> tuple[str, np.ndarray]:
    """`target` -> (label, weights over targets) or the string 'max'."""
    m = len(fit.targets)
    if isinstance(target, Mapping):
        w = np.zeros(m)
        for name, value in target.items():
            if name not in fit.targets:
                raise ValueError(f"target: unknown loss column {name!r}; targets are {list(fit.targets)}.")
            w[fit.targets.index(name)] = float(value)
        if (w < 0).any() or w.sum() <= 0:
            raise ValueError("target: weights over loss columns must be >= 0 and not all zero.")
        return "weighted", w / w.sum()
    if target == "mean":
        return "mean", np.full(m, 1.0 / m)
    if target == "max":
        return "max", np.zeros(m)
    if isinstance(target, str):
        name = target if target in fit.targets else None
        if name is None:
            # Accept a domain name for its loss column (pile_cc -> loss_pile_cc).
            matches = [t for t in fit.targets if t.endswith(target) and t[: -len(target)].rstrip("_") != t]
            name = matches[0] if len(matches) == 1 else None
        if name is None:
            raise ValueError(
                f"target={target!r}: expected a loss column {list(fit.targets)}, 'mean' or 'max'."
            )
        w = np.zeros(m)
        w[fit.targets.index(name)] = 1.0
        return name, w
    raise TypeError(f"target=...: expected a loss column name, 'mean', 'max' or a dict, got {target!r}.")


class MixtureObjective(eqx.Module):
    """The scalar function of a mixture $r$ that [`optimize_mixture`][] minimises.

    A pytree (the fitted law's coefficients are leaves), so one compiled optimiser serves
    every fit of the same shape: bootstrap replicates do not recompile.
    """

    fit: MixtureFit
    weights: Array
    U: Array
    limited: Array
    tokens: Array
    covariates: dict
    r_d_star: Array
    kind: str = eqx.field(static=True)
    with_tokens: bool = eqx.field(static=True)

    def inputs(self, r: Array) -> Array:
        """Effective proportions seen by the law (the mixture itself without a budget)."""
        if not self.with_tokens:
            return r
        D = r * self.tokens
        return jnp.where(self.limited, effective_tokens(D, self.U, self.r_d_star) / self.tokens, r)

    def losses(self, r: Array) -> Array:
        return self.fit.predict_proportions(self.inputs(r), self.covariates or None)

    def __call__(self, r: Array) -> Array:
        values = self.losses(r)
        return jnp.max(values, axis=-1) if self.kind == "max" else values @ self.weights


def resolve_r_d_star(r_d_star) -> float:
    """`r_d_star=` as a number: None -> Muennighoff et al. 2023's 15.4; a number; or a law
    (or fit) with a fitted `R_D_star` (the data-constrained law)."""
    if r_d_star is None:
        return R_D_STAR
    law = getattr(r_d_star, "law", r_d_star)
    value = getattr(law, "R_D_star", r_d_star)
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise InputError(
            f"r_d_star={r_d_star!r}: expected a number of repetitions, or a data-constrained law with R_D_star."
        ) from None
    if not (np.isfinite(value) and value > 0):
        raise InputError(f"r_d_star={value!r}: must be positive and finite (Muennighoff et al. 2023 fit 15.4).")
    return value


def make_objective(
    fit: MixtureFit, target="mean", *, tokens=None, available=None, covariates=None, r_d_star=None
):
    """`(label, objective)`: the target's name and its [`MixtureObjective`][]."""
    label, w = _target_weights(fit, target)
    n = len(fit.domains)
    U = np.full(n, np.inf)
    for name, value in dict(available or {}).items():
        U[fit.domains.index(name)] = float(value)
    objective = MixtureObjective(
        fit=fit,
        weights=jnp.asarray(w),
        U=jnp.asarray(np.where(np.isfinite(U), U, 1.0)),
        limited=jnp.asarray(np.isfinite(U)),
        tokens=jnp.asarray(float(tokens) if tokens is not None else 1.0),
        covariates={k: jnp.asarray(float(v)) for k, v in dict(covariates or {}).items()},
        r_d_star=jnp.asarray(resolve_r_d_star(r_d_star)),
        kind="max" if label == "max" else "linear",
        with_tokens=tokens is not None,
    )
    return label, objective


@eqx.filter_jit
def _descend(objective, r0, lo, hi, lr, steps, b2=0.9):
    schedule = optax.cosine_decay_schedule(lr, steps, alpha=1e-3)
    optimiser = optax.adam(schedule, b2=b2)
    grad = jax.grad(objective)

    def run(r):
        state = optimiser.init(r)

        def step(carry, _):
            r, state, best_r, best_f = carry
            g = grad(r)
            # Mirror descent with the entropy map (exponentiated gradient): a step on
            # log r, then the KL projection. Adam normalises each coordinate, so the
            # gradient is first centred on its r-weighted mean (the Lagrange multiplier
            # of sum r = 1): a common component would otherwise become equal steps that
            # the projection cancels, and the iterates would stall off the optimum.
            centred = g - jnp.sum(r * g)
            updates, state = optimiser.update(centred, state, r)
            r = kl_project(jnp.log(jnp.maximum(r, 1e-300)) + updates, lo, hi)
            f = objective(r)
            better = f < best_f
            return (r, state, jnp.where(better, r, best_r), jnp.where(better, f, best_f)), None

        f0 = objective(r)
        (r, _, best_r, best_f), _ = jax.lax.scan(step, (r, state, r, f0), None, length=steps)
        return best_r, best_f

    return jax.vmap(run)(r0)


# Module-level compiled helpers: eager calls would retrace their loops on every call.
_project_jit = jax.jit(project)
_kl_project_jit = jax.jit(kl_project)
_value_jit = eqx.filter_jit(lambda objective, r: objective(r))
_grad_jit = eqx.filter_jit(lambda objective, r: jax.grad(objective)(r))
_losses_jit = eqx.filter_jit(lambda objective, r: (objective.losses(r), objective.inputs(r)))
_close_gap_jit = jax.jit(_close_gap)


def _polish(objective, r: Array, lo: Array, hi: Array, threshold: float = 1e-4) -> Array:
    """Snap coordinates that mirror descent only drives to their bound geometrically.

    Multiplicative steps approach a lower bound like $e^{-k}$ and never reach it; a
    coordinate within `threshold` of its lower bound whose gradient exceeds the multiplier
    (it still wants to shrink) is set to the bound, the rest re-projected. Kept only if
    the objective does not increase.
    """
    fixed = jnp.zeros(r.shape, dtype=bool)
    for _ in range(r.shape[-1]):  # one coordinate settles per pass
        g = _grad_jit(objective, r)
        free = (r > lo) & (r < hi)
        mu = jnp.sum(jnp.where(free, r * g, 0.0)) / jnp.maximum(jnp.sum(jnp.where(free, r, 0.0)), 1e-300)
        snap = (r - lo < threshold) & (g > mu) & (r > lo)
        if not bool(jnp.any(snap)):
            break
        fixed = fixed | snap
        candidate = _project_jit(jnp.where(fixed, lo, r), lo, jnp.where(fixed, lo, hi))
        if not float(_value_jit(objective, candidate)) <= float(_value_jit(objective, r)):
            break
        r = candidate
    return r


@float64
def optimize_mixture(
    fit: MixtureFit,
    target: str | Mapping[str, float] = "mean",
    *,
    minimum: Mapping[str, float] | None = None,
    maximum: Mapping[str, float] | None = None,
    tokens: float | None = None,
    available: Mapping[str, float] | None = None,
    max_epochs: float | None = None,
    covariates: Mapping[str, float] | None = None,
    r_d_star: float | Any | None = None,
    within_range: bool = False,
    restarts: int = 32,
    steps: int = 500,
    learning_rate: float = 0.1,
    seed: int = 0,
) -> MixturePlan:
    r"""The mixture minimising a fitted law's predicted loss, by projected gradient descent.

    **Arguments:**

    - `fit`: a [`MixtureFit`][].
    - `target`: a loss column (or its domain name: `"pile_cc"`), `"mean"` (mean over all
        fitted loss columns), `"max"` (the worst one), or a dict loss column -> weight.
    - `minimum`, `maximum`: domain -> bound on its weight.
    - `tokens`: the planned total training tokens $T$; `available`: domain -> unique
        tokens $U_j$ (domains not listed are unlimited); `max_epochs`: at most this many
        passes over any domain (default 4 when `tokens` is given, where Muennighoff et al. 2023 find repeated data
        about as good as new). With `tokens`, the law sees effective proportions (see the
        module documentation).
    - `r_d_star`: Muennighoff et al.'s $R_D^*$ for the effective data of repeated domains:
        a number, a fitted data-constrained law (its `R_D_star`), or None for their
        published 15.4 (arXiv:2305.16264).
    - `within_range`: also bound every domain by the largest weight it had in the fitted
        runs (`fit.weight_range`): a mixing law is an interpolator, and its optimum far
        outside the proxies' mixtures is an extrapolation.
    - `covariates`: values of other inputs of the law (e.g. `{"N": 1e9}` for a
        `ScaledMixingLaw`).
    - `restarts`: number of starting mixtures (Dirichlet(1) draws, projected), vmapped;
        `steps`, `learning_rate`: Adam with cosine decay; `seed`.

    **Returns:** a [`MixturePlan`][]; its weights satisfy every bound and sum to 1 to
    within 1e-12.
    """
    if not isinstance(fit, MixtureFit):
        raise TypeError(f"fit=...: expected a MixtureFit (from fit_mixture), got {type(fit).__name__}.")
    domains = tuple(fit.domains)
    if within_range:
        if fit.weight_range is None:
            raise ValueError("within_range=True: this fit does not record its weight range; refit with fit_mixture.")
        seen = np.asarray(fit.weight_range)[:, 1]
        maximum = {d: min(float(seen[j]), float(dict(maximum or {}).get(d, 1.0))) for j, d in enumerate(domains)} | {
            k: v for k, v in dict(maximum or {}).items() if k not in domains}
    lo, hi, U, tokens = _resolve_bounds(domains, minimum, maximum, tokens, available, max_epochs)
    for name in fit.extra_inputs:
        if covariates is None or name not in covariates:
            raise ValueError(f"covariates: the law also reads {name!r}; give covariates={{{name!r}: value}}.")
    if not (isinstance(restarts, (int, np.integer)) and restarts >= 1):
        raise ValueError(f"restarts={restarts!r}: expected a positive integer.")
    label, objective = make_objective(
        fit, target, tokens=tokens, available=available, covariates=covariates, r_d_star=r_d_star
    )
    rng = np.random.default_rng(seed)
    n = len(domains)
    r0 = rng.dirichlet(np.ones(n), size=restarts)
    r0[0] = np.full(n, 1.0 / n)  # the uniform mixture is always one of the starts
    lo_j, hi_j = jnp.asarray(lo), jnp.asarray(hi)
    # Strictly positive starts: the multiplicative (mirror) steps never revive an exact zero.
    r0 = _kl_project_jit(jnp.log(jnp.asarray(r0)), lo_j, hi_j)
    best_r, best_f = _descend(objective, r0, lo_j, hi_j, float(learning_rate), int(steps))
    best_f = np.asarray(best_f)
    i = int(np.nanargmin(best_f))
    r = np.asarray(_polish(objective, _close_gap_jit(best_r[i], lo_j, hi_j), lo_j, hi_j))
    predicted, seen = _losses_jit(objective, jnp.asarray(r))
    predicted = np.asarray(predicted)
    # The projections' bisections run with throw=False: check their outcome here, where it
    # matters, so an infeasible answer is never returned as a plan.
    if not (np.all(r >= lo - FEASIBILITY_TOL) and np.all(r <= hi + FEASIBILITY_TOL)
            and abs(r.sum() - 1.0) <= FEASIBILITY_TOL and np.all(np.isfinite(r))):
        raise RuntimeError(
            f"optimize_mixture: the optimised weights violate the constraints (sum {r.sum()!r}); this is a bug, "
            "please report it with the fit file and options."
        )
    effective = None
    if tokens is not None:
        effective = dict(zip(domains, map(float, np.asarray(seen))))
    return MixturePlan(
        weights=dict(zip(domains, map(float, r))),
        predicted=dict(zip(fit.targets, map(float, predicted))),
        objective=float(_value_jit(objective, jnp.asarray(r))),
        target=label,
        lower=dict(zip(domains, map(float, lo))),
        upper=dict(zip(domains, map(float, hi))),
        effective=effective,
        restarts=best_f,
    )
