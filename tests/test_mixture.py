"""Mixing laws, fitting, projections, the optimiser, bootstrap, I/O and CLI on synthetic data."""

import json
import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from typing import ClassVar

from scalinglaws.cli import main
from scalinglaws.laws import coefficient, positive, real
from scalinglaws.mixture import (
    AbstractMixingLaw,
    DataMixingLaw,
    ScaledMixingLaw,
    SqrtMixingLaw,
    bootstrap_mixture,
    check_proportions,
    effective_tokens,
    fit_mixture,
    kl_project,
    load_mixture_fit,
    optimize_mixture,
    project,
    rankdata,
    save_mixture_fit,
    spearman,
)

DOMAINS = ("a", "b", "c", "d")
TRUE_C = np.array([1.5, 2.0])
TRUE_T = np.array([[-2.0, 0.5, 1.0, 0.2], [0.8, -1.5, 0.3, -0.4]])


def _synthetic(n=80, seed=0, noise=0.002):
    rng = np.random.default_rng(seed)
    W = rng.dirichlet(np.ones(len(DOMAINS)), n)
    frame = {f"w_{d}": W[:, j] for j, d in enumerate(DOMAINS)}
    for i, name in enumerate(("loss_x", "loss_y")):
        law = DataMixingLaw(c=TRUE_C[i], t=TRUE_T[i], domains=DOMAINS)
        frame[name] = np.asarray(law.predict(frame)) * np.exp(rng.normal(0, noise, n))
    return pd.DataFrame(frame)


@pytest.fixture(scope="module")
def data():
    return _synthetic()


@pytest.fixture(scope="module")
def ye_fit(data):
    return fit_mixture("ye", data, starts=64)


# ---- laws ------------------------------------------------------------------------------


def test_ye_recovery_vectorised_over_targets(ye_fit):
    assert ye_fit.targets == ("loss_x", "loss_y")
    assert bool(np.all(ye_fit.converged))
    np.testing.assert_allclose(np.asarray(ye_fit.law.c), TRUE_C, rtol=0.02)
    np.testing.assert_allclose(np.asarray(ye_fit.law.t), TRUE_T, atol=0.05)


def test_published_form_is_the_same_function():
    law = DataMixingLaw(c=1.5, t=jnp.array([-2.0, 0.5, 1.0, 0.2]), domains=DOMAINS)
    form = law.published_form()
    np.testing.assert_allclose(float(jnp.sum(form["t"])), 0.0, atol=1e-12)
    r = np.random.default_rng(1).dirichlet(np.ones(4), 10)
    direct = form["c"] + form["k"] * np.exp(r @ np.asarray(form["t"]))
    np.testing.assert_allclose(np.asarray(law.predict({f"w_{d}": r[:, j] for j, d in enumerate(DOMAINS)})),
                               direct, rtol=1e-12)


def test_sqrt_law_nests_ye_law():
    r = np.random.default_rng(2).dirichlet(np.ones(4), 10)
    x = {f"w_{d}": r[:, j] for j, d in enumerate(DOMAINS)}
    ye = DataMixingLaw(c=1.5, t=TRUE_T[0], domains=DOMAINS)
    sq = SqrtMixingLaw(c=1.5, t=TRUE_T[0], s=jnp.zeros(4), domains=DOMAINS)
    np.testing.assert_allclose(np.asarray(sq.predict(x)), np.asarray(ye.predict(x)), rtol=1e-13)


def test_scaled_law_recovery():
    rng = np.random.default_rng(3)
    n = 120
    W = rng.dirichlet(np.ones(3), n)
    N = 10 ** rng.uniform(6, 9, n)
    doms = ("a", "b", "c")
    true = ScaledMixingLaw(E=1.8, alpha=0.3, t=jnp.array([-1.0, 0.5, 0.2]), s=jnp.array([-0.5, 0.0, 0.3]),
                           domains=doms)
    frame = {f"w_{d}": W[:, j] for j, d in enumerate(doms)} | {"N": N}
    frame["loss_a"] = np.asarray(true.predict(frame)) * np.exp(rng.normal(0, 1e-3, n))
    fit = fit_mixture("scaled", frame, starts=64)
    law = fit.law_for("loss_a")
    assert abs(float(law.E) - 1.8) < 0.02 and abs(float(law.alpha) - 0.3) < 0.01
    np.testing.assert_allclose(np.asarray(law.t), [-1.0, 0.5, 0.2], atol=0.1)
    with pytest.raises(ValueError, match="also reads 'N'"):
        fit.predict_proportions(np.full(3, 1 / 3))


