"""Bad input gets a clear error that names the argument and says what to do."""

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import scalinglaws as sl
from scalinglaws.cli import main


def _runs(n=12, **overrides):
    rng = np.random.default_rng(0)
    data = {
        "N": np.geomspace(1e7, 1e9, n),
        "D": np.geomspace(1e9, 1e11, n),
        "loss": 2.0 + rng.uniform(0.1, 1.0, n),
    }
    data.update(overrides)
    return data


def test_missing_columns_are_listed():
    data = _runs()
    del data["D"]
    with pytest.raises(ValueError, match=r"missing column\(s\) \['D'\].*chinchilla|missing column\(s\) \['D'\]"):
        sl.fit("chinchilla", data)


def test_missing_target_column():
    data = _runs()
    del data["loss"]
    with pytest.raises(ValueError, match=r"missing column\(s\) \['loss'\].*target"):
        sl.fit("chinchilla", data)


def test_non_numeric_values():
    frame = pd.DataFrame(_runs())
    frame["loss"] = frame["loss"].astype(object)
    frame.loc[3, "loss"] = "n/a"
    with pytest.raises(ValueError, match=r"column 'loss' has non-numeric values in row\(s\) 3"):
        sl.fit("chinchilla", frame)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_and_inf(bad):
    loss = _runs()["loss"].copy()
    loss[5] = bad
    with pytest.raises(ValueError, match=r"column 'loss' has NaN or infinite values in row\(s\) 5"):
        sl.load_runs(_runs(loss=loss))


@pytest.mark.parametrize("column", ["N", "D", "loss"])
def test_non_positive_values(column):
    values = _runs()[column].copy()
    values[2] = 0.0
    with pytest.raises(ValueError, match=rf"column '{column}' must be positive.*row\(s\) 2"):
        sl.load_runs(_runs(**{column: values}))


def test_compute_inconsistent_with_6nd_warns():
    data = _runs()
    data["C"] = 6 * data["N"] * data["D"]
    data["C"][0] *= 3
    with pytest.warns(UserWarning, match=r"'C' differs from 6\*N\*D"):
        sl.load_runs(data)


def test_fewer_rows_than_free_coefficients():
    with pytest.raises(ValueError, match=r"3 rows but 5 free coefficients"):
        sl.fit("chinchilla", _runs(n=3))


def test_fewer_rows_ok_once_coefficients_are_fixed():
    result = sl.fit("chinchilla", _runs(n=4), fix={"alpha": 0.34, "beta": 0.28}, starts=50)
    assert result.free == ("E", "A", "B")


def test_nothing_left_after_query():
    with pytest.raises(ValueError, match=r"query='N > 1e12': no rows left"):
        sl.fit("chinchilla", _runs(), query="N > 1e12")


def test_bad_query_expression():
    with pytest.raises(ValueError, match=r"query='nonexistent > 1': could not evaluate"):
        sl.load_runs(_runs(), query="nonexistent > 1")


def test_unknown_law():
    with pytest.raises(ValueError, match=r"law='chinchila': unknown law. Known laws: chinchilla"):
        sl.fit("chinchila", _runs())


def test_unknown_coefficient_in_fix_and_tie():
    with pytest.raises(ValueError, match=r"fix: unknown coefficient\(s\) \['gamma'\] for law Chinchilla"):
        sl.fit("chinchilla", _runs(), fix={"gamma": 1.0})
    with pytest.raises(ValueError, match=r"tie: unknown coefficient\(s\) \['delta'\]"):
        sl.fit("chinchilla", _runs(), tie={"beta": "delta"})


def test_fix_outside_support_and_tie_cycle():
    with pytest.raises(ValueError, match=r"fix: E=-1.0 is outside the support"):
        sl.fit("chinchilla", _runs(), fix={"E": -1.0})
    with pytest.raises(ValueError, match=r"tie: .* form a cycle"):
        sl.fit("chinchilla", _runs(), tie={"alpha": "beta", "beta": "alpha"})


def test_bad_fit_options():
    with pytest.raises(ValueError, match=r"loss='l1': expected 'huber' or 'squared'"):
        sl.fit("chinchilla", _runs(), loss="l1")
    with pytest.raises(ValueError, match=r"delta=-1: the Huber threshold must be a positive number"):
        sl.fit("chinchilla", _runs(), delta=-1)
    with pytest.raises(ValueError, match=r"starts=0: need at least one starting point"):
        sl.fit("chinchilla", _runs(), starts=0)
    with pytest.raises(ValueError, match=r"weights: expected 12 values"):
        sl.fit("chinchilla", _runs(), weights=np.ones(3))


def test_missing_file_and_bad_data_type():
    with pytest.raises(ValueError, match=r"data='/no/such.csv': no such file, and not a built-in dataset"):
        sl.load_runs("/no/such.csv")
    with pytest.raises(TypeError, match=r"data=...: expected a CSV path"):
        sl.load_runs(42)


@pytest.mark.parametrize(
    "args, message",
    [
        (["fit", "chinchilla", "--law", "nope"], "law='nope': unknown law"),
        (["fit", "chinchilla", "--law", "chinchilla", "--fix", "gamma=1"], "fix: unknown coefficient(s) ['gamma']"),
        (["fit", "chinchilla", "--law", "chinchilla", "--tie", "beta=zeta"], "tie: unknown coefficient(s) ['zeta']"),
        (["fit", "chinchilla", "--law", "chinchilla", "--fix", "alpha"], "expected NAME=VALUE"),
        (["fit", "chinchilla", "--law", "chinchilla", "--fix", "alpha=x"], "alpha='x' is not a number"),
        (["fit", "chinchilla", "--law", "chinchilla", "--query", "N < 0"], "no rows left"),
        (["fit", "nothere.csv", "--law", "chinchilla"], "no such file"),
        (["fit", "chinchilla", "--law", "chinchilla", "--starts", "many"], "expected 'grid' or an integer"),
    ],
)
def test_cli_errors_are_one_clean_line(args, message):
    out = CliRunner().invoke(main, args + ["--quiet"])
    assert out.exit_code != 0
    assert message in out.output
    assert "Traceback" not in out.output
