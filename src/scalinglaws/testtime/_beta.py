r"""Fitting coverage laws to an attempts table.

- [`fit_beta`][]: maximum likelihood of the beta-binomial model on the raw counts. With
    $p_i \sim \mathrm{Beta}(\alpha, \beta)$ and a share $\pi_0$ of unsolvable problems,
    the probability of $c$ correct out of $n$ is

    $$P(c \mid n) = (1 - \pi_0) \binom{n}{c} \frac{B(c + \alpha, n - c + \beta)}{B(\alpha, \beta)}
      + \pi_0\,[c = 0].$$

    Optimised with optimistix BFGS in $(\log\alpha, \log\beta, \operatorname{logit}\pi_0)$
    from a few starts (vmapped), on the counts aggregated by distinct $(n, c)$ pairs.
- [`fit_exp_power`][]: the exponentiated power law of Brown et al. 2024 fitted through
    the core fitter ([`scalinglaws.fit`][]) on (k, pass@k) points computed from the counts.
- [`beta_posterior`][]: NUTS (numpyro) draws of $(\alpha, \beta, \pi_0)$ under the same
    likelihood, as a batched [`BetaCoverage`][] law.
"""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx
from jax.scipy.special import gammaln

from ._coverage import BetaCoverage, ExpPowerLaw, betaln, log_gamma_ratio
from ..precision import float64
from ._io import load_attempts
from ._passk import _pass_at_k_checked, check_k

class BetaFit(eqx.Module):
    """What [`fit_beta`][] returns.

    **Fields:** `law` (a [`BetaCoverage`][]), `log_likelihood` (total, with the binomial
    coefficients), `converged`, `n_problems`, `n_agree` (starts that reached the best
    optimum within 1e-6 per problem), `unsolvable` (whether $\\pi_0$ was fitted).
    """

    law: BetaCoverage
    log_likelihood: float
    converged: bool
    n_problems: int
    n_agree: int
    unsolvable: bool

    @property
    def coefficients(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.law.coefficients.items()}

    @property
    def message(self) -> str:
        if not self.converged:
            return (
                "did not converge: the beta-binomial likelihood was not maximised from any start. "
                "Check the counts (all zero? all n?) or fit without unsolvable=True."
            )
        return f"converged: {self.n_agree} start(s) reached the best likelihood"

    def to_dict(self) -> dict:
        """JSON-ready: coefficients, log likelihood and convergence."""
        return {"law": "beta", "coefficients": self.coefficients, "log_likelihood": float(self.log_likelihood),
                "converged": bool(self.converged), "message": self.message,
                "n_problems": int(self.n_problems), "unsolvable": bool(self.unsolvable)}

    def summary(self) -> str:
        lines = [f"{self.law.formula}  ({int(self.n_problems)} problems)",
                 *(f"  {k} = {v:.6g}" for k, v in self.coefficients.items()),
                 f"log likelihood {float(self.log_likelihood):.6f}", self.message]
        return "\n".join(lines)

    def __repr__(self) -> str:
        from ..results import value_repr

        return value_repr("BetaFit", {**self.coefficients, "log_likelihood": self.log_likelihood,
                                      "converged": self.converged, "n_problems": self.n_problems})


def _log_lik_cells(u, n, c, weight, with_pi0: bool):
    """Beta-binomial log likelihood of aggregated cells (n, c, count) at unconstrained u."""
    alpha, beta = jnp.exp(u[0]), jnp.exp(u[1])
    # log C(n, c) + log B(c + alpha, n - c + beta) - log B(alpha, beta). Up to n = 1e6 the
    # plain form is accurate to ~1e-10 for any (alpha, beta). Beyond, it is regrouped into
    # log Gamma ratios with small shifts so that no two ~n log n values are subtracted
    # (gammaln(1e12) ~ 2.6e13 would leave about 1e-2 of absolute precision); that form is
    # exact for moderate alpha, beta, the region a likelihood of that many samples pins.
    plain = (
        gammaln(n + 1.0) - gammaln(c + 1.0) - gammaln(n - c + 1.0)
        + betaln(c + alpha, n - c + beta) - betaln(alpha, beta)
    )
    regrouped = (
        log_gamma_ratio(c + 1.0, alpha - 1.0)
        + log_gamma_ratio(n - c + 1.0, beta - 1.0)
        - log_gamma_ratio(n + 1.0, alpha + beta - 1.0)
        - betaln(alpha, beta)
    )
    log_bb = jnp.where(n > 1e6, regrouped, plain)
    if with_pi0:
        log_pi0, log_solvable = jax.nn.log_sigmoid(u[2]), jax.nn.log_sigmoid(-u[2])
        mixed = jnp.where(
            c == 0, jnp.logaddexp(log_solvable + log_bb, log_pi0), log_solvable + log_bb
        )
    else:
        mixed = log_bb
    return jnp.sum(weight * mixed)