def test_user_defined_law_in_a_few_lines(data):
    class LogLaw(AbstractMixingLaw):
        c: jax.Array = coefficient(positive, init=(0.5, 5.0))
        t: jax.Array = coefficient(real, init=(-3.0, 3.0))
        domains: tuple = eqx.field(static=True)
        prefix: str = eqx.field(static=True, default="w_")
        suffix: str = eqx.field(static=True, default="")
        per_domain: ClassVar[tuple[str, ...]] = ("t",)

        def log_predict(self, x):
            return jnp.logaddexp(jnp.log(self.c), self.proportions(x) @ self.t)

    fit = fit_mixture(LogLaw, data, starts=64)
    np.testing.assert_allclose(np.asarray(fit.law.t), TRUE_T, atol=0.05)


# ---- data checks -------------------------------------------------------------------------


def test_weights_must_sum_to_one_or_be_normalised(data):
    bad = data.copy()
    bad.loc[3, "w_a"] += 0.5
    with pytest.raises(ValueError, match=r"row\(s\) 3 sum to 1\.5.*normalize=True"):
        fit_mixture("ye", bad)
    counts = np.array([[2.0, 1.0, 1.0]])
    np.testing.assert_allclose(check_proportions(counts, normalize=True), [[0.5, 0.25, 0.25]])


def test_negative_weights_rejected(data):
    bad = data.copy()
    bad.loc[5, "w_b"] = -0.1
    with pytest.raises(ValueError, match=r"negative weights in row\(s\) 5 \(e\.g\. w_b"):
        fit_mixture("ye", bad, normalize=True)


def test_bad_globs_and_laws(data):
    with pytest.raises(ValueError, match="weights='q_\\*': no column matches"):
        fit_mixture("ye", data, weights="q_*")
    with pytest.raises(ValueError, match="exactly one"):
        fit_mixture("ye", data, weights="w_*_*")
    with pytest.raises(ValueError, match="unknown mixing law"):
        fit_mixture("nope", data)


# ---- spearman ----------------------------------------------------------------------------


def test_spearman_matches_scipy_with_ties():
    from scipy.stats import rankdata as sp_rank, spearmanr

    rng = np.random.default_rng(4)
    a = rng.integers(0, 10, 200).astype(float)
    b = a + rng.normal(0, 3, 200)
    np.testing.assert_allclose(rankdata(a), sp_rank(a))
    assert abs(spearman(a, b) - spearmanr(a, b).statistic) < 1e-12
    with pytest.raises(ValueError, match="same length"):
        spearman([1.0, 2.0], [1.0])


# ---- projections and effective data --------------------------------------------------------


def test_projection_is_exact_and_optimal():
    rng = np.random.default_rng(5)
    lo = jnp.array([0.0, 0.1, 0.0, 0.05, 0.0])
    hi = jnp.array([0.5, 1.0, 0.2, 1.0, 0.3])
    v = jnp.asarray(rng.normal(0, 1, (50, 5)))
    for r in (project(v, lo, hi), kl_project(v, lo, hi)):
        r = np.asarray(r)
        assert np.all(r >= np.asarray(lo)) and np.all(r <= np.asarray(hi))
        np.testing.assert_allclose(r.sum(-1), 1.0, atol=1e-14)
    # Euclidean projection: no feasible point is closer (random feasible candidates).
    r = np.asarray(project(v[0], lo, hi))
    cands = np.asarray(project(jnp.asarray(rng.normal(0, 1, (2000, 5))), lo, hi))
    assert np.all(np.linalg.norm(cands - np.asarray(v[0]), axis=1) >= np.linalg.norm(r - np.asarray(v[0])) - 1e-12)


