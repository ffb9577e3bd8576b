r"""Imperfect verifiers and majority voting: what resampling can and cannot buy.

Model (Stroebl et al. 2024, "Inference Scaling fLaws: The Limits of LLM Resampling with
Imperfect Verifiers", arXiv:2411.17501): on a problem with per-sample success probability
$p$, draw samples until the verifier accepts one, at most $k$. The verifier accepts a
correct sample with probability $t$ (true-positive rate) and a wrong one with probability
$f$ (false-positive rate). Per sample: accept-and-correct $p t$, accept-and-wrong
$(1-p) f$, reject $r = 1 - p t - (1-p) f$. Then

$$P(\text{correct} \mid k) = p t\,\frac{1 - r^k}{1 - r}, \qquad
  P(\text{wrong answer} \mid k) = (1-p) f\,\frac{1 - r^k}{1 - r},$$

and otherwise the system abstains. As $k \to \infty$ accuracy rises to the *ceiling*
$p t / (p t + (1-p) f)$, far below 1 for hard problems (small $p$) whenever $f > 0$: the
false positives bound accuracy (Stroebl et al. 2024). With reward 1 for a correct answer,
0 for abstaining and $-\text{cost}_\text{fp}$ for a wrong one, the expected utility of an
easy problem grows with $k$ and that of a hard problem falls, so over a mix of problems
there is a finite optimal $k$, often below 10 (Stroebl et al. 2024).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx
from jax.scipy.special import betainc


def _check_rate(value, name: str, *, allow_zero: bool) -> float:
    value = float(value)
    low_ok = value >= 0 if allow_zero else value > 0
    if not (np.isfinite(value) and low_ok and value <= 1):
        bound = "[0, 1]" if allow_zero else "(0, 1]"
        raise ValueError(f"{name}={value!r}: must be a probability in {bound}.")
    return value


def _check_p(p) -> np.ndarray:
    p = np.atleast_1d(np.asarray(p, dtype=float))
    if p.ndim != 1 or p.size == 0 or not np.all(np.isfinite(p)) or (p < 0).any() or (p > 1).any():
        raise ValueError(
            "p=...: expected a 1-d array of per-problem success probabilities in [0, 1]."
        )
    return p


def _check_k_real(k) -> np.ndarray:
    k = np.atleast_1d(np.asarray(k, dtype=float))
    if not np.all(np.isfinite(k)) or (k <= 0).any():
        raise ValueError(f"k={k.tolist()!r}: every k must be positive (k >= 1 samples).")
    return k


def _outcomes(p, k, fpr, tpr):
    """(P(correct), P(wrong)) of shape (len(k), len(p))."""
    accept_right = p * tpr
    accept_wrong = (1.0 - p) * fpr
    accept = accept_right + accept_wrong
    # (1 - r^k)/(1 - r) computed as -expm1(k log r)/accept; its limit as accept -> 0 is k.
    with np.errstate(divide="ignore", invalid="ignore"):
        log_r = np.log1p(-accept)
        series = np.where(accept > 0, -np.expm1(k[:, None] * log_r) / accept, k[:, None])
    return accept_right * series, accept_wrong * series


def verifier_accuracy(p, k, *, fpr: float, tpr: float = 1.0) -> np.ndarray:
    r"""Mean accuracy of resample-until-accepted with an imperfect verifier (Stroebl et al. 2024).

    **Arguments:**

    - `p`: per-problem success probabilities of one sample (e.g. `c / n`, or draws from
        a fitted [`BetaCoverage`][] via [`representative_p`][]).
    - `k`: the most samples drawn per problem (one value or an array).
    - `fpr`: the verifier's false-positive rate $f$; `tpr`: its true-positive rate $t$.

    **Returns:** mean over problems of $p t (1 - r^k)/(1 - r)$, one value per `k`.
    """
    p, k = _check_p(p), _check_k_real(k)
    right, _ = _outcomes(
        p, k, _check_rate(fpr, "fpr", allow_zero=True), _check_rate(tpr, "tpr", allow_zero=False)
    )
    return right.mean(axis=1)


def accuracy_ceiling(p, *, fpr: float, tpr: float = 1.0) -> float:
    r"""The limit of [`verifier_accuracy`][] as $k \to \infty$: the mean over problems of
    $p t / (p t + (1 - p) f)$ (Stroebl et al. 2024). Problems with $p = 0$ contribute 0."""
    p = _check_p(p)
    fpr = _check_rate(fpr, "fpr", allow_zero=True)
    tpr = _check_rate(tpr, "tpr", allow_zero=False)
    denom = p * tpr + (1 - p) * fpr
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(denom > 0, p * tpr / denom, 0.0)
    return float(share.mean())


def expected_utility(p, k, *, fpr: float, cost_fp: float, tpr: float = 1.0) -> np.ndarray:
    r"""Mean utility per problem: $P(\text{correct}) - \text{cost}_\text{fp}\,P(\text{wrong})$,
    one value per `k` (abstaining scores 0; Stroebl et al. 2024)."""
    p, k = _check_p(p), _check_k_real(k)
    cost_fp = float(cost_fp)
    if not (np.isfinite(cost_fp) and cost_fp >= 0):
        raise ValueError(f"cost_fp={cost_fp!r}: the cost of a false positive must be >= 0.")
    right, wrong = _outcomes(
        p, k, _check_rate(fpr, "fpr", allow_zero=True), _check_rate(tpr, "tpr", allow_zero=False)
    )
    return (right - cost_fp * wrong).mean(axis=1)


def optimal_k(
    p, *, fpr: float, cost_fp: float, tpr: float = 1.0, k_max: int = 10_000
) -> tuple[int, float]:
    r"""The number of samples $k \in \{1, \dots, k_\max\}$ that maximises
    [`expected_utility`][] when a false positive costs `cost_fp` (Stroebl et al. 2024).

    **Returns:** `(k, utility)`. Exhaustive over the integers, so exact.
    """
    k_max = int(k_max)
    if k_max < 1:
        raise ValueError(f"k_max={k_max}: must be at least 1.")
    ks = np.arange(1, k_max + 1, dtype=float)
    utility = expected_utility(p, ks, fpr=fpr, cost_fp=cost_fp, tpr=tpr)
    best = int(np.argmax(utility))
    return best + 1, float(utility[best])


def majority_vote_accuracy(p, k) -> np.ndarray:
    r"""Accuracy of majority voting over $k$ samples with two answers (right or wrong):
    $P(X > k/2) + \tfrac12 P(X = k/2)$, $X \sim \mathrm{Binomial}(k, p)$, mean over problems.

    It plateaus at the share of problems with $p > 1/2$ (plus half of those at exactly
    1/2): unlike coverage, voting never solves a problem the model usually gets wrong
    (Brown et al. 2024, arXiv:2407.21787, Section 4; see [`majority_vote_plateau`][]).
    """
    from math import lgamma

    p, k = _check_p(p), _check_k_real(k)
    out = []
    for kk in k.astype(int):
        x = np.arange(kk + 1)
        log_choose = np.array([lgamma(kk + 1) - lgamma(i + 1) - lgamma(kk - i + 1) for i in x])
        with np.errstate(divide="ignore", invalid="ignore"):
            # x log p with the convention 0 log 0 = 0 (p = 0 or 1 are legitimate inputs).
            right = np.where(x[None, :] == 0, 0.0, x[None, :] * np.log(p[:, None]))
            wrong = np.where(x[None, :] == kk, 0.0, (kk - x)[None, :] * np.log1p(-p[:, None]))
        pmf = np.exp(log_choose[None, :] + right + wrong)
        weight = np.where(2 * x > kk, 1.0, np.where(2 * x == kk, 0.5, 0.0))
        out.append(float((pmf * weight[None, :]).sum(axis=1).mean()))
    return np.array(out)


def majority_vote_plateau(p, *, n_wrong: int = 1) -> float:
    r"""The limit of majority voting as $k \to \infty$ when wrong samples spread evenly over
    `n_wrong` distinct wrong answers: the share of problems whose right answer is the most
    likely one, $p > (1 - p)/n_\text{wrong}$, i.e. $p > 1/(n_\text{wrong} + 1)$ (ties count
    one half)."""
    p = _check_p(p)
    n_wrong = int(n_wrong)
    if n_wrong < 1:
        raise ValueError(f"n_wrong={n_wrong}: need at least one wrong answer.")
    threshold = 1.0 / (n_wrong + 1)
    return float(np.mean(np.where(p > threshold, 1.0, np.where(p == threshold, 0.5, 0.0))))


def representative_p(law, m: int = 2000) -> np.ndarray:
    r"""`m` per-problem success probabilities that represent a [`BetaCoverage`][] law: the
    Beta quantiles at $(j + \tfrac12)/m$ for the solvable share, zeros for the $\pi_0$ share.

    Quantiles are roots of the regularised incomplete Beta function
    (`jax.scipy.special.betainc`, so no SciPy is needed) in $\log p \in [-700, 0]$ (the
    Beta($\alpha < 1$) quantiles reach far below $10^{-10}$), found by
    `optimistix.Bisection` to $10^{-12}$ in $\log p$ and in probability.
    """
    from ..precision import in_float64

    m = int(m)
    if m < 1:
        raise ValueError(f"m={m}: need at least one problem.")
    alpha, beta, pi0 = float(law.alpha), float(law.beta), float(law.pi0)
    n_zero = round(pi0 * m)
    q = (np.arange(m - n_zero) + 0.5) / max(m - n_zero, 1)
    with in_float64():
        log_p = np.asarray(_beta_log_quantiles(jnp.asarray(alpha), jnp.asarray(beta), jnp.asarray(q)))
    return np.concatenate([np.zeros(n_zero), np.exp(log_p)])


@jax.jit
def _beta_log_quantiles(alpha, beta, q):
    r"""$\log$ of the Beta(`alpha`, `beta`) quantiles at `q` (one root find per quantile)."""
    # CDF(e^x) - q rises with x: flip=False, bracket [-700, 0] (CDF(e^-700) ~ 0, CDF(1) = 1).
    solver = optx.Bisection(rtol=0.0, atol=1e-12, flip=False)

    def one(qi):
        sol = optx.root_find(
            lambda x, args: betainc(args[0], args[1], jnp.exp(x)) - args[2],
            solver,
            jnp.asarray(-1.0, dtype=q.dtype),
            args=(alpha, beta, qi),
            options=dict(lower=-700.0, upper=0.0),
            max_steps=256,
            throw=False,
        )
        return sol.value

    return jax.vmap(one)(q)
