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
    # The default sampler (4 chains x (300 warm-up + 1000 draws), whitened NUTS; slow tier).
    return infer("chinchilla", "chinchilla", query=QUERY, init=point_fit, seed=0, warn=False)


@pytest.fixture(scope="module")
def tiny_nuts(point_fit):
    # A few NUTS steps: exercises the sampler path (distinct starts, Laplace-preconditioned
    # mass matrix, diagnostics) in the default tier; its diagnostics are poor on purpose.
    return infer(
        "chinchilla", "chinchilla", query=QUERY, init=point_fit, chains=2, warmup=30, samples=30, seed=0, warn=False
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


@pytest.mark.slow  # NUTS: minutes on 2 cores (see pyproject.toml durations)
def test_nuts_chinchilla_matches_epoch(nuts):
    summary = nuts.summary()
    for name, (low, high) in EPOCH_CI.items():
        assert low < summary[name]["median"] < high, (name, summary[name])
        # The summary's quantiles are those of the pooled draws, recomputed here.
        expected = np.quantile(nuts.draws[name].ravel(), [0.05, 0.5, 0.95])
        got = [summary[name][k] for k in ("q05", "median", "q95")]
        np.testing.assert_allclose(got, expected, rtol=1e-10)
    assert nuts.divergences == 0
    assert max(s["r_hat"] for s in summary.values()) <= 1.01
    assert min(min(s["ess_bulk"], s["ess_tail"]) for s in summary.values()) > 400
    assert nuts.problems() == []
    assert nuts.law.E.shape == (4000,)
    assert nuts.draws["alpha"].shape == (4, 1000)


@pytest.mark.slow  # NUTS: minutes on 2 cores (see pyproject.toml durations)
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


@pytest.mark.slow
def test_save_load_identical(tmp_path, tiny_nuts):
    path = tmp_path / "post.json"
    tiny_nuts.save(path)
    again = load_posterior(path)
    assert again == tiny_nuts
    for name, values in tiny_nuts.draws.items():
        assert np.array_equal(again.draws[name], values)
        assert again.draws[name].tobytes() == values.tobytes()
    assert again.summary() == tiny_nuts.summary()
    assert again.discrepancy_slope == tiny_nuts.discrepancy_slope
    assert type(again.template) is type(tiny_nuts.template)


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
    # The band of the mean law is the draws' quantiles of L = E + A/N^alpha + B/D^beta,
    # computed here independently from the posterior draws.
    c = {k: np.asarray(v)[:, None] for k, v in laplace.coefficients.items()}
    n, d = np.array([7e10, 1e9]), np.array([1.4e12, 2e10])
    curves = c["E"] + c["A"] / n ** c["alpha"] + c["B"] / d ** c["beta"]
    for key, q in (("q05", 0.05), ("median", 0.5), ("q95", 0.95)):
        np.testing.assert_allclose(f[key], np.quantile(curves, q, axis=0), rtol=1e-8)
    assert np.all(f["pred_q05"] < f["q05"]) and np.all(f["q95"] < f["pred_q95"])
    point = laplace.template.predict({"N": np.array([7e10]), "D": np.array([1.4e12])})
    assert abs(float(f["median"][0]) / float(point[0]) - 1) < 0.01
    # The requested kind and level pick the interval; outputs say which kind they are.
    x = {"N": [7e10, 1e9], "D": [1.4e12, 2e10]}
    mean = laplace.forecast(x, kind="mean", level=0.9)
    pred = laplace.forecast(x, kind="predictive", level=0.9)
    assert mean["kind"] == "mean" and pred["kind"] == "predictive"
    np.testing.assert_allclose(mean["lo"], mean["q05"], rtol=1e-12)
    np.testing.assert_allclose(pred["hi"], pred["pred_q95"], rtol=1e-12)
    half = laplace.forecast(x, kind="predictive", level=0.5)
    assert np.all(half["hi"] - half["lo"] < pred["hi"] - pred["lo"])
    with pytest.raises(ValueError, match="kind='credible'"):
        laplace.forecast(x, kind="credible")
    with pytest.raises(ValueError, match="level=1.5"):
        laplace.forecast(x, level=1.5)
    with pytest.raises(ValueError, match="covariates: missing"):
        laplace.forecast(N=1e9)
    with pytest.raises(ValueError, match="must be positive and finite"):
        laplace.forecast(N=-1.0, D=1e10)


def test_predictive_interval_inside_and_beyond_the_data(laplace):
    # Inside the fitted range the predictive spread is coefficients + Student-t noise:
    # its log-width is close to that of sigma * t_4 alone (the coefficient part is small).
    from scipy import stats

    inside = laplace.forecast(N=[4e8], D=[8e9], kind="predictive")
    sigma = float(np.median(laplace.sigma))
    expected = 2 * sigma * stats.t.ppf(0.95, 4.0)
    width = float(np.log(inside["hi"][0] / inside["lo"][0]))
    assert expected < width < 1.3 * expected
    # Beyond the data, the discrepancy term (leave-largest-out slope s per decade) adds
    # s * d in quadrature, d the decades of compute beyond the largest fitted run.
    info = laplace.settings["discrepancy"]
    assert info["method"] == "leave-largest-out" and info["n_heldout"] >= 2
    slope = laplace.discrepancy_slope
    assert 0 < slope < 0.2
    n, d = 1e12, 2e13
    decades = np.log10(6 * n * d) - info["max_fitted"]
    far = laplace.forecast(N=[n], D=[d], kind="predictive", seed=1)
    mean = laplace.forecast(N=[n], D=[d], kind="mean")
    draws = np.log(laplace.predict({"N": [n], "D": [d]}, noise=True, seed=1))[:, 0]
    spread = np.log(laplace.predict({"N": [n], "D": [d]}))[:, 0]
    # Variance adds up: coefficients + noise + discrepancy (Monte Carlo, 2000 draws).
    noise_var = np.mean(laplace.sigma**2) * 4.0 / 2.0
    assert np.var(draws) == pytest.approx(np.var(spread) + noise_var + (slope * decades) ** 2, rel=0.15)
    assert far["hi"][0] - far["lo"][0] > mean["hi"][0] - mean["lo"][0]


def test_predictive_width_agrees_with_bootstrap(laplace, point_fit):
    # Issue 10 acceptance: posterior-predictive and bootstrap-predictive 90% intervals agree
    # within 25% in width on the Chinchilla points (median over the 240 runs).
    from scalinglaws.bayes import bootstrap

    runs = sl.load_dataset("chinchilla", query=QUERY)
    x = {"N": runs["N"], "D": runs["D"]}
    boot = bootstrap("chinchilla", runs, n=200, seed=0, init=point_fit)
    ours, theirs = laplace.forecast(x, kind="predictive"), boot.forecast(x, kind="predictive")
    ratio = np.log(ours["hi"] / ours["lo"]) / np.log(theirs["hi"] / theirs["lo"])
    assert 0.75 <= float(np.median(ratio)) <= 1.25, np.median(ratio)
    # And ours covers about 90% of the fitted runs themselves.
    y = runs["loss"]
    assert 0.85 <= np.mean((ours["lo"] <= y) & (y <= ours["hi"])) <= 0.95


@pytest.mark.slow
def test_grouped_runs_are_calibrated():
    # 10 runs x 12 checkpoints with a run-level offset (scale 0.03) and small checkpoint
    # noise: the run-level effect keeps the 90% interval of alpha honest (80-97% coverage
    # over 100 simulated data sets; without it, 12 checkpoints of a run count as 12 runs).
    from scalinglaws.laws import Chinchilla

    truth = Chinchilla(E=1.8, A=400.0, B=2000.0, alpha=0.34, beta=0.36)
    n_runs, n_checkpoints = 10, 12
    N = np.repeat(np.geomspace(5e7, 5e9, n_runs), n_checkpoints)
    D = np.tile(np.geomspace(1e9, 1e11, n_checkpoints), n_runs)
    groups = np.repeat(np.arange(n_runs), n_checkpoints)
    grouped = calibration(
        truth, {"N": N, "D": D}, sigma=0.005, groups=groups, run_scale=0.03, n_datasets=100, method="laplace",
        chains=1, samples=1000, seed=3, likelihood="normal",
    )
    assert 0.80 <= grouped["coverage"]["alpha"] <= 0.97, grouped["coverage"]


def test_infer_groups_checkpoints_by_run():
    # A `step` column marks checkpoints: they are grouped by N and the posterior has tau_run.
    import pandas as pd

    rng = np.random.default_rng(1)
    N = np.repeat(np.geomspace(5e7, 5e9, 6), 8)
    D = np.tile(np.geomspace(1e9, 1e11, 8), 6)
    offsets = np.repeat(0.03 * rng.standard_normal(6), 8)
    loss = (1.8 + 400 * N**-0.34 + 2000 * D**-0.36) * np.exp(offsets + 0.003 * rng.standard_normal(N.size))
    data = pd.DataFrame({"N": N, "D": D, "loss": loss, "step": np.tile(np.arange(8), 6)})
    post = infer("chinchilla", data, method="laplace", chains=1, samples=1000, fix={"E": 1.8}, warn=False)
    assert post.settings["n_groups"] == 6 and "tau_run" in post.draws
    # The Laplace approximation's joint mode over (tau, offsets) overstates tau with few
    # runs (a known bias of joint modes in hierarchical models); NUTS samples its marginal.
    assert 0.01 < float(np.median(post.run_scale)) < 0.3
    # A new run's predictive interval includes its offset: wider than noise alone.
    f = post.forecast(N=[5e8], D=[1e10], kind="predictive")
    assert np.log(f["hi"][0] / f["lo"][0]) > 2 * 1.645 * 0.02
    with pytest.raises(ValueError, match="group='run': no such column"):
        infer("chinchilla", data, group="run", method="laplace", fix={"E": 1.8})


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
        # The spread is that of each draw's own optimum (Hoffmann et al. 2022, eq. 4).
        c = laplace.coefficients
        a, b = c["alpha"], c["beta"]
        n_star = (a * c["A"] / (b * c["B"])) ** (1 / (a + b)) * (row["C"] / 6) ** (b / (a + b))
        # Whatever the interpolation (in N or in log N), a quantile lies between the two
        # order statistics that bracket it.
        ordered = np.sort(n_star)
        for key, q in (("N_q05", 0.05), ("N_median", 0.5), ("N_q95", 0.95)):
            h = (len(ordered) - 1) * q
            low, high = ordered[int(np.floor(h))], ordered[int(np.ceil(h))]
            assert low * (1 - 1e-9) <= row[key] <= high * (1 + 1e-9), (key, row[key], low, high)
        assert row["N_q05"] < row["N"] < row["N_q95"]
        assert abs(6 * row["N"] * row["D"] / row["C"] - 1) < 1e-12
        # Brute force: the chosen N beats its neighbours on the posterior mean loss.
        for factor in (0.9, 1.1):
            n = row["N"] * factor
            mean_loss = np.mean(np.asarray(law.predict({"N": np.array(n), "D": np.array(row["C"] / (6 * n))})))
            assert mean_loss > row["loss"]
    q90 = risk_aware_allocation(laplace, [5.76e23], risk="q90")[0]
    # The q90 plan's `loss` is the 90% quantile over draws of the loss at its own (N, D),
    # recomputed here, and no nearby N has a lower 90% quantile.
    def q90_loss(n):
        loss = np.asarray(law.predict({"N": np.array(n), "D": np.array(5.76e23 / (6 * n))}))
        return np.quantile(loss, 0.9)

    assert q90["loss"] == pytest.approx(q90_loss(q90["N"]), rel=1e-6)
    for factor in (0.9, 1.1):
        assert q90_loss(q90["N"] * factor) > q90["loss"]
    with pytest.raises(ValueError, match="risk='worst'"):
        risk_aware_allocation(laplace, [1e21], risk="worst")
    with pytest.raises(ValueError, match="budgets=.*must be positive and finite"):
        risk_aware_allocation(laplace, [-1.0])
    with pytest.raises(ValueError, match="flops='8nd'"):
        risk_aware_allocation(laplace, [1e21], flops="8nd")


def test_allocation_under_uncertainty_uses_the_allocator(laplace):
    # Per draw, the Bayesian layer's optimum is scalinglaws.allocate's, for any FLOP model.
    from scalinglaws.allocate import compute_optimal

    budgets = [1e21, 1e23]
    draws = optimal_allocation_draws(laplace, budgets, flops="kaplan")
    c = laplace.coefficients
    for s in (0, 17, 1234):
        law = laplace.template.replace(**{k: float(v[s]) for k, v in c.items()})
        point = compute_optimal(law, budgets, flops="kaplan")
        np.testing.assert_allclose(draws["N"][s], point.N, rtol=1e-8)
        np.testing.assert_allclose(draws["D"][s], point.D, rtol=1e-8)
    assert draws["interior"].all()
    rows = risk_aware_allocation(laplace, budgets, flops="kaplan")
    six = risk_aware_allocation(laplace, budgets)
    # Kaplan's count adds attention FLOPs per token: fewer tokens for the same N and budget.
    assert all(r["D"] / r["N"] != pytest.approx(q["D"] / q["N"], rel=1e-3) for r, q in zip(rows, six))
    with pytest.raises(ValueError, match="unique_tokens=...: the law Chinchilla does not model repeated data"):
        risk_aware_allocation(laplace, budgets, unique_tokens=1e11)


def test_allocation_with_unique_tokens():
    # A data-constrained law (Muennighoff et al. 2023) under uncertainty: each draw's plan
    # equals compute_optimal's with the same unique-token limit.
    from scalinglaws.allocate import compute_optimal
    from scalinglaws.laws import get_law

    template = get_law("data-constrained")
    names = template.coefficient_names()
    rng = np.random.default_rng(0)
    base = {n: float(getattr(template, n)) for n in names}
    draws = {n: np.abs(base[n]) * (1 + 0.02 * rng.standard_normal((1, 50))) + (base[n] == 0) * 1e-3 for n in names}
    draws["sigma"] = np.full((1, 50), 0.01)
    post = Posterior(template, tuple(names), (), draws, method="laplace")
    got = optimal_allocation_draws(post, [1e22], unique_tokens=1e11)
    for s in (0, 49):
        law = template.replace(**{n: float(draws[n][0, s]) for n in names})
        np.testing.assert_allclose(got["N"][s], compute_optimal(law, [1e22], unique_tokens=1e11).N, rtol=1e-8)
    rows = risk_aware_allocation(post, [1e22], unique_tokens=1e11)
    assert rows[0]["epochs"] == pytest.approx(rows[0]["D"] / 1e11)
    with pytest.raises(ValueError, match="unique_tokens=None: the law .* reads U"):
        risk_aware_allocation(post, [1e22])


@pytest.mark.slow
def test_nuts_diagnostics_are_arviz_rank_normalised(tiny_nuts):
    # r_hat and ESS are ArviZ's rank-normalised ones (Vehtari et al. 2021), not re-derived.
    import arviz as az

    summary = tiny_nuts.summary()
    for name, values in tiny_nuts.draws.items():
        assert summary[name]["r_hat"] == pytest.approx(float(az.rhat(values)), rel=1e-12)
        assert summary[name]["ess_bulk"] == pytest.approx(float(az.ess(values, method="bulk")), rel=1e-12)
        assert summary[name]["ess_tail"] == pytest.approx(float(az.ess(values, method="tail")), rel=1e-12)
    # 2 x 30 draws cannot reach 100 effective draws per chain: the warning says so, loudly.
    with pytest.warns(sl.ConvergenceWarning, match="effective sample size"):
        tiny_nuts.warn()
    exported = tiny_nuts.to_arviz()
    assert exported.posterior["alpha"].shape == (2, 30)


@pytest.mark.slow
def test_chains_start_at_distinct_points(point_fit):
    # Every chain starts somewhere else (r_hat can only see a second mode if chains do not
    # all start at the point fit): with zero warm-up... NUTS needs one step, so check the
    # starts themselves.
    from scalinglaws.bayes import _infer

    seen = {}
    original = _infer._chain_starts

    def spy(*args, **kwargs):
        seen["starts"] = out = original(*args, **kwargs)
        return out

    _infer._chain_starts = spy
    try:
        infer("chinchilla", "chinchilla", query=QUERY, init=point_fit, chains=3, warmup=5, samples=5, warn=False)
    finally:
        _infer._chain_starts = original
    flat = np.stack([np.asarray(v) for v in seen["starts"].values()], axis=1)  # (chains, sites)
    assert flat.shape[0] == 3
    assert len({tuple(row) for row in flat.round(12)}) == 3


def test_posterior_warns_on_bad_chains(laplace):
    # Two chains that sit in different places: r_hat far above 1.01, a ConvergenceWarning.
    rng = np.random.default_rng(0)
    draws = {k: np.stack([v[0, :200], v[0, :200] * 1.2]) * (1 + 1e-3 * rng.standard_normal((2, 200)))
             for k, v in laplace.draws.items()}
    post = Posterior(laplace.template, laplace.free, (), draws, method="nuts", divergences=3)
    problems = post.problems()
    assert any("3 divergent transitions" in p for p in problems)
    assert any(p.startswith("alpha: r_hat = ") for p in problems)
    with pytest.warns(sl.ConvergenceWarning, match="r_hat"):
        post.warn()
    assert "converged" not in post.summary_table()


def test_laplace_summary_has_no_chain_fields(laplace):
    summary = laplace.summary()
    assert set(summary["alpha"]) == {"mean", "median", "q05", "q95"}
    document = laplace.as_dict()
    assert "divergences" not in document and "chains" not in document
    assert "r_hat" not in laplace.summary_table()


def test_unidentified_law_is_an_error():
    # Identical rows cannot identify E, A and alpha: an IdentifiabilityError that says so,
    # never draws from the prior dressed up as a posterior.
    import pandas as pd

    data = pd.DataFrame({"N": [1e8, 1e8, 1e8, 1e8], "loss": [3.0, 3.0, 3.0, 3.0]})
    law = PowerLaw(E=1.8, A=400.0, alpha=0.3, variable="N")
    with pytest.raises(sl.errors.IdentifiabilityError, match="cannot be identified"):
        infer(law, data, method="laplace", chains=1, samples=100, warn=False)


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


@pytest.mark.slow  # NUTS: minutes on 2 cores (see pyproject.toml durations)
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


def test_density_is_the_numpyro_model_density(laplace):
    # The density every sampler uses (built by numpyro from `law_model`) equals the log
    # posterior written out independently with SciPy: Normal priors in unconstrained space
    # (log for positive coefficients), HalfNormal(0.1) on sigma with its log Jacobian, and
    # a Student-t(4) likelihood on log loss.
    import jax.numpy as jnp
    from scipy import stats

    from scalinglaws.bayes._model import law_density
    from scalinglaws.bayes._priors import default_prior_parameters, resolve_priors
    from scalinglaws.fit import make_parameterization

    runs = sl.load_dataset("chinchilla", query=QUERY)
    template = laplace.template
    param = make_parameterization(template)
    priors = resolve_priors(template, param.free, None)
    x = {k: jnp.asarray(v) for k, v in runs.arrays(["N", "D"]).items()}
    log_y = np.log(runs["loss"])
    density = law_density(param, priors, x, jnp.asarray(log_y), jnp.ones(len(runs)), likelihood="student_t",
                          df=4.0, noise_scale=0.1)
    point = {k: float(v[0, 7]) for k, v in laplace.draws.items()}
    u = density.unconstrained(point)
    expected = 0.0
    for name in param.free:  # every Chinchilla coefficient is positive: u = log(value)
        loc, scale = default_prior_parameters(template, name)
        expected += stats.norm.logpdf(np.log(point[name]), loc, scale)
    expected += stats.halfnorm.logpdf(point["sigma"], scale=0.1) + np.log(point["sigma"])
    law = template.replace(**{n: point[n] for n in param.free})
    log_pred = np.asarray(law.log_predict({k: np.asarray(v) for k, v in x.items()}))
    expected += stats.t.logpdf(log_y, 4.0, loc=log_pred, scale=point["sigma"]).sum()
    np.testing.assert_allclose(float(density.log_density(u)), expected, rtol=1e-10)


def test_sampler_compiled_ahead_gives_the_same_draws(point_fit, tiny_nuts, monkeypatch):
    """The sampler compiled in a background thread (`compile_ahead`, used when the process
    may run on two or more cores) is the same program as the one compiled at the call."""
    import os

    import scalinglaws.bayes._infer as infer_module

    from scalinglaws.bayes import _programs

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    monkeypatch.setattr(infer_module, "_ahead_executor", lambda: None)  # compile at the call
    _programs.clear()  # or the call would reuse `tiny_nuts`'s programs (same data, same settings)
    synchronous = infer(
        "chinchilla", "chinchilla", query=QUERY, init=point_fit, chains=2, warmup=30, samples=30, seed=0, warn=False
    )
    for name, values in tiny_nuts.draws.items():
        np.testing.assert_array_equal(values, synchronous.draws[name])
    assert synchronous.divergences == tiny_nuts.divergences
    # On one core `tiny_nuts` itself was compiled at the call: the check above is then
    # weaker, so say which case ran.
    print(f"{cores} core(s): compiled ahead = {cores > 1}")


def test_a_later_call_on_the_same_data_reuses_the_compiled_sampler(point_fit, tiny_nuts, monkeypatch):
    """`infer` keeps the sampler and mode search of recent calls (`bayes._programs`): the same
    data and settings compile nothing and, with the same seed, give the same draws; other
    data or settings compile their own."""
    import scalinglaws.bayes._infer as infer_module

    compiled = []  # every program built (compiled ahead or at the call) is wrapped once
    real = infer_module.Remembered

    def counting(program, key):
        compiled.append(key)
        return real(program, key)

    monkeypatch.setattr(infer_module, "Remembered", counting)
    settings = dict(init=point_fit, chains=2, warmup=30, samples=30, warn=False)
    again = infer("chinchilla", "chinchilla", query=QUERY, seed=0, **settings)
    other_seed = infer("chinchilla", "chinchilla", query=QUERY, seed=1, **settings)
    assert compiled == []
    for name, values in tiny_nuts.draws.items():
        np.testing.assert_array_equal(values, again.draws[name])
    assert not np.array_equal(tiny_nuts.draws["E"], other_seed.draws["E"])
    longer = infer("chinchilla", "chinchilla", query=QUERY, seed=0, **{**settings, "samples": 31})
    assert longer.draws["E"].shape == (2, 31)
    fewer = infer("chinchilla", "chinchilla", query=QUERY + " and N < 5e9", seed=0,
                  **{**settings, "init": None})
    assert len(compiled) >= 2 and fewer.draws["E"].shape == (2, 30)  # new sampler (and mode search)


def test_chains_side_by_side_do_not_depend_on_the_number_of_threads(point_fit, tiny_nuts, monkeypatch):
    """On one CPU device the default runs each chain as its own call of a one-chain program,
    side by side on threads (`chain_method="threads"`); a chain's draws depend on its start
    and key only, so one thread gives the draws of several to the bit."""
    import scalinglaws.bayes._infer as infer_module

    assert tiny_nuts.settings["chain_method"] == infer_module.resolve_chain_method("auto")
    if tiny_nuts.settings["chain_method"] != "threads":
        pytest.skip("not one CPU device: chains are vectorised here")
    monkeypatch.setattr(infer_module, "usable_cores", lambda: 1)
    in_turn = infer(
        "chinchilla", "chinchilla", query=QUERY, init=point_fit, chains=2, warmup=30, samples=30, seed=0, warn=False
    )
    for name, values in tiny_nuts.draws.items():
        np.testing.assert_array_equal(values, in_turn.draws[name])
    assert in_turn.divergences == tiny_nuts.divergences


def test_vectorized_chains_sample_the_same_posterior(point_fit):
    """`chain_method="vectorized"` (one vmapped program, the choice for a GPU) still runs on
    a CPU: the same keys, other rounding, so other draws of the same posterior."""
    vectorized = infer(
        "chinchilla", "chinchilla", query=QUERY, init=point_fit, chains=2, warmup=100, samples=200, seed=0,
        warn=False, chain_method="vectorized",
    )
    threads = infer(
        "chinchilla", "chinchilla", query=QUERY, init=point_fit, chains=2, warmup=100, samples=200, seed=0,
        warn=False, chain_method="threads",
    )
    assert vectorized.settings["chain_method"] == "vectorized" and threads.settings["chain_method"] == "threads"
    for name in ("E", "alpha", "beta"):
        a, b = vectorized.draws[name], threads.draws[name]
        assert a.shape == b.shape == (2, 200)
        # Posterior medians agree within a few Monte Carlo standard errors.
        assert abs(np.median(a) - np.median(b)) < 0.5 * np.std(a), name


def test_bad_chain_method_names_the_choices():
    from scalinglaws.errors import InputError

    with pytest.raises(InputError, match=r"chain_method='pmap'.*'auto', 'threads', 'vectorized'"):
        infer("chinchilla", "chinchilla", query=QUERY, chain_method="pmap")
