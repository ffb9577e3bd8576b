"""Vectorised bootstrap refits against Epoch AI's published standard errors."""

import numpy as np
import pytest

import scalinglaws as sl
from scalinglaws.bayes import bootstrap
from scalinglaws.bayes._bootstrap import resample_weights

QUERY = "epoch_default_included == 1"
# Besiroglu et al. 2024 (arXiv:2404.10102): standard deviations of 4,000 bootstrap refits.
EPOCH_SE = {"E": 0.0257, "alpha": 0.0154, "beta": 0.0206}
EPOCH_CI = {"E": (1.769, 1.871), "alpha": (0.317, 0.373), "beta": (0.331, 0.415)}


@pytest.fixture(scope="module")
def result():
    return bootstrap("chinchilla", "chinchilla", query=QUERY, n=4000, seed=0)


def test_standard_errors_match_epoch(result):
    se = result.se
    for name, reference in EPOCH_SE.items():
        assert abs(se[name] / reference - 1) < 0.2, (name, se[name], reference)
    summary = result.summary()
    for name, (low, high) in EPOCH_CI.items():
        # Percentile intervals agree with Epoch's to within Monte Carlo error.
        assert abs(summary[name]["q025"] - low) < 0.01 and abs(summary[name]["q975"] - high) < 0.01
    assert result.converged.mean() > 0.99
    assert abs(summary["E"]["estimate"] - 1.8172) < 1e-3
    assert set(result.as_dict()["coefficients"]["alpha"]) == {"estimate", "se", "q025", "q975"}
    assert result.law.E.shape == (4000,)


def test_resample_weights():
    w = resample_weights(240, 50, seed=3)
    assert w.shape == (50, 240)
    assert np.all(w.sum(axis=1) == 240) and np.all(w == np.round(w))
    np.testing.assert_array_equal(w, resample_weights(240, 50, seed=3))


def test_bootstrap_bad_input():
    with pytest.raises(ValueError, match="n=0: must be at least 2"):
        bootstrap("chinchilla", "chinchilla", query=QUERY, n=0)
    with pytest.raises(TypeError, match="seed=1.5: expected an integer"):
        bootstrap("chinchilla", "chinchilla", query=QUERY, seed=1.5)
    with pytest.raises(ValueError, match="fix: unknown coefficient"):
        bootstrap("chinchilla", "chinchilla", query=QUERY, fix={"gamma": 1.0})


def test_bootstrap_with_fixed_coefficient_and_allocation(result):
    from scalinglaws.bayes import risk_aware_allocation

    rows = risk_aware_allocation(result, [5.76e23])
    assert rows[0]["N_q05"] < rows[0]["N"] < rows[0]["N_q95"]
    _ = sl
