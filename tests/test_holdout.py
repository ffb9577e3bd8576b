"""Held-out checks with predictive intervals, grouped splits, and the `holdout` command."""

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import scalinglaws as sl
from scalinglaws import InputError
from scalinglaws.cli import main
from scalinglaws.fit import run_groups, split_runs

QUERY = "epoch_default_included == 1"


@pytest.fixture(scope="module")
def chinchilla_holdout():
    return sl.holdout("chinchilla", "chinchilla", query=QUERY, above=1e21, n_boot=100)


def test_predictive_intervals_are_wider_than_mean_intervals(chinchilla_holdout):
    report = chinchilla_holdout
    assert report.interval == "bootstrap" and report.kind == "predictive" and report.level == 0.9
    assert report.lo.shape == report.hi.shape == report.actual.shape == (report.n_test,)
    assert np.all(report.lo < report.predicted) and np.all(report.predicted < report.hi)
    mean = report.with_level(0.9, "mean")
    assert mean.kind == "mean" and mean.mean_log_width < 0.5 * report.mean_log_width
    # The predictive interval covers far more held-out runs than the mean-law interval.
    assert report.coverage > mean.coverage + 0.3
    half = report.with_level(0.5)
    assert half.mean_log_width < report.mean_log_width and half.coverage <= report.coverage
    np.testing.assert_allclose(report.rmse_log, np.sqrt(np.mean(np.log(report.predicted / report.actual) ** 2)))
    np.testing.assert_allclose(
        report.coverage, np.mean((report.lo <= report.actual) & (report.actual <= report.hi))
    )
    noise = report.details["noise"]
    assert noise["n_splits"] >= 2 and noise["by"] == "C" and noise["sigma0"] > 0


def test_interval_none_keeps_the_point_forecast(chinchilla_holdout):
    plain = sl.holdout("chinchilla", "chinchilla", query=QUERY, above=1e21, interval="none")
    np.testing.assert_allclose(plain.predicted, chinchilla_holdout.predicted, rtol=1e-10)
    assert np.isnan(plain.coverage)
    document = plain.as_dict()
    assert document["coverage"] is None and document["points"][0]["lo"] is None


def checkpoints(n_runs=6, n_ckpt=5):
    n = np.repeat(np.geomspace(1e7, 1e9, n_runs), n_ckpt)
    step = np.tile(np.arange(1, n_ckpt + 1), n_runs)
    d = step * 2e8 * (1 + np.repeat(np.arange(n_runs), n_ckpt))  # larger runs train longer
    loss = 1.8 + 400 * n**-0.3 + 300 * d**-0.3
    return pd.DataFrame({"N": n, "D": d, "step": step, "loss": loss})


def test_a_split_never_puts_one_run_on_both_sides():
    runs = sl.Runs(checkpoints())
    groups = run_groups(runs)
    c = 6 * runs["N"] * runs["D"]
    # A threshold inside the C range of a run: its early checkpoints lie below it, but the
    # run goes to the test side whole, because its largest checkpoint lies above.
    threshold = float(np.median(c))
    train, _, test = split_runs(runs, above=threshold, by="C", groups=groups)
    assert not set(groups[train]) & set(groups[test])
    assert (c[train] <= threshold).all() and (c[test] > threshold).any() and (c[test] <= threshold).any()
    # Without groups the same threshold would split runs row by row.
    train_rows, _, _ = split_runs(runs, above=threshold, by="C", groups=None)
    assert train_rows.sum() > train.sum()


def test_train_test_expressions_must_not_split_a_run():
    frame = checkpoints()
    with pytest.raises(InputError, match="checkpoints on both sides"):
        sl.holdout("power-n", frame, train="step <= 3", test="step > 3", interval="none")
    report = sl.holdout("power-n", frame.assign(loss=1.8 + 400 * frame["N"] ** -0.3), train="N < 5e8",
                        test="N >= 5e8", interval="none", loss="squared")
    assert report.n_test == 5 and np.isnan(report.threshold)  # the largest run, whole


def test_holdout_errors_name_the_argument():
    with pytest.raises(InputError, match="interval='magic'"):
        sl.holdout("chinchilla", "chinchilla", above=1e21, interval="magic")
    with pytest.raises(InputError, match="level=1.5"):
        sl.holdout("chinchilla", "chinchilla", above=1e21, level=1.5)
    with pytest.raises(InputError, match="give exactly one of above="):
        sl.holdout("chinchilla", "chinchilla", above=1e21, train="N < 1e9", test="N >= 1e9")
    with pytest.raises(InputError, match="by='U': no such column"):
        sl.holdout("chinchilla", "chinchilla", above=1e21, by="U")


def test_holdout_command_json_has_the_documented_keys():
    runner = CliRunner()
    result = runner.invoke(
        main,
        ["holdout", "chinchilla", "--law", "chinchilla", "--query", QUERY, "--above", "1e21", "--n-boot", "20",
         "--json", "--quiet"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    required = {"law", "n_train", "n_test", "mean_abs_rel_error", "rmse_log", "coverage", "mean_log_width", "points"}
    assert required <= set(document)
    assert document["law"] == "chinchilla" and document["n_train"] + document["n_test"] == 240
    assert document["interval"] == "bootstrap" and document["kind"] == "predictive"
    assert len(document["points"]) == document["n_test"]
    assert set(document["points"][0]) == {"observed", "predicted", "lo", "hi"}
    inside = [p["lo"] <= p["observed"] <= p["hi"] for p in document["points"]]
    assert document["coverage"] == pytest.approx(np.mean(inside))


def test_holdout_command_needs_one_kind_of_split():
    runner = CliRunner()
    result = runner.invoke(main, ["holdout", "chinchilla", "--law", "chinchilla", "--train", "N < 1e9"])
    assert result.exit_code == 2 and "--train and --test together" in result.output
