"""Loss-curve laws, schedules and their features (scalinglaws.curves)."""


import numpy as np
import pandas as pd
import pytest

import scalinglaws as sl
from scalinglaws.curves import (
    Schedule,
    bootstrap_curves,
    curve_features,
    fit_curves,
    optimize_decay,
    predict_curve,
    schedule_features,
)
from scalinglaws.errors import InputError
from scalinglaws.laws import LRAnnealing, MultiPower, get_law

# ---- schedules --------------------------------------------------------------------------


def test_cosine_schedule_endpoints_and_warmup():
    s = Schedule("cosine", peak=2e-3, total_steps=1000, warmup=50, final=2e-4)
    lr = s.learning_rates()
    assert lr.shape == (1000,)
    np.testing.assert_allclose(lr[:50], 2e-3 * np.arange(1, 51) / 50)
    assert lr[49] == pytest.approx(2e-3)
    assert lr[-1] == pytest.approx(2e-4)
    # Halfway through the cosine the rate is the mean of peak and final.
    mid = 50 + (1000 - 50) // 2
    assert lr[mid - 1] == pytest.approx(0.5 * (2e-3 + 2e-4), rel=1e-9)
    assert np.all(np.diff(lr[50:]) <= 0)


def test_wsd_schedule_is_stable_then_decays_linearly():
    s = Schedule("wsd", peak=1.0, total_steps=100, warmup=10, final=0.0, decay_fraction=0.2)
    lr = s.learning_rates()
    assert s.decay_start == 80
    np.testing.assert_allclose(lr[10:80], 1.0)
    np.testing.assert_allclose(lr[80:], 1.0 - np.arange(1, 21) / 20)


def test_constant_schedule():
    lr = Schedule("constant", peak=3e-4, total_steps=20, warmup=4).learning_rates()
    np.testing.assert_allclose(lr[4:], 3e-4)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(kind="linear", peak=1.0, total_steps=10), "kind='linear'"),
        (dict(kind="cosine", peak=0.0, total_steps=10), "peak"),
        (dict(kind="cosine", peak=1.0, total_steps=1), "total_steps"),
        (dict(kind="cosine", peak=1.0, total_steps=10, warmup=10), "warmup"),
        (dict(kind="cosine", peak=1.0, total_steps=10, final=2.0), "final"),
        (dict(kind="wsd", peak=1.0, total_steps=10, decay_fraction=0.0), "decay_fraction"),
        (dict(kind="wsd", peak=1.0, total_steps=10, decay_shape="exp"), "decay_shape"),
    ],
)
def test_schedule_errors_name_the_field(kwargs, match):
    with pytest.raises(InputError, match=match):
        Schedule(**kwargs)


# ---- features ---------------------------------------------------------------------------


def _hand_features(lr, lam):
    s1, s2, m, total1, total2 = [], [], 0.0, 0.0, 0.0
    peak = int(np.argmax(lr))
    for i, eta in enumerate(lr):
        delta = 0.0 if i <= peak else lr[i - 1] - eta
        m = lam * m + delta
        total1 += eta
        total2 += m
        s1.append(total1)
        s2.append(total2)
    return np.array(s1), np.array(s2)


def test_features_match_hand_computation_small():
    lr = np.array([1.0, 2.0, 2.0, 1.5, 1.0, 1.0])
    f = schedule_features(lr, lam=0.5)
    np.testing.assert_allclose(f["S1"], [1, 3, 5, 6.5, 7.5, 8.5])
    # m = 0, 0, 0, 0.5, 0.75, 0.375 -> S2 = cumulative sums
    np.testing.assert_allclose(f["S2"], [0, 0, 0, 0.5, 1.25, 1.625])


