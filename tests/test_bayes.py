"""Posteriors over law coefficients: Chinchilla reference, persistence, bad input,
allocation under uncertainty, model comparison, calibration and hierarchical fits."""

import json

import numpy as np
import numpyro.distributions as dist
import pytest

import scalinglaws as sl
from scalinglaws.bayes import (
    Posterior,
    calibration,
    compare,
    hierarchical_infer,
    infer,
    load_posterior,
    loo,
    optimal_allocation_draws,
    risk_aware_allocation,
    waic,
)
from scalinglaws.laws import PowerLaw

QUERY = "epoch_default_included == 1"
# Besiroglu et al. 2024 (Epoch AI, arXiv:2404.10102): bootstrap 95% intervals of the
# Chinchilla refit on 240 points.
EPOCH_CI = {"E": (1.769, 1.871), "alpha": (0.317, 0.373), "beta": (0.331, 0.415)}


@pytest.fixture(scope="module")
def point_fit():
    return sl.fit("chinchilla", "chinchilla", query=QUERY)


@pytest.fixture(scope="module")
def nuts(point_fit):
    # Modest settings for CI; the README reports the default 4 chains x 1000 draws.
    return infer(
        "chinchilla", "chinchilla", query=QUERY, init=point_fit, chains=2, warmup=300, samples=300, seed=0, warn=False
    )


@pytest.fixture(scope="module")
def laplace(point_fit):
    return infer("chinchilla", "chinchilla", query=QUERY, init=point_fit, method="laplace", chains=1, samples=2000)


@pytest.fixture(scope="module")
def constrained(point_fit):
    # Hoffmann et al.'s E and alpha = beta: a worse law for the same runs (and a user prior).
    return infer(
        "chinchilla", "chinchilla", query=QUERY, method="laplace", chains=1, samples=2000,
        fix={"E": 1.69}, tie={"beta": "alpha"}, priors={"alpha": dist.LogNormal(np.log(0.34), 0.5)},
    )


def test_nuts_chinchilla_matches_epoch(nuts):
    summary = nuts.summary()
    for name, (low, high) in EPOCH_CI.items():
        assert low < summary[name]["median"] < high, (name, summary[name])
        assert summary[name]["q05"] < summary[name]["median"] < summary[name]["q95"]
    assert nuts.divergences == 0
    assert max(s["r_hat"] for s in summary.values()) <= 1.02  # 1.01 at the default 4 x 1000
    assert min(s["ess"] for s in summary.values()) > 100
    assert nuts.law.E.shape == (600,)
    assert nuts.draws["alpha"].shape == (2, 300)


def test_laplace_agrees_with_nuts(nuts, laplace):
    a, b = nuts.summary(), laplace.summary()
    for name in ("E", "alpha", "beta"):
        assert abs(a[name]["median"] / b[name]["median"] - 1) < 0.01
        width_a = a[name]["q95"] - a[name]["q05"]
        width_b = b[name]["q95"] - b[name]["q05"]
        assert 0.7 < width_a / width_b < 1.4
    assert laplace.method == "laplace" and laplace.divergences == 0


def test_fix_and_tie(constrained):
    coefs = constrained.coefficients
    assert np.all(coefs["E"] == 1.69)
    assert np.array_equal(coefs["beta"], coefs["alpha"])
    assert set(constrained.draws) == {"A", "B", "alpha", "sigma"}
    assert constrained.fixed == ("E",)
    assert constrained.settings["priors"]["alpha"].startswith("LogNormal")
    assert constrained.settings["priors"]["A"].startswith("Exp(Normal(")


def test_save_load_identical(tmp_path, nuts):
    path = tmp_path / "post.json"
    nuts.save(path)
    again = load_posterior(path)
    assert again == nuts
    for name, values in nuts.draws.items():
        assert np.array_equal(again.draws[name], values)
        assert again.draws[name].tobytes() == values.tobytes()
    assert again.summary() == nuts.summary()
    assert type(again.template) is type(nuts.template)


