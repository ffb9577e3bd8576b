"""Vectorised bootstrap refits against Epoch AI's published standard errors."""

import numpy as np
import pytest

from scalinglaws.bayes import bootstrap
from scalinglaws.fit import resample_weights

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
    assert result.replicates["E"].shape == (4000 - result.n_failed,)  # failed refits excluded
    assert abs(summary["E"]["estimate"] - 1.8172) < 1e-3
    assert set(result.as_dict()["coefficients"]["alpha"]) == {"estimate", "se", "q025", "q975"}
    assert result.law.E.shape == (4000 - result.n_failed,)


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


def test_bootstrap_with_fixed_coefficient_and_allocation():
    from scalinglaws.bayes import risk_aware_allocation

    fixed = bootstrap("chinchilla", "chinchilla", query=QUERY, n=100, seed=1, fix={"E": 1.69})
    # The fixed coefficient is fixed in every replicate, and the others move.
    assert fixed.replicates["E"].shape == (int(fixed.converged.sum()),)
    assert np.all(fixed.replicates["E"] == 1.69) and np.all(np.asarray(fixed.law.E) == 1.69)
    assert fixed.converged.mean() > 0.95 and np.std(fixed.replicates["alpha"]) > 0
    # The spread of the allocation is the spread of each replicate's optimum, computed here
    # independently from Hoffmann et al. 2022's closed form (eq. 4, C = 6ND):
    # N* = G (C/6)^(beta/(alpha+beta)), G = (alpha A / (beta B))^(1/(alpha+beta)).
    budget = 5.76e23
    r = fixed.replicates
    g = (r["alpha"] * r["A"] / (r["beta"] * r["B"])) ** (1 / (r["alpha"] + r["beta"]))
    n_star = g * (budget / 6) ** (r["beta"] / (r["alpha"] + r["beta"]))
    row = risk_aware_allocation(fixed, [budget])[0]
    # Whatever the interpolation (in N or in log N), a quantile lies between the two order
    # statistics that bracket it.
    ordered = np.sort(n_star)
    for key, q in (("N_q05", 0.05), ("N_median", 0.5), ("N_q95", 0.95)):
        h = (len(ordered) - 1) * q
        low, high = ordered[int(np.floor(h))], ordered[int(np.ceil(h))]
        assert low * (1 - 1e-9) <= row[key] <= high * (1 + 1e-9), (key, row[key], low, high)
    # The risk-neutral choice beats its neighbours on the replicates' mean loss.
    for factor in (0.9, 1.1):
        n = row["N"] * factor
        mean_loss = np.mean(np.asarray(fixed.law.predict({"N": np.array(n), "D": np.array(budget / (6 * n))})))
        assert mean_loss > row["loss"]