@pytest.mark.parametrize("lam", [0.9, 0.99, 0.999])
def test_features_match_hand_loop_long_schedule(lam):
    # Longer than one block of the vectorised momentum, with a re-warmup after a decay.
    lr = np.concatenate(
        [Schedule("wsd", 1e-3, 3000, warmup=100, final=1e-4, decay_fraction=0.3).learning_rates(),
         np.linspace(1e-4, 5e-4, 200)]
    )
    steps = np.array([1, 50, 1000, 2100, 2500, 3000, 3100, 3200])
    f = schedule_features(lr, steps, lam=lam)
    s1, s2 = _hand_features(lr, lam)
    np.testing.assert_allclose(f["S1"], s1[steps - 1], rtol=1e-12)
    np.testing.assert_allclose(f["S2"], s2[steps - 1], rtol=1e-9, atol=1e-15)


def test_feature_errors():
    with pytest.raises(InputError, match="lam"):
        schedule_features(np.ones(5), lam=1.0)
    with pytest.raises(InputError, match="steps"):
        schedule_features(np.ones(5), [6])
    with pytest.raises(InputError, match="lr"):
        schedule_features(np.array([1.0, np.nan]))
    with pytest.raises(InputError, match="lr"):
        schedule_features(np.zeros(4))


def _exact_multipower_drop(lr, t, B, C, beta, gamma):
    """Luo et al. 2025's LD(t), summed over every step (the reference for the quadrature)."""
    peak = int(np.argmax(lr))
    total = 0.0
    for k in range(peak + 1, t):
        delta = lr[k - 1] - lr[k]
        s_k = lr[k : t].sum()
        total += delta * (1.0 - (C * lr[k] ** (-gamma) * s_k + 1.0) ** (-beta))
    return B * total


@pytest.mark.parametrize("kind", ["cosine", "wsd"])
def test_multipower_quadrature_matches_exact_sum(kind):
    sched = Schedule(kind, 3e-3, 2000, warmup=50, final=3e-4, decay_fraction=0.3)
    lr = sched.learning_rates()
    steps = np.array([300, 1000, 1500, 1900, 2000])
    law = MultiPower(L0=2.0, A=0.5, alpha=0.5, B=400.0, C=2.0, beta=0.6, gamma=0.5, n_terms=24)
    f = schedule_features(lr, steps, n_terms=24)
    with sl.precision.in_float64():
        pred = np.asarray(law.predict(f))
    exact = np.array(
        [2.0 + 0.5 * lr[:t].sum() ** -0.5 - _exact_multipower_drop(lr, t, 400.0, 2.0, 0.6, 0.5) for t in steps]
    )
    drop = 2.0 + 0.5 * f["S1"] ** -0.5 - exact
    # The quadrature error is a small fraction of the loss drop it approximates.
    assert np.max(np.abs(pred - exact)) <= 0.02 * max(np.max(drop), 1e-3)


def test_curve_features_from_schedule_columns_and_lr_column():
    sched = Schedule("cosine", 1e-3, 400, warmup=10, final=1e-4)
    steps = np.arange(20, 401, 20)
    lr_full = sched.learning_rates()
    by_columns = pd.DataFrame(
        {"run": "a", "step": steps, "loss": 3.0, "schedule": "cosine", "peak_lr": 1e-3, "total_steps": 400,
         "warmup": 10, "final_lr_ratio": 0.1}
    )
    out = curve_features(by_columns)
    ref = schedule_features(lr_full, steps)
    np.testing.assert_allclose(out["S1"], ref["S1"])
    np.testing.assert_allclose(out["S2"], ref["S2"])
    # From a densely logged lr column the features are the same.
    dense = pd.DataFrame({"run": "a", "step": np.arange(1, 401), "lr": lr_full, "loss": 3.0})
    out2 = curve_features(dense)
    np.testing.assert_allclose(out2["S1"].to_numpy()[steps - 1], ref["S1"], rtol=1e-12)


def test_curve_features_errors():
    frame = pd.DataFrame({"run": ["a"] * 3, "step": [1, 2, 3], "loss": [3.0, 2.9, 2.8]})
    with pytest.raises(InputError, match="schedule=None"):
        curve_features(frame)
    with pytest.raises(InputError, match="missing column 'step'"):
        curve_features(frame.drop(columns="step"), schedule=Schedule("constant", 1e-3, 10))
    with pytest.raises(InputError, match="beyond its schedule"):
        curve_features(frame, schedule=Schedule("constant", 1e-3, 2))
    with pytest.raises(InputError, match="positive integer steps"):
        curve_features(frame.assign(step=[0, 1, 2]), schedule=Schedule("constant", 1e-3, 10))