def test_effective_tokens_muennighoff():
    # Below one epoch nothing changes; at R repetitions D' = U(1 + R*(1 - exp(-R/R*))).
    np.testing.assert_allclose(float(effective_tokens(5.0, 10.0)), 5.0)
    U, R = 1e9, 4.0
    expected = U * (1 + 15.4 * (1 - np.exp(-R / 15.4)))
    np.testing.assert_allclose(float(effective_tokens(U * (1 + R), U)), expected, rtol=1e-12)
    # Continuous at one epoch, with slope 1 (the penalty starts smoothly).
    below, above = float(effective_tokens(U * (1 - 1e-9), U)), float(effective_tokens(U * (1 + 1e-9), U))
    np.testing.assert_allclose((above - below) / (2e-9 * U), 1.0, rtol=1e-5)


def test_effective_data_has_one_home():
    from scalinglaws.laws import DataConstrained
    from scalinglaws.laws import data_constrained as dc
    from scalinglaws.mixture import R_D_STAR

    assert effective_tokens is dc.effective_tokens and R_D_STAR == dc.R_D_STAR == 15.4
    law = DataConstrained(E=1.9, A=500.0, B=2000.0, alpha=0.35, beta=0.35, R_D_star=7.0, R_N_star=5.0)
    D, U = np.array([5e9, 3e10, 2e11]), 1e10
    np.testing.assert_allclose(
        np.exp(law.effective_data({"N": 1e9, "D": D, "U": U})), effective_tokens(D, U, 7.0), rtol=1e-14
    )
    # A different R_D* is a different value: 4 repetitions beyond the first epoch.
    np.testing.assert_allclose(float(effective_tokens(5 * U, U, 7.0)), U * (1 + 7 * (1 - np.exp(-4 / 7))), rtol=1e-13)


def test_repetition_penalty_uses_the_given_r_d_star(ye_fit):
    from scalinglaws.laws import DataConstrained

    kwargs = dict(tokens=1e9, available={"a": 1e8}, max_epochs=4)
    default = optimize_mixture(ye_fit, "loss_x", **kwargs)
    law = DataConstrained(E=1.9, A=500.0, B=2000.0, alpha=0.35, beta=0.35, R_D_star=2.0, R_N_star=5.0)
    for r_star in (2.0, law):
        plan = optimize_mixture(ye_fit, "loss_x", r_d_star=r_star, **kwargs)
        D = plan.weights["a"] * 1e9
        np.testing.assert_allclose(plan.effective["a"], float(effective_tokens(D, 1e8, 2.0)) / 1e9, rtol=1e-10)
    # Repeated data worth less (smaller R_D*): the optimiser leans less on domain a.
    assert plan.weights["a"] <= default.weights["a"] + 1e-9
    with pytest.raises(ValueError, match="r_d_star=-1.0"):
        optimize_mixture(ye_fit, "loss_x", r_d_star=-1.0, **kwargs)


# ---- optimiser ---------------------------------------------------------------------------


def _greedy(t, lo, hi):
    """Exact minimiser of the linear t . r over {lo <= r <= hi, sum r = 1}: fill cheapest first."""
    r = lo.copy()
    left = 1.0 - r.sum()
    for j in np.argsort(t):
        add = min(hi[j] - r[j], left)
        r[j] += add
        left -= add
    return r


def test_optimizer_matches_exact_solution_for_ye_law(ye_fit):
    # For one target Ye's law is monotone in t . r, a linear program with a greedy solution.
    t = np.asarray(ye_fit.law.t[0])
    lo = np.array([0.0, 0.1, 0.0, 0.05])
    hi = np.array([0.6, 1.0, 0.3, 1.0])
    plan = optimize_mixture(ye_fit, "loss_x", minimum={"b": 0.1, "d": 0.05}, maximum={"a": 0.6, "c": 0.3})
    r = np.array([plan.weights[d] for d in DOMAINS])
    np.testing.assert_allclose(r, _greedy(t, lo, hi), atol=1e-6)
    assert np.all(r >= lo - 1e-12) and np.all(r <= hi + 1e-12) and abs(r.sum() - 1) < 1e-12
    assert set(plan.predicted) == {"loss_x", "loss_y"}


