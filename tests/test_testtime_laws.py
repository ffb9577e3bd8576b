"""Coverage laws: the Beta law's extrapolation (the issue's acceptance test), the
exponentiated power law (Brown et al. 2024), saving and loading."""

import json

import numpy as np
import pytest
import scipy.optimize
import scipy.special

import scalinglaws as sl
from scalinglaws.testtime import (
    BetaCoverage,
    ExpPowerLaw,
    beta_log_likelihood,
    fit_beta,
    fit_exp_power,
    load_coverage_law,
    save_coverage_law,
)

# Beta(0.1, 1) difficulty: coverage rises from 0.40 at k = 100 to 0.62 at k = 10,000, and the
# realised coverage of 2,000 problems at k = 10,000 has a sampling sd of about 0.010 there
# (the "about 0.011").
A0, B0, N_PROBLEMS, N_SAMPLES, K_FAR = 0.1, 1.0, 2000, 100, 10_000


def scipy_mle(n, c):
    """Independent beta-binomial MLE (SciPy Nelder-Mead then L-BFGS-B on log alpha, log beta)."""

    def nll(u):
        a, b = np.exp(u)
        return -np.sum(scipy.special.betaln(c + a, n - c + b) - scipy.special.betaln(a, b))

    best = min(
        (
            scipy.optimize.minimize(
                nll,
                x0,
                method="Nelder-Mead",
                options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 4000},
            )
            for x0 in ([np.log(0.5), np.log(2.0)], [np.log(0.1), np.log(10.0)])
        ),
        key=lambda r: r.fun,
    )
    best = scipy.optimize.minimize(nll, best.x, method="L-BFGS-B")
    return np.exp(best.x)


@pytest.fixture(scope="module")
def simulated():
    rng = np.random.default_rng(0)
    p = rng.beta(A0, B0, N_PROBLEMS)
    c = rng.binomial(N_SAMPLES, p)
    attempts = {"problem": np.arange(N_PROBLEMS), "n": np.full(N_PROBLEMS, N_SAMPLES), "c": c}
    return p, attempts


@pytest.fixture(scope="module")
def fits(simulated):
    _, attempts = simulated
    return fit_beta(attempts), fit_exp_power(attempts)


def test_beta_law_extrapolates_to_k_10000(simulated, fits):
    p, attempts = simulated
    beta_fit, exp_fit = fits
    assert beta_fit.converged, beta_fit.message
    realised = float(np.mean(-np.expm1(K_FAR * np.log1p(-p))))
    population = float(BetaCoverage(alpha=A0, beta=B0, pi0=0.0)(k=float(K_FAR)))
    noise_sd = float(np.std(-np.expm1(K_FAR * np.log1p(-p))) / np.sqrt(N_PROBLEMS))
    # Not trivial: coverage still moves a lot between the sampled range and k = 10,000.
    assert realised - float(BetaCoverage(alpha=A0, beta=B0, pi0=0.0)(k=100.0)) > 0.15
    assert 0.009 < noise_sd < 0.012

    predicted = float(beta_fit.law(k=float(K_FAR)))
    exp_predicted = float(exp_fit.law(k=float(K_FAR)))
    print(
        f"\ncoverage at k={K_FAR}: realised {realised:.4f}, population {population:.4f}, noise sd {noise_sd:.4f}; "
        f"Beta law {predicted:.4f} (error {predicted - realised:+.4f}); "
        f"exp power law {exp_predicted:.4f} (error {exp_predicted - realised:+.4f})"
    )
    assert abs(predicted - realised) < 0.035
    assert abs(predicted - population) < 0.035
    # The exponentiated power law, fitted to pass@k for k <= 100, extrapolates worse.
    assert abs(exp_predicted - realised) > abs(predicted - realised)

    # Matches an independent beta-binomial maximum-likelihood fit (SciPy) to 0.01.
    alpha, beta = scipy_mle(attempts["n"], attempts["c"])
    reference = float(BetaCoverage(alpha=alpha, beta=beta, pi0=0.0)(k=float(K_FAR)))
    assert abs(predicted - reference) < 0.01
    np.testing.assert_allclose([beta_fit.law.alpha, beta_fit.law.beta], [alpha, beta], rtol=1e-3)
    # and the reported likelihood is the maximum: a nearby law does worse.
    worse = beta_fit.law.replace(alpha=float(beta_fit.law.alpha) * 1.05)
    assert beta_log_likelihood(worse, attempts) < beta_fit.log_likelihood
    assert beta_log_likelihood(beta_fit.law, attempts) == pytest.approx(
        beta_fit.log_likelihood, rel=1e-10
    )