# ---- fitting, prediction, schedule optimisation ----------------------------------------------

TRUE = dict(L0=2.5, A=0.6, alpha=0.5, C=0.4)
SCHEDULES = {
    "cos": Schedule("cosine", 2e-3, 4000, warmup=100, final=2e-4),
    "wsd": Schedule("wsd", 2e-3, 4000, warmup=100, final=0.0, decay_fraction=0.2),
    "const": Schedule("constant", 2e-3, 3000, warmup=100),
}


def _simulate(law, schedules, noise=0.002, seed=0, every=100):
    rng = np.random.default_rng(seed)
    rows = []
    for name, s in schedules.items():
        steps = np.arange(every, s.total_steps + 1, every)
        f = schedule_features(s.learning_rates(), steps)
        with sl.precision.in_float64():
            loss = np.asarray(law.predict(f)) * np.exp(rng.normal(0, noise, steps.size))
        rows += [{"run": name, "step": int(a), "loss": float(b)} for a, b in zip(steps, loss)]
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def tissue_fit():
    data = _simulate(LRAnnealing(**TRUE), SCHEDULES)
    return fit_curves(data, schedule=SCHEDULES)


def test_fit_recovers_tissue_coefficients(tissue_fit):
    assert tissue_fit.converged
    got = tissue_fit.result.coefficients
    assert got["L0"] == pytest.approx(TRUE["L0"], rel=0.01)
    assert got["alpha"] == pytest.approx(TRUE["alpha"], abs=0.02)
    assert got["C"] == pytest.approx(TRUE["C"], rel=0.05)
    assert isinstance(tissue_fit.law, LRAnnealing)


def test_predict_unseen_schedule_with_bootstrap_intervals(tissue_fit):
    boot = bootstrap_curves(tissue_fit, n=20, seed=1)
    assert boot.replicates is not None
    new = Schedule("wsd", 2e-3, 4000, warmup=100, decay_fraction=0.35, decay_shape="cosine")
    curve = predict_curve(boot, new, steps=[1000, 2000, 4000])
    truth = LRAnnealing(**TRUE)(S1=curve["S1"].to_numpy(), S2=curve["S2"].to_numpy())
    np.testing.assert_allclose(curve["loss"], np.asarray(truth), rtol=3e-3)
    assert np.all(curve["lower"] <= curve["loss"]) and np.all(curve["loss"] <= curve["upper"])
    assert np.all(curve["pred_lower"] <= curve["lower"] + 1e-12)
    assert curve["loss"].dtype == np.float64


def test_predict_curve_errors(tissue_fit):
    with pytest.raises(InputError, match="schedule"):
        predict_curve(tissue_fit, {"kind": "wsd"})
    with pytest.raises(InputError, match="level"):
        predict_curve(tissue_fit, SCHEDULES["cos"], level=1.5)


def test_optimize_decay_matches_brute_force():
    # Constants with an interior optimum (a short decay wins: annealing saturates quickly).
    law = LRAnnealing(L0=2.0, A=1.0, alpha=0.5, C=0.5)
    total, peak, warmup = 2000, 3e-3, 50
    out = optimize_decay(law, total_steps=total, peak=peak, warmup=warmup, lam=0.99)
    lengths = np.arange(1, total - warmup + 1)
    finals = []
    for n_decay in lengths:
        s = Schedule("wsd", peak, total, warmup=warmup, decay_fraction=n_decay / total)
        f = schedule_features(s.learning_rates(), [total], lam=0.99)
        finals.append(float(law(S1=f["S1"], S2=f["S2"])[0]))
    finals = np.array(finals)
    best = int(np.argmin(finals))
    assert 0 < best < len(lengths) - 1, "the test needs an interior optimum"
    assert out["final_loss"] == pytest.approx(finals[best], rel=1e-6)
    assert abs(out["decay_steps"] - lengths[best]) <= 2
    assert out["decay_start"] == total - out["decay_steps"]
    assert len(out["grid"]) == 101


