"""Recovery: data simulated from known coefficients with 1% noise give them back.

Tolerances come from the noise itself: the Gauss-Newton standard error of each coefficient
at the truth, se = sigma * sqrt(diag((J^T J)^-1)) with J the Jacobian of the log
prediction in unconstrained space, mapped to natural units by the delta method. A
coefficient must come back within 5 standard errors (Huber fitting is a little less
efficient than least squares under Gaussian noise), and predictions on the design must
match the truth to well within the noise.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import scalinglaws as sl
from scalinglaws import laws
from scalinglaws.fit import make_parameterization

SIGMA = 0.01


def _grid(rng, n, **ranges):
    return {k: np.exp(rng.uniform(np.log(lo), np.log(hi), n)) for k, (lo, hi) in ranges.items()}


def _datablations_design():
    runs = sl.load_dataset("datablations")
    return runs.arrays(["N", "D", "U"])


def _overtraining_design():
    return sl.load_dataset("overtraining").arrays(["N", "D"])


CASES = {
    "chinchilla": (
        laws.Chinchilla(E=1.82, A=478.0, B=2144.0, alpha=0.347, beta=0.367),
        lambda rng: _grid(rng, 200, N=(5e7, 2e10), D=(1e9, 5e11)),
        {},
    ),
    "kaplan": (
        laws.Kaplan(N_c=8.8e13, D_c=5.4e13, alpha_N=0.076, alpha_D=0.095),
        lambda rng: _grid(rng, 200, N=(1e6, 1e10), D=(1e7, 1e11)),
        {},
    ),
    "power-c": (
        laws.PowerLaw(E=1.7, A=700.0, alpha=0.15, variable="C"),
        lambda rng: _grid(rng, 100, C=(1e17, 1e23)),
        {},
    ),
    "broken-power-c": (
        laws.BrokenPowerLaw(a=1.5, b=40.0, c0=0.05, c1=0.25, d1=1e20, f1=0.3, variable="C"),
        lambda rng: _grid(rng, 300, C=(1e16, 1e24)),
        {"starts": 4000},
    ),
    "data-constrained": (
        laws.DataConstrained(E=2.10, A=1180.0, B=6594.0, alpha=0.403, beta=0.403, R_D_star=15.4, R_N_star=5.3),
        lambda rng: _datablations_design(),
        {"tie": {"beta": "alpha"}},
    ),
    "overtraining": (
        laws.Overtraining(E=1.35, a=79.1, b=209.8, eta=0.165, alpha_C=0.113),
        lambda rng: _overtraining_design(),
        {},
    ),
    "downstream-error": (
        laws.DownstreamError(epsilon=0.854, k=2.375, gamma=0.754),
        lambda rng: {"loss": rng.uniform(2.5, 6.0, 150)},
        {"target": "error"},
    ),
    "parscale": (
        laws.ParScale(E=1.2, A=3e8, k=0.4, alpha=0.2),
        lambda rng: {
            "N": np.repeat(np.geomspace(5e8, 5e9, 30), 4),
            "P": np.tile([1.0, 2.0, 4.0, 8.0], 30),
        },
        {},
    ),
}


def _standard_errors(truth, x, ties):
    param = make_parameterization(truth, None, dict(ties))
    u = param.unconstrained({n: getattr(truth, n) for n in param.free})
    jac = jax.jacfwd(lambda v: param.law_from_unconstrained(v).log_predict(x))(u)
    cov = SIGMA**2 * jnp.linalg.inv(jac.T @ jac)
    d_nat = jax.jacfwd(lambda v: jnp.stack([param.natural(v)[n] for n in param.free]))(u)
    cov_nat = d_nat @ cov @ d_nat.T
    return dict(zip(param.free, np.sqrt(np.diag(np.asarray(cov_nat)))))


@pytest.mark.parametrize("name", list(CASES))
def test_recovers_known_coefficients(name):
    truth, design, options = CASES[name]
    rng = np.random.default_rng(sum(map(ord, name)))
    x = {k: np.asarray(v, float) for k, v in design(rng).items()}
    xj = {k: jnp.asarray(v) for k, v in x.items()}
    clean = np.asarray(truth.predict(xj))
    target = options.get("target", "loss")
    fit_options = {k: v for k, v in options.items() if k != "target"}
    noisy = clean * np.exp(rng.normal(0.0, SIGMA, clean.shape))
    data = dict(x, **{target: noisy})
    result = sl.fit(name, data, target=target, **fit_options)
    assert bool(result.converged), result.message

    se = _standard_errors(truth, xj, options.get("tie", {}))
    for coef in result.free:
        got, want = result.coefficients[coef], float(getattr(truth, coef))
        assert np.isfinite(se[coef]) and se[coef] > 0
        assert abs(got - want) <= 5 * se[coef] + 1e-9 * abs(want), (coef, got, want, se[coef])
    for follower, leader in result.ties:
        assert result.coefficients[follower] == result.coefficients[leader]

    # The fitted curve matches the noiseless truth far better than the noise level.
    fitted = np.asarray(result.law.predict(xj))
    assert np.sqrt(np.mean(np.log(fitted / clean) ** 2)) < 0.5 * SIGMA
