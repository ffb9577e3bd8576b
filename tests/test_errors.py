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


# ---- issue 9.3: input errors are InputErrors; the CLI's exit codes ------------------------


def test_table_errors_are_input_errors(tmp_path):
    from scalinglaws.errors import InputError

    bad_bytes = tmp_path / "latin1.csv"
    bad_bytes.write_bytes("N,D,loss\n1e8,1e9,3.0\n".encode() + b"\xe9\xff,1,2\n")
    with pytest.raises(InputError, match=r"data='.*latin1.csv': not UTF-8 text .* Save the table as UTF-8"):
        sl.load_runs(str(bad_bytes))
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InputError, match=r"could not read it as CSV"):
        sl.load_runs(str(empty))
    header = tmp_path / "header.csv"
    header.write_text("N,D,loss\n")
    with pytest.raises(InputError, match=r"has no rows \(only a header\?\)"):
        sl.load_runs(str(header))
    with pytest.raises(InputError, match=r"data='bad\\x00name.csv'"):
        sl.load_runs("bad\x00name.csv")
    with pytest.raises(InputError, match=r"column name\(s\) \['N'\] appear more than once"):
        sl.load_runs(pd.DataFrame([[1.0, 2.0]], columns=["N", "N"]))
    with pytest.raises(InputError, match=r"query='N': could not evaluate it as a condition"):
        sl.load_runs(_runs(), query="N")


def test_pyarrow_and_pandas_engines_read_the_same_table(tmp_path):
    path = tmp_path / "runs.csv"
    pd.DataFrame(_runs()).to_csv(path, index=False)
    runs = sl.load_runs(str(path))
    np.testing.assert_array_equal(runs["loss"], pd.read_csv(path, engine="c")["loss"].to_numpy())


def test_non_finite_results_are_errors_naming_the_field():
    from scalinglaws.commands._common import NonFiniteResult, checked

    with pytest.raises(NonFiniteResult, match=r"allocations\[1\]\.loss is nan"):
        checked({"allocations": [{"loss": 1.0}, {"loss": float("nan")}]})
    with pytest.raises(NonFiniteResult, match=r"the result N is inf"):
        checked({"N": np.float64("inf")})
    assert checked({"a": np.array([1.0, 2.0]), "b": np.float64(3.0)}) == {"a": [1.0, 2.0], "b": 3.0}


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["fit", "chinchilla", "--law", "chinchilla", "--delta", "nan"], 2, "--delta"),
        (["fit", "chinchilla", "--law", "chinchilla", "--starts", "0"], 2, "--starts"),
        (["allocate", "--law", "chinchilla", "--budget", "nan"], 2, "--budget"),
        (["allocate", "--law", "chinchilla", "--budget", "-1e21"], 2, "--budget"),
        (["allocate", "--law", "chinchilla", "--coef", "E=inf", "--budget", "1e21"], 2, "--coef"),
        (["allocate", "--law", "chinchilla", "--coef", "E=1", "--coef", "E=2", "--budget", "1e21"], 2, "E is given twice"),
        (["testtime", "passk", "x.csv", "--k", "0"], 2, "--k"),
        (["fit", "chinchilla", "--law", "chinchilla", "--weights", "nope", "--quiet"], 1, "missing column(s) ['nope']"),
    ],
)
def test_usage_errors_exit_2_and_data_errors_exit_1(args, code, message):
    out = CliRunner().invoke(main, args)
    assert out.exit_code == code, out.output
    assert isinstance(out.exception, SystemExit)
    assert message in out.stderr
    assert "Traceback" not in out.output