def test_optimizer_beats_every_training_mixture(ye_fit, data):
    predicted = ye_fit.predict(data)
    for target, values in (("mean", (predicted["loss_x"] + predicted["loss_y"]) / 2),
                           ("max", np.maximum(predicted["loss_x"], predicted["loss_y"]))):
        plan = optimize_mixture(ye_fit, target)
        assert plan.objective < values.min()


def test_token_budget_and_repetition(ye_fit):
    # Domain a is the best for loss_x but has only 1e8 unique tokens for a 1e9-token run.
    plan = optimize_mixture(ye_fit, "loss_x", tokens=1e9, available={"a": 1e8}, max_epochs=4)
    assert plan.weights["a"] <= 0.4 + 1e-12
    assert abs(sum(plan.weights.values()) - 1) < 1e-12
    # Effective proportion of a repeated domain is below its weight (Muennighoff et al. 2023).
    assert plan.effective["a"] < plan.weights["a"]
    assert plan.effective["b"] == pytest.approx(plan.weights["b"], abs=1e-15)


def test_optimizer_errors(ye_fit):
    with pytest.raises(ValueError, match="unknown domain 'zz'"):
        optimize_mixture(ye_fit, "mean", minimum={"zz": 0.1})
    with pytest.raises(ValueError, match="unknown domain 'zz'"):
        optimize_mixture(ye_fit, "mean", tokens=1e9, available={"zz": 1e8})
    with pytest.raises(ValueError, match="minimum weights sum to 1.2 > 1"):
        optimize_mixture(ye_fit, "mean", minimum={"a": 0.6, "b": 0.6})
    with pytest.raises(ValueError, match="maximum weights sum to 0.8 < 1"):
        optimize_mixture(ye_fit, "mean", maximum={d: 0.2 for d in DOMAINS})
    with pytest.raises(ValueError, match="too few tokens for the budget"):
        optimize_mixture(ye_fit, "mean", tokens=1e9, available={d: 1e7 for d in DOMAINS}, max_epochs=4)
    with pytest.raises(ValueError, match="minimum 0.5 above its maximum 0.4"):
        optimize_mixture(ye_fit, "mean", minimum={"a": 0.5}, tokens=1e9, available={"a": 1e8})
    with pytest.raises(ValueError, match="target='loss_q'"):
        optimize_mixture(ye_fit, "loss_q")
    with pytest.raises(ValueError, match="max_epochs=...: needs tokens"):
        optimize_mixture(ye_fit, "mean", max_epochs=4)
    with pytest.raises(ValueError, match="available=...: give the planned total token budget"):
        optimize_mixture(ye_fit, "mean", available={"a": 1e8})
    with pytest.raises(ValueError, match="tokens=.*planned token budget must be positive"):
        optimize_mixture(ye_fit, "mean", tokens=-1, available={"a": 1e8})


# ---- uncertainty -------------------------------------------------------------------------


def test_bootstrap_distribution_of_optimal_mixture(ye_fit, data):
    boot = bootstrap_mixture(ye_fit, data, n_boot=4, target="mean", restarts=4, steps=200)
    assert boot.weights.shape == (4, 4) and boot.predicted.shape == (4, 2)
    np.testing.assert_allclose(boot.weights.sum(1), 1.0, atol=1e-12)
    # Low-noise data: every replicate's law, hence optimum, stays near the point fit.
    point = optimize_mixture(ye_fit, "mean", restarts=4, steps=200)
    w = np.array([point.weights[d] for d in DOMAINS])
    assert np.max(np.abs(boot.weights - w)) < 0.05
    # The 90% interval is the 5%/50%/95% quantiles of the replicates' optima, recomputed here.
    interval = boot.interval(0.9)
    for j, domain in enumerate(DOMAINS):
        np.testing.assert_allclose(
            interval["weights"][domain], np.quantile(boot.weights[:, j], [0.05, 0.5, 0.95]), rtol=1e-12
        )


