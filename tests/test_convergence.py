"""Loud failures: every doubtful fit warns, says why, and never prints "converged"."""

import warnings

import numpy as np
import pytest

import scalinglaws as sl
from scalinglaws import ConvergenceWarning, IdentifiabilityError
from scalinglaws.bayes import bootstrap
from scalinglaws.fit import _fit as fit_module
from scalinglaws.fit import agreement, make_parameterization, random_starts

C = np.geomspace(1e17, 1e22, 25)


def power_data(E=1.7, A=700.0, alpha=0.15, noise=0.0, seed=0):
    rng = np.random.default_rng(seed)
    loss = (E + A * C**-alpha) * np.exp(noise * rng.standard_normal(C.size))
    return {"C": C, "loss": loss}


def fit_recording(*args, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = sl.fit(*args, **kwargs)
    return result, [w for w in caught if issubclass(w.category, ConvergenceWarning)]


def assert_loud(result, caught):
    assert not bool(result.converged)
    assert len(caught) == 1 and str(caught[0].message) == result.message
    assert "converged" not in result.summary()
    assert result.message.startswith("did not converge")


def test_broken_power_fit_that_does_not_converge_warns():
    data = power_data(noise=0.01)
    result, caught = fit_recording("broken-power-c", data, max_steps=5, max_rounds=1)
    assert_loud(result, caught)
    assert not bool(result.solver_ok)
    assert "maximum number of steps" in result.message


def test_irreducible_loss_driven_to_zero_is_an_edge_warning():
    data = power_data(E=1e-12)  # a pure power law: nothing pins E
    result, caught = fit_recording("power-c", data)
    assert_loud(result, caught)
    assert result.edge_coefficients == ("E",)
    assert "edge of their support" in result.message
    assert "AT EDGE" in result.summary()
    # With E fixed, the same data fit cleanly and silently.
    clean, caught = fit_recording("power-c", data, fix={"E": 1e-12})
    assert bool(clean.converged) and not caught
    assert clean.coefficients["alpha"] == pytest.approx(0.15, rel=1e-6)


def test_sixty_identical_rows_are_unidentifiable():
    data = {"C": np.full(60, 1e20), "loss": np.full(60, 2.0)}
    with pytest.raises(IdentifiabilityError, match=r"only 1 distinct value.*all rows have the same inputs"):
        sl.fit("power-c", data)
    with pytest.raises(IdentifiabilityError, match="cannot be identified"):
        bootstrap("power-c", data, n=10)
    # Two distinct points for three free coefficients is still too few.
    two = {"C": np.repeat([1e19, 1e20], 30), "loss": np.repeat([2.1, 2.0], 30)}
    with pytest.raises(IdentifiabilityError, match="only 2 distinct value"):
        sl.fit("power-c", two)


def test_later_rounds_never_refine_the_same_start_twice():
    # 20 starts, 16 refined per round: round two refines the 4 left, not 16 overlapping.
    data = power_data(noise=0.01)
    result, caught = fit_recording("power-c", data, starts=20, n_refine=16, max_steps=3, max_rounds=3)
    refined = np.asarray(result.refined_starts)
    assert refined.size == 20 and np.unique(refined).size == 20
    assert_loud(result, caught)


def test_identical_starts_count_once():
    data = power_data(noise=0.01)
    same = {"E": np.full(3, 1.5), "A": np.full(3, 300.0), "alpha": np.full(3, 0.12)}
    result, caught = fit_recording("power-c", data, starts=same, n_refine=2)
    assert np.unique(np.asarray(result.refined_starts)).size == 3
    # Three refinements from one starting point: one distinct start, which cannot agree
    # with itself; agreement is then not checkable and the fit is judged on the rest.
    assert int(result.n_agree) == 1 and int(result.n_distinct) == 1
    assert bool(result.converged) and not caught
    assert "agreement could not be checked" in result.message


def test_agreement_counts_distinct_starting_points():
    u0 = np.array([[0.0, 1.0], [0.0, 1.0], [2.0, 1.0], [3.0, 1.0]])
    objectives = np.array([1.0, 1.0, 1.0 + 1e-9, 5.0])
    n_agree, n_distinct = agreement(u0, objectives)
    assert (int(n_agree), int(n_distinct)) == (2, 3)
    n_agree, _ = agreement(u0[:2], objectives[:2])
    assert int(n_agree) == 1  # a start refined twice does not agree with itself


def test_single_distinct_start_that_disagrees_is_not_converged():
    data = power_data(noise=0.01)
    starts = {"E": np.array([0.3, 4.0]), "A": np.array([1.0, 1e6]), "alpha": np.array([0.02, 1.0])}
    result, caught = fit_recording("power-c", data, starts=starts, n_refine=2, max_steps=4, max_rounds=1)
    assert int(result.n_distinct) == 2
    assert_loud(result, caught)


def test_batched_screen_equals_vmapped_screen(monkeypatch):
    import jax.numpy as jnp

    param = make_parameterization(sl.get_law("power-c"))
    data = power_data(noise=0.01)
    starts = random_starts(param, 37, seed=1)
    args = (param, {"C": jnp.asarray(C)}, jnp.log(jnp.asarray(data["loss"])), jnp.ones(C.size),
            {k: jnp.asarray(v) for k, v in starts.items()}, "huber", 1e-3)
    with sl.precision.in_float64():
        whole = np.asarray(fit_module.screen(*args))
        monkeypatch.setattr(fit_module, "SCREEN_BLOCK", 4 * C.size)  # batches of 4 starts
        batched = np.asarray(fit_module.screen(*args))
    np.testing.assert_allclose(batched, whole, rtol=1e-12)


def test_refined_coefficients_are_natural_units_per_start(chinchilla_epoch_fit):
    coefficients = chinchilla_epoch_fit.refined_coefficients
    k = int(np.size(chinchilla_epoch_fit.refined_objectives))
    assert set(coefficients) == set(chinchilla_epoch_fit.free)
    assert all(v.shape == (k,) and v.dtype == np.float64 for v in coefficients.values())
    best = int(np.argmin(np.asarray(chinchilla_epoch_fit.refined_objectives)))
    assert coefficients["E"][best] == pytest.approx(chinchilla_epoch_fit.coefficients["E"], rel=1e-12)
    assert bool(chinchilla_epoch_fit.converged) and chinchilla_epoch_fit.edge_coefficients == ()


def test_bootstrap_excludes_refits_that_did_not_converge():
    data = power_data(noise=0.02)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = bootstrap("power-c", data, n=40, seed=1, max_steps=32, predictive=False)
    assert result.n_failed > 0.05 * 40
    assert result.replicates["E"].shape == (40 - result.n_failed,)
    assert any("did not converge and were excluded" in str(w.message) for w in caught)
    assert f"{result.n_failed} failed and excluded" in result.summary_table()
    assert result.as_dict()["n_failed"] == result.n_failed
    # The standard error is that of the refits that converged, and only of those.
    assert result.se["E"] == pytest.approx(np.std(result.replicates["E"], ddof=1))
    assert result.converged.sum() == 40 - result.n_failed
