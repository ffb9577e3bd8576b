"""Fits written to disk load back identically; corrupt files give clear errors."""

import json
import os
import warnings

import numpy as np
import pytest
from click.testing import CliRunner

import scalinglaws as sl
from scalinglaws.cli import main


def test_saved_fit_loads_back_identically(tmp_path, chinchilla_epoch_fit):
    path = tmp_path / "fit.json"
    sl.save_fit(chinchilla_epoch_fit, path, data="chinchilla")
    loaded = sl.load_fit(path)
    for name, value in chinchilla_epoch_fit.law.coefficients.items():
        assert float(getattr(loaded.law, name)) == float(value)  # bit for bit
    assert loaded.metadata["data"] == "chinchilla"
    assert loaded.metadata["fit"]["objective"] == float(chinchilla_epoch_fit.objective)
    # Saving the loaded law again gives the same law section.
    again = tmp_path / "again.json"
    sl.save_fit(loaded.law, again)
    assert json.loads(again.read_text())["law"] == json.loads(path.read_text())["law"]


def test_static_fields_round_trip(tmp_path):
    law = sl.laws.PowerLaw(E=1.5, A=300.0, alpha=0.2, variable="N")
    sl.save_fit(law, tmp_path / "p.json")
    loaded = sl.load_fit(tmp_path / "p.json").law
    assert loaded.variable == "N" and float(loaded.alpha) == 0.2


def test_write_is_atomic_no_temporary_left(tmp_path, chinchilla_epoch_fit):
    sl.save_fit(chinchilla_epoch_fit, tmp_path / "fit.json")
    assert os.listdir(tmp_path) == ["fit.json"]


def test_truncated_and_corrupt_files(tmp_path, chinchilla_epoch_fit):
    path = tmp_path / "fit.json"
    sl.save_fit(chinchilla_epoch_fit, path)
    text = path.read_text()
    path.write_text(text[: len(text) // 2])
    with pytest.raises(ValueError, match=r"not valid JSON .* truncated or corrupt"):
        sl.load_fit(path)
    path.write_text(json.dumps({"hello": 1}))
    with pytest.raises(ValueError, match=r"not a scalinglaws fit file"):
        sl.load_fit(path)
    with pytest.raises(ValueError, match=r"no such file"):
        sl.load_fit(tmp_path / "missing.json")


def test_cli_out_writes_a_loadable_fit(tmp_path):
    path = tmp_path / "power.json"
    out = CliRunner().invoke(
        main, ["fit", "chinchilla", "--law", "power-c", "--out", str(path), "--json", "--quiet"]
    )
    assert out.exit_code == 0, out.output
    printed = json.loads(out.stdout)
    loaded = sl.load_fit(path)
    runs = sl.load_dataset("chinchilla")
    assert loaded.metadata["fit"]["data_fingerprint"] == runs.fingerprint(["C", "loss"])
    assert printed["data_fingerprint"] == runs.fingerprint(["C", "loss"])
    for name, value in printed["coefficients"].items():
        assert float(getattr(loaded.law, name)) == value
    assert np.isfinite(printed["objective"])


def test_a_saved_fit_that_did_not_converge_warns_when_loaded(tmp_path):
    """A non-converged fit may be saved for inspection, but is never used quietly."""
    path = tmp_path / "fit.json"
    result = sl.fit("power-c", "chinchilla", max_steps=2, max_rounds=1, starts=8)
    assert not bool(result.converged)
    sl.save_fit(result, path)
    with pytest.warns(sl.ConvergenceWarning, match="did not converge"):
        saved = sl.load_fit(path)
    assert saved.metadata["fit"]["converged"] is False
    good = tmp_path / "good.json"
    sl.save_fit(sl.fit("chinchilla", "chinchilla", query="epoch_default_included == 1"), good)
    with warnings.catch_warnings():
        warnings.simplefilter("error", sl.ConvergenceWarning)
        sl.load_fit(good)