def test_beta_law_closed_form():
    law = BetaCoverage(alpha=0.7, beta=2.5, pi0=0.2)
    k = np.arange(1, 8)
    # 1 - E[(1-p)^k] = 1 - prod_{j<k} (beta + j)/(alpha + beta + j) for integer k.
    want = 0.8 * (1 - np.cumprod([(2.5 + j) / (3.2 + j) for j in range(7)]))
    np.testing.assert_allclose(np.asarray(law(k=k.astype(float))), want, rtol=1e-12)
    np.testing.assert_allclose(float(law.fail_probability(1.0)), 1 - 0.8 * 0.7 / 3.2, rtol=1e-12)


def test_unsolvable_mass_is_recovered():
    rng = np.random.default_rng(1)
    n_problems, alpha, beta, pi0 = 3000, 0.6, 3.0, 0.25
    p = np.where(rng.uniform(size=n_problems) < pi0, 0.0, rng.beta(alpha, beta, n_problems))
    attempts = {
        "problem": np.arange(n_problems),
        "n": np.full(n_problems, 200),
        "c": rng.binomial(200, p),
    }
    result = fit_beta(attempts, unsolvable=True)
    assert result.converged, result.message
    assert abs(float(result.law.pi0) - pi0) < 0.03
    assert abs(float(result.law.alpha) - alpha) < 0.15
    # The pure Beta fit cannot hold the unsolvable mass and over-predicts far-out coverage.
    truth = (1 - pi0) * float(BetaCoverage(alpha=alpha, beta=beta, pi0=0.0)(k=1e4))
    assert abs(float(result.law(k=1e4)) - truth) < 0.03


def test_exp_power_law_recovers_its_coefficients():
    k = np.geomspace(1, 1000, 30)
    coverage = np.exp(-1.3 * k**-0.35)
    result = sl.fit(ExpPowerLaw.template(), {"k": k, "coverage": coverage}, loss="squared")
    assert result.converged
    np.testing.assert_allclose([result.law.neg_a, result.law.b], [1.3, -0.35], rtol=1e-6)
    np.testing.assert_allclose(
        np.asarray(result.law.log_predict({"k": k})), -1.3 * k**-0.35, rtol=1e-6
    )


def test_fit_errors():
    with pytest.raises(ValueError, match="no problem has a correct sample"):
        fit_beta({"problem": [0, 1], "n": [5, 5], "c": [0, 0]})
    with pytest.raises(ValueError, match="every sample is correct"):
        fit_beta({"problem": [0, 1], "n": [5, 5], "c": [5, 5]})
    with pytest.raises(ValueError, match="fewer than two values of k"):
        fit_exp_power({"problem": [0, 1], "n": [5, 5], "c": [0, 0]})


def test_save_and_load_round_trip(tmp_path, fits):
    beta_fit, exp_fit = fits
    for law in (beta_fit.law, exp_fit.law):
        path = tmp_path / "law.json"
        save_coverage_law(law, path, note="x")
        back, metadata = load_coverage_law(path, with_metadata=True)
        assert type(back) is type(law) and metadata == {"note": "x"}
        for name, value in law.coefficients.items():
            assert float(back.coefficients[name]) == float(value)  # bit for bit
    text = path.read_text()
    path.write_text(text[: len(text) // 2])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        load_coverage_law(path)
    path.write_text(json.dumps({"format": "something else"}))
    with pytest.raises(ValueError, match="not a scalinglaws coverage law file"):
        load_coverage_law(path)
    with pytest.raises(ValueError, match="no such file"):
        load_coverage_law(tmp_path / "missing.json")
    with pytest.raises(TypeError, match="coverage law with input 'k'"):
        save_coverage_law(sl.get_law("chinchilla"), tmp_path / "c.json")


def test_posterior_agrees_with_the_fit(simulated, fits):
    import jax

    from scalinglaws.testtime import beta_posterior

    p, attempts = simulated
    beta_fit, _ = fits
    draws = beta_posterior(attempts, num_warmup=200, num_samples=200, seed=1)
    assert draws.alpha.shape == (200,)
    alpha = np.asarray(draws.alpha)
    # With 2,000 problems and flat-ish priors the posterior centres on the MLE.
    assert abs(alpha.mean() - float(beta_fit.law.alpha)) < 2 * alpha.std()
    coverage = np.asarray(jax.vmap(lambda law: law.predict({"k": float(K_FAR)}))(draws))
    realised = float(np.mean(-np.expm1(K_FAR * np.log1p(-p))))
    assert 0.002 < coverage.std() < 0.05
    assert abs(coverage.mean() - realised) < 3 * coverage.std() + 0.011
