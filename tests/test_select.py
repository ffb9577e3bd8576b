"""Law selection: leave-largest-out ranking, stacking weights, ensemble forecasts."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

import scalinglaws as sl
from scalinglaws import InputError
from scalinglaws.cli import main
from scalinglaws.fit import stacking_weights


def test_stacking_weights_maximise_the_held_out_log_score():
    rng = np.random.default_rng(0)
    p = np.column_stack([rng.uniform(0.5, 2.0, 50), rng.uniform(0.01, 0.1, 50)])
    w = stacking_weights(p)
    assert w.sum() == pytest.approx(1.0) and w[0] > 0.99  # the first model dominates everywhere
    # Two complementary models: each best on half of the points; the optimum mixes them,
    # and beats every other point of the simplex on a grid.
    q = np.array([[1.0, 0.1]] * 20 + [[0.1, 1.0]] * 20)
    w = stacking_weights(q)
    score = lambda v: np.sum(np.log(q @ v))  # noqa: E731
    grid = [np.array([a, 1 - a]) for a in np.linspace(0, 1, 101)]
    assert score(w) >= max(score(v) for v in grid) - 1e-9
    assert w[0] == pytest.approx(0.5, abs=1e-6)
    with pytest.raises(InputError, match="densities"):
        stacking_weights(np.ones(3))


@pytest.fixture(scope="module")
def selection():
    rng = np.random.default_rng(1)
    c = np.geomspace(1e17, 1e22, 30)
    loss = (1.7 + 700 * c**-0.15) * np.exp(0.005 * rng.standard_normal(c.size))
    data = {"C": c, "loss": loss}
    return sl.select(["power-c", "broken-power-c"], data, loo=False, n_boot=30, starts=256), data


def test_select_ranks_and_weights_laws(selection):
    result, _ = selection
    assert [row["law"] for row in result.rows] == sorted(
        (row["law"] for row in result.rows), key=lambda n: next(r["rmse_log"] for r in result.rows if r["law"] == n)
    )
    assert set(result.weights) == {"power-c", "broken-power-c"}
    assert sum(result.weights.values()) == pytest.approx(1.0)
    assert result.n_test == 6  # the largest 20% of 30 runs
    document = result.as_dict()
    assert document["best"] == result.best and len(document["laws"]) == 2


def test_ensemble_forecast_is_a_mixture_of_predictive_intervals(selection):
    result, _ = selection
    band = result.forecast(C=np.array([1e23, 1e24]), level=0.9)
    truth = 1.7 + 700 * np.array([1e23, 1e24]) ** -0.15
    assert band["interval"] == "predictive"
    assert np.all(band["lo"] < truth) and np.all(truth < band["hi"])
    assert np.all(band["hi"] / band["lo"] > 1.0)
    # Wider further out: the extrapolation term grows with distance.
    assert np.log(band["hi"][1] / band["lo"][1]) > np.log(band["hi"][0] / band["lo"][0])


def test_select_needs_two_laws():
    with pytest.raises(InputError, match="two or more candidate laws"):
        sl.select(["power-c"], {"C": np.geomspace(1e17, 1e22, 10), "loss": np.linspace(3, 2, 10)})


def test_select_command_json():
    result = CliRunner().invoke(
        main,
        ["select", "chinchilla", "--laws", "chinchilla,kaplan", "--query", "epoch_default_included == 1",
         "--above", "1e21", "--no-loo", "--n-boot", "20", "--json"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert {row["law"] for row in document["laws"]} == {"chinchilla", "kaplan"}
    assert document["n_test"] == 23 and sum(row["weight"] for row in document["laws"]) == pytest.approx(1.0)