def test_corrupt_files(tmp_path, laplace):
    path = tmp_path / "post.json"
    laplace.save(path)
    text = path.read_text()
    truncated = tmp_path / "truncated.json"
    truncated.write_text(text[: len(text) // 2])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        load_posterior(truncated)
    document = json.loads(text)
    document["draws"]["E"][0][3] += 1e-9
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(document))
    with pytest.raises(ValueError, match="checksum"):
        load_posterior(tampered)
    del document["draws"]["sigma"]
    missing = tmp_path / "missing.json"
    missing.write_text(json.dumps(document))
    with pytest.raises(ValueError, match="corrupt posterior file"):
        load_posterior(missing)
    other = tmp_path / "fit.json"
    other.write_text(json.dumps({"format": "scalinglaws.fit"}))
    with pytest.raises(ValueError, match="not a scalinglaws posterior file"):
        load_posterior(other)
    with pytest.raises(ValueError, match="no such file"):
        load_posterior(tmp_path / "absent.json")


def test_bad_input():
    with pytest.raises(ValueError, match=r"priors: unknown coefficient\(s\) \['gamma'\]"):
        infer("chinchilla", "chinchilla", query=QUERY, priors={"gamma": dist.Normal(0, 1)})
    with pytest.raises(ValueError, match=r"priors\['E'\]: the prior's support .* is not inside the support of E"):
        infer("chinchilla", "chinchilla", query=QUERY, priors={"E": dist.Normal(1.8, 1.0)})
    with pytest.raises(ValueError, match="fixed or tied"):
        infer("chinchilla", "chinchilla", query=QUERY, fix={"E": 1.8}, priors={"E": dist.LogNormal(0.5, 1.0)})
    with pytest.raises(TypeError, match="expected a numpyro distribution"):
        infer("chinchilla", "chinchilla", query=QUERY, priors={"E": 1.8})
    with pytest.raises(ValueError, match="chains=0: must be at least 1"):
        infer("chinchilla", "chinchilla", query=QUERY, chains=0)
    with pytest.raises(ValueError, match="samples=0: must be at least 1"):
        infer("chinchilla", "chinchilla", query=QUERY, samples=0)
    with pytest.raises(ValueError, match="warmup=0: must be at least 1"):
        infer("chinchilla", "chinchilla", query=QUERY, warmup=0)
    with pytest.raises(ValueError, match="likelihood='cauchy'"):
        infer("chinchilla", "chinchilla", query=QUERY, likelihood="cauchy")
    with pytest.raises(ValueError, match="method='vi'"):
        infer("chinchilla", "chinchilla", query=QUERY, method="vi")


def test_forecast_intervals(laplace):
    f = laplace.forecast(N=[7e10, 1e9], D=[1.4e12, 2e10])
    assert np.all(f["q05"] < f["median"]) and np.all(f["median"] < f["q95"])
    assert np.all(f["pred_q05"] < f["q05"]) and np.all(f["q95"] < f["pred_q95"])
    point = laplace.template.predict({"N": np.array([7e10]), "D": np.array([1.4e12])})
    assert abs(float(f["median"][0]) / float(point[0]) - 1) < 0.01
    with pytest.raises(ValueError, match="covariates: missing"):
        laplace.forecast(N=1e9)
    with pytest.raises(ValueError, match="must be positive and finite"):
        laplace.forecast(N=-1.0, D=1e10)


def test_allocation_matches_closed_form(laplace):
    # Hoffmann et al. 2022, eq. 4: N* = G (C/6)^(beta/(alpha+beta)), G = (alpha A / (beta B))^(1/(alpha+beta)).
    budgets = np.array([1e20, 5.76e23, 1e26])
    c = laplace.coefficients
    a, b = c["alpha"][:, None], c["beta"][:, None]
    g = (a * c["A"][:, None] / (b * c["B"][:, None])) ** (1 / (a + b))
    expected = g * (budgets[None, :] / 6) ** (b / (a + b))
    got = optimal_allocation_draws(laplace, budgets)
    np.testing.assert_allclose(got["N"], expected, rtol=1e-6)
    np.testing.assert_allclose(got["D"] * got["N"] * 6, budgets[None, :].repeat(len(expected), 0), rtol=1e-12)


def test_risk_aware_allocation(laplace):
    rows = risk_aware_allocation(laplace, [1e21, 5.76e23], risk="mean")
    keys = {"C", "N", "D", "tokens_per_param", "loss", "N_q05", "N_median", "N_q95", "D_q05", "D_median", "D_q95"}
    assert keys <= set(rows[0])
    law = laplace.law
    for row in rows:
        assert row["N_q05"] < row["N_median"] < row["N_q95"]
        assert row["N_q05"] < row["N"] < row["N_q95"]
        assert abs(6 * row["N"] * row["D"] / row["C"] - 1) < 1e-12
        # Brute force: the chosen N beats its neighbours on the posterior mean loss.
        for factor in (0.9, 1.1):
            n = row["N"] * factor
            mean_loss = np.mean(np.asarray(law.predict({"N": np.array(n), "D": np.array(row["C"] / (6 * n))})))
            assert mean_loss > row["loss"]
    q90 = risk_aware_allocation(laplace, [5.76e23], risk="q90")[0]
    assert q90["loss"] > rows[1]["loss"]
    with pytest.raises(ValueError, match="risk='worst'"):
        risk_aware_allocation(laplace, [1e21], risk="worst")
    with pytest.raises(ValueError, match="budgets=.*must be positive and finite"):
        risk_aware_allocation(laplace, [-1.0])
    with pytest.raises(ValueError, match="flops='8nd'"):
        risk_aware_allocation(laplace, [1e21], flops="8nd")


def test_arviz_missing_gives_clear_error(laplace):
    # ArviZ is an optional extra; where it is not installed the error says how to get it.
    try:
        import arviz  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match=r"pip install scalinglaws\[arviz\]"):
            laplace.to_arviz()