def _solve(u0, n, c, weight, total, with_pi0, max_steps):
    solver = optx.BFGS(rtol=1e-10, atol=1e-10)

    def fn(u, args):
        # Mean negative log likelihood per problem keeps the scale independent of the size.
        return -_log_lik_cells(u, *args, with_pi0) / total

    def one(u):
        sol = optx.minimise(fn, solver, u, args=(n, c, weight), max_steps=max_steps, throw=False)
        return sol.value, fn(sol.value, (n, c, weight)), sol.result == optx.RESULTS.successful

    return jax.vmap(one)(u0)


_solve_jit = eqx.filter_jit(_solve)


def _cells(n: np.ndarray, c: np.ndarray):
    """Distinct (n, c) pairs with their counts, padded to a power of two (one compilation
    serves every table of a similar size)."""
    pairs, counts = np.unique(np.stack([n, c], axis=1), axis=0, return_counts=True)
    size = 1 << int(np.ceil(np.log2(max(len(pairs), 128))))
    pad = size - len(pairs)
    cell_n = np.concatenate([pairs[:, 0], np.ones(pad, np.int64)]).astype(float)
    cell_c = np.concatenate([pairs[:, 1], np.zeros(pad, np.int64)]).astype(float)
    weight = np.concatenate([counts, np.zeros(pad, np.int64)]).astype(float)
    return jnp.asarray(cell_n), jnp.asarray(cell_c), jnp.asarray(weight)


@float64
def fit_beta(attempts, *, model=None, unsolvable: bool = False, max_steps: int = 2000) -> BetaFit:
    r"""Fit [`BetaCoverage`][] by maximising the beta-binomial likelihood of the counts.

    **Arguments:**

    - `attempts`: an attempts table (CSV path, DataFrame, dict or [`Attempts`][]).
    - `model`: fit one model's rows.
    - `unsolvable`: also fit a share $\pi_0$ of problems that no sample can solve
        (otherwise $\pi_0 = 0$).
    - `max_steps`: BFGS steps per start.

    **Returns:** a [`BetaFit`][]; `fit.law.predict({"k": 10_000})` extrapolates coverage.

    **Example:**

    ```python
    from scalinglaws.testtime import fit_beta
    fit = fit_beta({"problem": [0, 1, 2], "n": [100] * 3, "c": [0, 4, 60]})
    fit.law(k=1000.0)
    ```
    """
    table = load_attempts(attempts, model=model)
    n, c = table.n, table.c
    if (c == 0).all():
        raise ValueError(
            "attempts: no problem has a correct sample; the Beta law cannot be fitted."
        )
    if (c == n).all():
        raise ValueError(
            "attempts: every sample is correct; coverage is 1 and there is nothing to fit."
        )
    cell_n, cell_c, weight = _cells(n, c)
    # A small grid of starts (log alpha, log beta, logit pi0): the likelihood has one basin
    # in practice, but alpha near 0 and alpha large are far apart in log space.
    grid = [(a, b) for a in (0.1, 0.5, 2.0) for b in (0.5, 5.0, 50.0)]
    if unsolvable:
        u0 = np.array([(np.log(a), np.log(b), z) for a, b in grid for z in (-4.0, -1.0)])
    else:
        u0 = np.array([(np.log(a), np.log(b), 0.0) for a, b in grid])
    values, objs, succeeded = _solve_jit(
        # The problem count is passed as an array: a Python float would be a static
        # argument and force a recompilation for every table size.
        jnp.asarray(u0),
        cell_n,
        cell_c,
        weight,
        jnp.asarray(float(len(n))),
        unsolvable,
        max_steps,
    )
    objs = np.where(np.isfinite(np.asarray(objs)), np.asarray(objs), np.inf)
    best = int(np.argmin(objs))
    u = np.asarray(values[best])
    law = BetaCoverage(
        alpha=float(np.exp(u[0])),
        beta=float(np.exp(u[1])),
        pi0=float(jax.nn.sigmoid(u[2])) if unsolvable else 0.0,
    )
    n_agree = int(np.sum(objs <= objs[best] + 1e-6))
    # On the boundary pi0 -> 0 BFGS may stop on max_steps with the likelihood flat; the
    # fit is still the maximum if enough starts agree.
    converged = bool(np.isfinite(objs[best]) and (bool(succeeded[best]) or n_agree >= 2))
    return BetaFit(
        law=law,
        log_likelihood=float(-objs[best] * len(n)),
        converged=converged,
        n_problems=len(n),
        n_agree=n_agree,
        unsolvable=bool(unsolvable),
    )