def test_optimize_decay_errors(tissue_fit):
    with pytest.raises(InputError, match="grid"):
        optimize_decay(tissue_fit, total_steps=1000, peak=1e-3, grid=2)
    with pytest.raises(InputError, match="covariates"):
        optimize_decay(get_law("lr-annealing-n"), total_steps=1000, peak=1e-3)


def test_curve_laws_are_registered_and_listed():
    names = sl.laws.law_names()
    for name in ("lr-annealing", "lr-annealing-n", "multi-power", "kaplan-critical"):
        assert name in names
    assert get_law("multi-power").inputs[0] == "S1"
    assert len(get_law("multi-power").inputs) == 1 + 3 * 24


def test_fit_curves_warns_when_not_converged():
    data = _simulate(LRAnnealing(**TRUE), {"cos": SCHEDULES["cos"]}, every=400)
    with pytest.warns(sl.errors.ConvergenceWarning):
        fit_curves(data, schedule=SCHEDULES, max_steps=2)


def test_own_column_names_are_mapped(tissue_fit):
    """Issue 12: `columns=` (CLI `curves fit --column`) reads the user's own names."""
    data = _simulate(LRAnnealing(**TRUE), SCHEDULES).rename(columns={"step": "iteration", "loss": "val_ppl_log"})
    renamed = fit_curves(data, schedule=SCHEDULES, columns={"iteration": "step", "val_ppl_log": "loss"})
    for name, value in tissue_fit.result.coefficients.items():
        assert renamed.result.coefficients[name] == pytest.approx(value, rel=1e-9)
    with pytest.raises(InputError, match="iteration"):
        fit_curves(data, schedule=SCHEDULES)  # without the mapping: the error lists the columns


# ---- shared schedule coefficients, per-run offsets (Tissue et al. 2024, §4) -------------


def _shared_runs(truth, runs, half_of=None, lam=0.99, noise=0.0, seed=0):
    from scalinglaws.curves import schedule_features

    rng = np.random.default_rng(seed)
    frames, scheds = [], {}
    for rid, (total, offset) in runs.items():
        s = Schedule("cosine", peak=2e-3, total_steps=total, warmup=50, final=2e-4)
        scheds[rid] = s
        last = total // 2 if rid == half_of else total
        steps = np.unique(np.r_[np.arange(100, last + 1, 100), last])
        f = schedule_features(s.learning_rates(), steps, lam=lam)
        loss = truth["L0"] + offset + truth["A"] * f["S1"] ** -truth["alpha"] - truth["C"] * f["S2"]
        frames.append(pd.DataFrame({"run": rid, "step": steps, "loss": loss * np.exp(noise * rng.normal(size=steps.size))}))
    return pd.concat(frames, ignore_index=True), scheds


def test_fit_curves_shared_recovers_coefficients_and_forecasts_half_run():
    from scalinglaws.curves import fit_curves_shared

    truth = {"L0": 2.5, "A": 0.8, "alpha": 0.4, "C": 0.3}
    runs = {"short": (1000, 0.02), "mid": (2000, -0.01), "long": (8000, 0.0)}
    data, scheds = _shared_runs(truth, runs, half_of="long")
    cf = fit_curves_shared(data, schedule=scheds, lam=0.99)
    assert cf.A == pytest.approx(0.8, rel=1e-5)
    assert cf.alpha == pytest.approx(0.4, rel=1e-5)
    assert cf.C == pytest.approx(0.3, rel=1e-4)
    assert cf.offsets["short"] - cf.offsets["long"] == pytest.approx(0.02, abs=1e-6)
    assert cf.offsets["mid"] - cf.offsets["long"] == pytest.approx(-0.01, abs=1e-6)
    assert not cf.alpha_at_bound
    # The long run's final loss, never seen: only its first half was fitted.
    full, _ = _shared_runs(truth, {"long": (8000, 0.0)})
    expected = full["loss"].iloc[-1]
    assert cf.predict(scheds["long"], run="long")[0] == pytest.approx(expected, rel=1e-6)
    assert cf.predict(scheds["long"], offset=cf.offsets["long"])[0] == pytest.approx(expected, rel=1e-6)
    with pytest.raises(InputError):
        cf.predict(scheds["long"])
    with pytest.raises(InputError):
        cf.predict(scheds["long"], run="nope")