def test_loo_waic_and_compare(laplace, constrained):
    result = loo(laplace, "chinchilla", query=QUERY)
    w = waic(laplace, "chinchilla", query=QUERY)
    assert abs(result["elpd_loo"] - w["elpd_waic"]) < 5
    # About 6 effective parameters (5 coefficients and the noise scale), more with outlier runs.
    assert 3 < result["p_loo"] < 25
    assert result["pareto_k"].shape == (240,)
    rows = compare({"chinchilla": laplace, "hoffmann-E, tied": constrained}, "chinchilla", query=QUERY)
    assert [r["name"] for r in rows] == ["chinchilla", "hoffmann-E, tied"]
    assert rows[0]["elpd_diff"] == 0 and rows[1]["elpd_diff"] < 0 and rows[1]["diff_se"] > 0
    with pytest.raises(ValueError, match="posterior was fitted on 240"):
        loo(laplace, "chinchilla")


def test_calibration_laplace():
    # Simulation-based calibration (modest): 100 data sets from known coefficients.
    truth = PowerLaw(E=1.8, A=400.0, alpha=0.3, variable="N")
    x = {"N": np.geomspace(1e7, 1e10, 20)}
    result = calibration(truth, x, sigma=0.01, n_datasets=100, method="laplace", chains=1, samples=1000, seed=1)
    for name, coverage in result["coverage"].items():
        assert 0.80 <= coverage <= 0.97, (name, coverage)


def test_hierarchical_recovers_shared_exponent():
    rng = np.random.default_rng(0)
    alpha = 0.3
    groups = {"a": (1.6, 300.0), "b": (2.0, 500.0), "c": (1.8, 800.0)}
    rows = []
    for label, (E, A) in groups.items():
        n = np.geomspace(1e7, 1e10, 12)
        loss = (E + A * n**-alpha) * np.exp(0.005 * rng.standard_normal(n.size))
        rows += [{"N": v, "loss": l, "group": label} for v, l in zip(n, loss)]
    import pandas as pd

    post = hierarchical_infer(
        PowerLaw(E=1.8, A=400.0, alpha=0.3, variable="N"), pd.DataFrame(rows), shared=["alpha"],
        chains=1, warmup=200, samples=200, seed=0,
    )
    summary = post.summary()
    assert summary["alpha"]["q05"] < alpha < summary["alpha"]["q95"]
    for label, (E, _) in groups.items():
        s = summary[f"E[{label}]"]
        assert s["q05"] < E < s["q95"], (label, s)
    group = post.group("b")
    assert isinstance(group, Posterior)
    assert abs(float(np.median(group.predict({"N": [1e9]}))) / (2.0 + 500.0 * 1e9**-alpha) - 1) < 0.02
    with pytest.raises(ValueError, match="unknown group"):
        post.group("z")


def test_density_matches_numpyro_model(laplace):
    # The hand-written unconstrained density equals numpyro's potential of `law_model`.
    import jax.numpy as jnp
    from numpyro.infer.util import potential_energy

    from scalinglaws.bayes import law_model
    from scalinglaws.bayes._model import UnconstrainedDensity
    from scalinglaws.bayes._priors import resolve_priors
    from scalinglaws.fit import make_parameterization

    runs = sl.load_dataset("chinchilla", query=QUERY)
    param = make_parameterization(laplace.template)
    priors = resolve_priors(laplace.template, param.free, None)
    x = {k: jnp.asarray(v) for k, v in runs.arrays(["N", "D"]).items()}
    log_y, w = jnp.log(jnp.asarray(runs["loss"])), jnp.ones(len(runs))
    kwargs = {"likelihood": "student_t", "df": 4.0, "noise_scale": 0.1}
    density = UnconstrainedDensity(param, priors, x, log_y, w, **kwargs)
    point = {k: v[0, 7] for k, v in laplace.draws.items()}
    u = density.unconstrained(point)
    expected = potential_energy(law_model, (param, priors, x, log_y, w), kwargs, u)
    np.testing.assert_allclose(float(density.potential(u)), float(expected), rtol=1e-10)