def beta_log_likelihood(law: BetaCoverage, attempts, *, model=None) -> float:
    """Total beta-binomial log likelihood of an attempts table under `law` (with its $\\pi_0$)."""
    table = load_attempts(attempts, model=model)
    cell_n, cell_c, weight = _cells(table.n, table.c)
    pi0 = float(law.pi0)
    if pi0 > 0:
        u = jnp.array([jnp.log(law.alpha), jnp.log(law.beta), jnp.log(pi0) - jnp.log1p(-pi0)])
        return float(_log_lik_cells(u, cell_n, cell_c, weight, True))
    u = jnp.array([jnp.log(law.alpha), jnp.log(law.beta), 0.0])
    return float(_log_lik_cells(u, cell_n, cell_c, weight, False))


def default_fit_k(n_min: int, n_points: int = 40) -> np.ndarray:
    """Geometrically spaced integers from 1 to `n_min` (at most `n_points` of them): the
    (k, pass@k) points of an exponentiated-power-law fit, even in $\\log k$."""
    return np.unique(np.round(np.geomspace(1, n_min, n_points)).astype(np.int64))


@float64
def fit_exp_power(
    attempts,
    *,
    model=None,
    k: Sequence[int] | None = None,
    loss: str = "squared",
    **fit_kwargs,
):
    r"""Fit [`ExpPowerLaw`][] (Brown et al. 2024) to the mean pass@k of an attempts table.

    The points are $(k, \overline{\mathrm{pass@}k})$ for `k` (default: about 40 values
    spaced geometrically from 1 to the smallest $n$), fitted in log space through
    [`scalinglaws.fit`][] (squared log residuals by default; any `fit` keyword passes
    through). Points with zero coverage are dropped (their log is undefined).

    **Returns:** the core [`FitResult`][] (its `law` is an `ExpPowerLaw`).
    """
    from ..fit import fit

    table = load_attempts(attempts, model=model)
    ks = default_fit_k(int(table.n.min())) if k is None else check_k(k)
    coverage = _pass_at_k_checked(table.n, table.c, ks).mean(axis=1)
    keep = (coverage > 0) & (coverage < 1)
    if keep.sum() < 2:
        raise ValueError(
            "attempts: fewer than two values of k with 0 < pass@k < 1; the exponentiated power law "
            "cannot be fitted (every problem unsolved, or every one solved)."
        )
    data = {"k": ks[keep].astype(float), "coverage": coverage[keep]}
    return fit(ExpPowerLaw.template(), data, loss=loss, **fit_kwargs)


@float64
def beta_posterior(
    attempts,
    *,
    model=None,
    unsolvable: bool = False,
    num_warmup: int = 500,
    num_samples: int = 500,
    seed: int = 0,
) -> BetaCoverage:
    r"""Posterior draws of the Beta coverage law (numpyro NUTS), as a batched law.

    Priors: $\log\alpha, \log\beta \sim \mathcal{N}(0, 3^2)$ (weak, on the scale of the
    fit's unconstrained space) and $\pi_0 \sim \mathrm{Beta}(1, 1)$ when `unsolvable`.
    The likelihood is the one [`fit_beta`][] maximises.

    **Returns:** a [`BetaCoverage`][] whose coefficients have a leading axis of
    `num_samples`: `jax.vmap(lambda law: law.predict({"k": k}))(draws)` gives predictive
    draws of coverage.
    """
    import numpyro
    import numpyro.distributions as dist
    from numpyro.infer import MCMC, NUTS

    table = load_attempts(attempts, model=model)
    cell_n, cell_c, weight = _cells(table.n, table.c)

    def model_fn():
        log_alpha = numpyro.sample("log_alpha", dist.Normal(0.0, 3.0))
        log_beta = numpyro.sample("log_beta", dist.Normal(0.0, 3.0))
        if unsolvable:
            pi0 = numpyro.sample("pi0", dist.Beta(1.0, 1.0))
            u = jnp.stack([log_alpha, log_beta, jnp.log(pi0) - jnp.log1p(-pi0)])
        else:
            u = jnp.stack([log_alpha, log_beta, 0.0])
        numpyro.factor("counts", _log_lik_cells(u, cell_n, cell_c, weight, unsolvable))

    mcmc = MCMC(NUTS(model_fn), num_warmup=num_warmup, num_samples=num_samples, progress_bar=False)
    mcmc.run(jax.random.PRNGKey(seed))
    draws = mcmc.get_samples()
    pi0 = draws["pi0"] if unsolvable else jnp.zeros(num_samples)
    return BetaCoverage(alpha=jnp.exp(draws["log_alpha"]), beta=jnp.exp(draws["log_beta"]), pi0=pi0)