def test_fit_curves_shared_keeps_annealing_coefficient_non_negative():
    from scalinglaws.curves import fit_curves_shared

    # Loss that *rises* with annealing area: the constrained optimum is C = 0 exactly.
    truth = {"L0": 2.5, "A": 0.8, "alpha": 0.4, "C": -0.2}
    data, scheds = _shared_runs(truth, {"a": (1000, 0.0), "b": (3000, 0.01)}, noise=1e-3)
    cf = fit_curves_shared(data, schedule=scheds, lam=0.99)
    assert cf.C == 0.0 and cf.A >= 0.0
    with pytest.raises(InputError):
        fit_curves_shared(data.head(3), schedule=scheds, lam=0.99)


def test_cli_predict_gives_bootstrap_intervals_from_a_saved_fit(tmp_path):
    """`curves fit --bootstrap N --out` saves the replicates' coefficients (data only) and
    `curves predict` prints the law's bootstrap interval and a new checkpoint's predictive
    interval, the numbers `predict_curve` gives on the same bootstrap."""
    import json

    from click.testing import CliRunner

    from scalinglaws.cli import main

    data = _simulate(LRAnnealing(**TRUE), SCHEDULES)
    columns = {"cos": ("cosine", 2e-4, 0.2), "wsd": ("wsd", 0.0, 0.2), "const": ("constant", 0.0, 0.2)}
    for run, (kind, final, decay) in columns.items():
        s = SCHEDULES[run]
        rows = data["run"] == run
        data.loc[rows, ["schedule", "peak_lr", "total_steps", "warmup", "final_lr", "decay_fraction"]] = (
            kind, s.peak, s.total_steps, 100, final, decay)
    path, out = tmp_path / "curves.csv", tmp_path / "fit.json"
    data.to_csv(path, index=False)
    runner = CliRunner()
    result = runner.invoke(main, ["curves", "fit", str(path), "--bootstrap", "20", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    saved = json.loads(out.read_text())
    assert len(saved["replicates"]["alpha"]) == 20 and saved["residual_sd"] > 0
    args = ["curves", "predict", "--fit", str(out), "--schedule", "wsd", "--peak", "2e-3", "--steps", "4000",
            "--warmup", "100", "--decay-fraction", "0.35", "--points", "5", "--json"]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert "bootstrap interval" in document["interval"]
    bad_level = runner.invoke(main, [*args, "--level", "1.5"])
    assert bad_level.exit_code == 2 and "--level" in bad_level.output
    rows = pd.DataFrame(document["rows"])
    assert np.all(rows["pred_lower"] <= rows["lower"]) and np.all(rows["lower"] <= rows["loss"])
    assert np.all(rows["loss"] <= rows["upper"]) and np.all(rows["upper"] <= rows["pred_upper"])
    # A fit saved without --bootstrap: point prediction, and it says so.
    plain = tmp_path / "plain.json"
    assert runner.invoke(main, ["curves", "fit", str(path), "--out", str(plain)]).exit_code == 0
    result = runner.invoke(main, [*args[:2], "--fit", str(plain), *args[4:]])
    assert result.exit_code == 0 and "none (point prediction" in json.loads(result.output)["interval"]
    # Replicates are data, checked like coefficients: a negative exponent is refused.
    saved["replicates"]["alpha"][0] = -1.0
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(saved))
    result = runner.invoke(main, [*args[:2], "--fit", str(bad), *args[4:]])
    assert result.exit_code != 0 and "replicate 0" in result.output