# ---- I/O ---------------------------------------------------------------------------------


def test_predict_warns_about_other_scales(tmp_path):
    frame = _synthetic(n=40)
    frame["model_scale"] = "1M"
    fit = fit_mixture("ye", frame, starts=16)
    assert fit.fitted_scales == (("model_scale", ("1M",)),)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit.predict(frame.iloc[:1])  # the fitted scale, one row: fine
    other = frame.iloc[:3].copy()
    other["model_scale"] = ["1M", "60M", "1B"]
    with pytest.warns(UserWarning, match=r"model_scale = \['60M', '1B'\].*fitted at model_scale = \['1M'\]"):
        fit.predict(other)
    save_mixture_fit(fit, tmp_path / "fit.json")
    assert load_mixture_fit(tmp_path / "fit.json").fitted_scales == fit.fitted_scales
    other.to_csv(tmp_path / "rows.csv", index=False)
    result = CliRunner().invoke(main, ["mix", "predict", str(tmp_path / "fit.json"), str(tmp_path / "rows.csv")])
    assert result.exit_code == 0, result.output
    assert "60M" in result.output  # the warning, once, on stderr (mixed into output here)
    one = tmp_path / "one.csv"
    frame.iloc[:1].to_csv(one, index=False)
    result = CliRunner().invoke(main, ["mix", "predict", str(tmp_path / "fit.json"), str(one), "--json"])
    assert result.exit_code == 0, result.output


def test_save_load_round_trip(ye_fit, tmp_path):
    path = tmp_path / "mix.json"
    save_mixture_fit(ye_fit, path, data="synthetic")
    back = load_mixture_fit(path)
    assert back.targets == ye_fit.targets and back.domains == ye_fit.domains
    np.testing.assert_array_equal(np.asarray(back.weight_range), np.asarray(ye_fit.weight_range))
    for a, b in zip(jax.tree.leaves(ye_fit.law), jax.tree.leaves(back.law)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    path.write_text(path.read_text()[:50])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        load_mixture_fit(path)


# ---- CLI ---------------------------------------------------------------------------------


def test_cli_fit_predict_optimize(data, tmp_path):
    csv = tmp_path / "runs.csv"
    data.to_csv(csv, index=False)
    out = tmp_path / "fit.json"
    runner = CliRunner()
    result = runner.invoke(main, ["mix", "fit", str(csv), "--weights", "w_*", "--losses", "loss_*", "--law", "ye",
                                  "--starts", "64", "--out", str(out)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["mix", "predict", str(out), str(csv), "--query", "w_a >= 0",
                                  "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert len(document["predictions"]) == len(data)
    np.testing.assert_allclose([row["loss_x"] for row in document["predictions"]], data["loss_x"], rtol=0.02)
    result = runner.invoke(main, ["mix", "optimize", str(out), "--target", "loss_x", "--min", "b=0.1",
                                  "--max", "a=0.6", "--json", "--plot", str(tmp_path / "w.png")])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)
    assert set(plan) >= {"weights", "predicted"} and set(plan["predicted"]) == {"loss_x", "loss_y"}
    assert plan["weights"]["a"] <= 0.6 + 1e-12 and plan["weights"]["b"] >= 0.1 - 1e-12
    assert (tmp_path / "w.png").stat().st_size > 0
    result = runner.invoke(main, ["mix", "optimize", str(out), "--min", "a=0.7", "--min", "b=0.7"])
    assert result.exit_code == 1 and "minimum weights sum to 1.4 > 1" in result.output
    result = runner.invoke(main, ["mix", "optimize", str(out), "--max", "zz=0.1"])
    assert result.exit_code == 1 and "unknown domain 'zz'" in result.output
