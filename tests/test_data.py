"""The run table: derived columns, loaders and queries."""

import numpy as np
import pandas as pd
import pytest

import scalinglaws as sl


def test_compute_derived_from_n_and_d():
    runs = sl.load_runs({"N": [1e8, 2e8], "D": [1e9, 4e9], "loss": [3.0, 2.9]})
    np.testing.assert_allclose(runs["C"], [6e17, 4.8e18])


def test_tokens_derived_from_compute():
    runs = sl.load_runs({"N": [1e8], "C": [6e18], "loss": [3.0]})
    np.testing.assert_allclose(runs["D"], [1e10])


def test_csv_dataframe_and_dict_agree(tmp_path):
    data = {"N": [1e8, 2e8, 4e8], "D": [1e9, 2e9, 4e9], "loss": [3.0, 2.9, 2.8], "group": ["a", "a", "b"]}
    path = tmp_path / "runs.csv"
    pd.DataFrame(data).to_csv(path, index=False)
    from_csv = sl.load_runs(str(path), query="group == 'a'")
    from_frame = sl.load_runs(pd.DataFrame(data), query="group == 'a'")
    from_dict = sl.load_runs(data, query="group == 'a'")
    for runs in (from_frame, from_dict):
        np.testing.assert_array_equal(runs["loss"], from_csv["loss"])
    assert len(from_csv) == 2 and "group" in from_csv.columns


def test_builtin_datasets_match_their_descriptions():
    from scalinglaws.datasets import dataset_info

    for name in sl.list_datasets():
        runs = sl.load_dataset(name)
        assert len(runs) == dataset_info(name).rows
    chinchilla = sl.load_dataset("chinchilla")
    assert int(chinchilla["epoch_default_included"].sum()) == 240
    # Epoch derive tokens as C / (6N): the table keeps that exactly.
    np.testing.assert_allclose(chinchilla["C"], 6 * chinchilla["N"] * chinchilla["D"], rtol=1e-12)
    datablations = sl.load_dataset("datablations")
    assert (datablations["U"] <= datablations["D"] * (1 + 1e-12)).all()


def test_columns_can_be_renamed():
    runs = sl.load_runs({"params": [1e8], "tokens": [1e9], "loss": [3.0]}, columns={"params": "N", "tokens": "D"})
    assert {"N", "D", "C"} <= set(runs.columns)
    with pytest.raises(ValueError, match=r"cannot rename missing column\(s\) \['size'\]"):
        sl.load_runs({"N": [1.0]}, columns={"size": "N"})


def test_csv_is_read_with_pyarrow_and_falls_back_cleanly(tmp_path, monkeypatch):
    """Issue 9.4: the fast engine when pyarrow is there, pandas' own engine otherwise."""
    import sys

    path = tmp_path / "runs.csv"
    pd.DataFrame({"N": [1e8, 2e8], "D": [1e9, 4e9], "loss": [3.0, 2.9]}).to_csv(path, index=False)
    engines = []
    original = pd.read_csv

    def spy(*args, **kwargs):
        engines.append(kwargs.get("engine", "c"))
        return original(*args, **kwargs)

    monkeypatch.setattr(pd, "read_csv", spy)
    fast = sl.load_runs(str(path))
    assert engines == ["pyarrow"]
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # as if pyarrow were not installed
    engines.clear()
    slow = sl.load_runs(str(path))
    assert engines == ["c"]
    np.testing.assert_array_equal(fast["loss"], slow["loss"])
    np.testing.assert_array_equal(fast["C"], slow["C"])


def test_validation_names_rows_in_a_large_table():
    """Checks are vectorised per column: a bad cell among 200,000 rows is found and named."""
    n = 200_000
    loss = np.full(n, 3.0)
    loss[[17, 150_001]] = [np.nan, -1.0]
    data = {"N": np.full(n, 1e8), "D": np.full(n, 1e9), "loss": loss}
    with pytest.raises(ValueError, match=r"column 'loss' has NaN or infinite values in row\(s\) 17 "):
        sl.load_runs(data)
    loss[17] = 3.0
    with pytest.raises(ValueError, match=r"column 'loss' must be positive, but row\(s\) 150001 are <= 0"):
        sl.load_runs(data)
