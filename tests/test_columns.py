"""The user's own column names (issue 12.1) and options that are never ignored (12.2)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import scalinglaws as sl
from scalinglaws.cli import main
from scalinglaws.data import MissingColumnError
from scalinglaws.errors import ColumnNote, InputError
from scalinglaws.laws import get_law

# Muennighoff et al. 2023 (arXiv:2305.16264), Eq. 5 fit on C4: the data-constrained law.
MUENNIGHOFF = {"E": 1.87, "A": 521.0, "B": 1488.0, "alpha": 0.35, "beta": 0.353, "R_D_star": 15.4, "R_N_star": 5.3}


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def chinchilla_frame():
    return sl.load_dataset("chinchilla", query="epoch_default_included == 1").frame


@pytest.fixture(scope="module")
def mine(tmp_path_factory, chinchilla_frame):
    """The issue's CSV: `params,tokens,final_loss` (the 240 Chinchilla points)."""
    path = tmp_path_factory.mktemp("columns") / "mine.csv"
    pd.DataFrame(
        {"params": chinchilla_frame["N"], "tokens": chinchilla_frame["D"], "final_loss": chinchilla_frame["loss"]}
    ).to_csv(path, index=False)
    return path


def test_cli_fit_with_column_flags_and_with_recognised_names(mine, chinchilla_epoch_fit):
    explicit = invoke(
        "fit", mine, "--law", "chinchilla", "--column", "params=N", "--column", "tokens=D",
        "--column", "final_loss=loss", "--json", "--quiet",
    )
    assert explicit.exit_code == 0, explicit.output
    assert "note:" not in explicit.stderr  # nothing was guessed
    implicit = invoke("fit", mine, "--law", "chinchilla", "--json", "--quiet")
    assert implicit.exit_code == 0, implicit.output
    note = [line for line in implicit.stderr.splitlines() if line.startswith("note:")]
    assert len(note) == 1
    assert "'params' as 'N'" in note[0] and "'tokens' as 'D'" in note[0] and "'final_loss' as 'loss'" in note[0]
    assert "--column params=N" in note[0]
    for result in (explicit, implicit):
        document = json.loads(result.stdout)
        assert document["objective"] == pytest.approx(float(chinchilla_epoch_fit.objective), rel=1e-9)
        assert document["coefficients"]["alpha"] == pytest.approx(
            float(chinchilla_epoch_fit.coefficients["alpha"]), rel=1e-6
        )


def test_python_fit_and_load_runs_take_columns(chinchilla_frame):
    frame = chinchilla_frame.rename(columns={"N": "size", "D": "toks", "loss": "final"})[["size", "toks", "final"]]
    columns = {"size": "N", "toks": "D", "final": "loss"}
    runs = sl.load_runs(frame, columns=columns)
    assert {"N", "D", "C", "loss"} <= set(runs.columns)
    np.testing.assert_array_equal(runs["N"], chinchilla_frame["N"].to_numpy(float))
    result = sl.fit("chinchilla", frame, columns=columns, starts=64)
    reference = sl.fit("chinchilla", chinchilla_frame[["N", "D", "loss"]], starts=64)
    assert float(result.objective) == pytest.approx(float(reference.objective), rel=1e-12)
    report = sl.holdout("chinchilla", frame, columns=columns, above=1e21, starts=64)
    assert report.n_test > 0 and report.n_train + report.n_test == len(frame)


def test_recognised_spellings_warn_with_a_column_note():
    data = {"n_params": [1e8, 2e8], "train_tokens": [1e9, 2e9], "val_loss": [3.0, 2.9]}
    with pytest.warns(ColumnNote, match=r"'n_params' as 'N', 'train_tokens' as 'D', 'val_loss' as 'loss'"):
        runs = sl.load_runs(data)
    assert {"N", "D", "loss"} <= set(runs.columns)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the explicit mapping is silent
        sl.load_runs(data, columns={"n_params": "N", "train_tokens": "D", "val_loss": "loss"})


def test_ambiguous_spellings_are_not_guessed():
    data = {"N": [1e8] * 6, "D": [1e9] * 6, "val_loss": [3.0] * 6, "eval_loss": [2.9] * 6}
    runs = sl.load_runs(data)
    assert "loss" not in runs.columns and {"val_loss", "eval_loss"} <= set(runs.columns)


def test_missing_column_error_lists_columns_and_shows_the_fix(tmp_path):
    frame = pd.DataFrame({"size": [1e8] * 6, "toks": [1e9] * 6, "final": [3.0] * 6})
    with pytest.raises(MissingColumnError, match=r"Available columns: \['size', 'toks', 'final'\]") as error:
        sl.fit("chinchilla", frame)
    assert "columns={" in str(error.value) and "'N'" in str(error.value)
    path = tmp_path / "odd.csv"
    frame.to_csv(path, index=False)
    result = invoke("fit", path, "--law", "chinchilla", "--quiet")
    assert result.exit_code == 1
    (line,) = [line for line in result.stderr.splitlines() if line.strip()]
    assert "['size', 'toks', 'final']" in line and "--column" in line and "=N" in line and "=D" in line
    assert "columns={" not in line


def test_target_hint_is_an_option_in_the_cli(tmp_path):
    path = tmp_path / "runs.csv"
    pd.DataFrame({"N": np.geomspace(1e7, 1e9, 6), "D": np.geomspace(1e9, 1e11, 6), "loss": np.linspace(3, 2.5, 6)}).to_csv(
        path, index=False
    )
    result = invoke("fit", path, "--law", "chinchilla", "--target", "acc", "--quiet")
    assert result.exit_code == 1 and "--target" in result.stderr and "target=" not in result.stderr
    with pytest.raises(InputError, match=r"choose another with target="):
        sl.fit("chinchilla", str(path), target="acc")


@pytest.mark.parametrize(
    "columns, message",
    [
        ({"size": "N"}, r"cannot rename missing column\(s\) \['size'\]"),
        ({"a": "N", "b": "N"}, r"several columns are mapped to \['N'\]"),
        ({"a": "b"}, r"the table already has column\(s\) \['b'\]"),
        (["a"], r"expected a mapping"),
    ],
)
def test_bad_column_mappings(columns, message):
    with pytest.raises(InputError, match=message):
        sl.load_runs({"a": [1.0], "b": [2.0], "N": [1.0]}, columns=columns)


def test_column_flag_errors_are_clean():
    result = invoke("fit", "chinchilla", "--law", "chinchilla", "--column", "size")
    assert result.exit_code == 2 and "expected NAME=VALUE" in result.stderr
    result = invoke("fit", "chinchilla", "--law", "chinchilla", "--column", "size=N", "--quiet")
    assert result.exit_code == 1 and "--column: cannot rename missing column(s) ['size']" in result.stderr


def test_isoflop_target_and_columns(tmp_path):
    frame = sl.load_dataset("porian-isoflop", query="config == 'rw|tuned|short|const|standard|val'").frame
    path = tmp_path / "iso.csv"
    frame.rename(columns={"N": "params", "loss": "val"})[["C", "params", "val"]].to_csv(path, index=False)
    mapped = invoke("isoflop", path, "--column", "params=N", "--target", "val", "--json")
    assert mapped.exit_code == 0, mapped.output
    reference = invoke("isoflop", "porian-isoflop", "--query", "config == 'rw|tuned|short|const|standard|val'", "--json")
    assert json.loads(mapped.stdout)["a"] == pytest.approx(json.loads(reference.stdout)["a"], rel=1e-12)


def test_testtime_columns(tmp_path):
    path = tmp_path / "attempts.csv"
    pd.DataFrame({"id": range(4), "samples": [10] * 4, "correct": [0, 1, 5, 10]}).to_csv(path, index=False)
    result = invoke(
        "testtime", "passk", path, "--k", "1", "--column", "id=problem", "--column", "samples=n",
        "--column", "correct=c", "--json",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["pass_at_k"][0]["value"] == pytest.approx(16 / 40)


# ---- forecast --at (issue 12.2) ----------------------------------------------------------


@pytest.fixture(scope="module")
def dc_fit(tmp_path_factory):
    path = tmp_path_factory.mktemp("dc") / "dc.json"
    sl.save_fit(get_law("data-constrained").replace(**MUENNIGHOFF), path)
    return path


def test_forecast_a_data_constrained_fit_with_at(dc_fit):
    result = invoke("forecast", "--fit", dc_fit, "--at", "N=7e10", "--at", "D=1.4e12", "--at", "U=1e11", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    law = get_law("data-constrained").replace(**MUENNIGHOFF)
    expected = float(law.predict({"N": 7e10, "D": 1.4e12, "U": 1e11}))
    assert document["loss"] == pytest.approx(expected, rel=1e-12)
    assert (document["N"], document["D"], document["U"]) == (7e10, 1.4e12, 1e11)
    # Repeated data is worth less than fresh data (Muennighoff et al. 2023): U < D costs loss.
    fresh = float(law.predict({"N": 7e10, "D": 1.4e12, "U": 1.4e12}))
    assert document["loss"] > fresh
    shorthand = invoke("forecast", "--fit", dc_fit, "--N", "7e10", "--D", "1.4e12", "--at", "U=1e11", "--json")
    assert json.loads(shorthand.stdout)["loss"] == document["loss"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--N", "7e10", "--D", "1.4e12"], "give --at U=VALUE"),
        (["--N", "7e10", "--D", "1.4e12", "--at", "U=1e11", "--at", "Q=1"], "not ['Q']"),
        (["--N", "7e10", "--at", "N=7e10", "--at", "D=1", "--at", "U=1"], "N is given twice"),
        (["--at", "N=-1", "--at", "D=1", "--at", "U=1"], "N=-1.0 must be positive"),
        (["--at", "N=nan", "--at", "D=1", "--at", "U=1"], "not a finite number"),
    ],
)
def test_forecast_at_errors_name_the_input(dc_fit, args, message):
    result = invoke("forecast", "--fit", dc_fit, *args)
    assert result.exit_code == 2
    assert message in result.stderr


# ---- nothing ignored, diagnostics once -------------------------------------------------------


def test_options_that_would_be_ignored_are_rejected(tmp_path):
    coefs = [a for k, v in {"E": 1.8, "A": 400, "B": 2000, "alpha": 0.34, "beta": 0.37}.items() for a in ("--coef", f"{k}={v}")]
    result = invoke("allocate", "--law", "chinchilla", *coefs, "--budget", "1e21", "--risk", "q90")
    assert result.exit_code == 2 and "--risk goes with --posterior" in result.stderr
    models = tmp_path / "models.csv"
    pd.DataFrame({"model": ["m"], "cost_per_token": [1.0], "law": ["x.json"], "tokens": [10]}).to_csv(models, index=False)
    result = invoke("testtime", "plan", models, "--budget", "1e4", "--training-cost", "1e6")
    assert result.exit_code == 2 and "--training-cost goes with --queries" in result.stderr


def test_mix_optimize_rejects_an_input_the_law_does_not_read(tmp_path):
    rng = np.random.default_rng(0)
    w = rng.dirichlet([1.0, 1.0], 8)
    data = tmp_path / "mix.csv"
    pd.DataFrame({"w_a": w[:, 0], "w_b": w[:, 1], "loss_a": 3 - 0.5 * w[:, 0], "loss_b": 3 - 0.4 * w[:, 1]}).to_csv(
        data, index=False
    )
    fit = tmp_path / "mix.json"
    assert invoke("mix", "fit", data, "--law", "ye", "--starts", "8", "--out", fit).exit_code == 0
    result = invoke("mix", "optimize", fit, "--at", "N=1e9")
    assert result.exit_code == 2 and "--at N" in result.stderr and "no inputs besides the weights" in result.stderr


def test_non_convergence_is_reported_once_and_names_real_options(tmp_path):
    result = invoke("fit", "chinchilla", "--law", "chinchilla", "--starts", "4", "--max-steps", "1", "--max-rounds", "1")
    assert result.exit_code == 0, result.output
    warnings_ = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings_) == 1 and "did not converge" in warnings_[0]
    for option in ("--starts", "--max-rounds", "--max-steps", "--fix"):
        assert option in warnings_[0]
    assert "max_steps" not in warnings_[0]
    assert "warning:" not in result.stdout
    assert "converged:" not in result.stdout  # never says converged


def test_help_is_fast_to_import_and_not_cut_mid_word():
    import subprocess
    import sys

    code = (
        "import sys\nfrom scalinglaws.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('LOADED', [m for m in ('numpyro', 'matplotlib') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "LOADED []" in out
    assert "mix" in out and "Ye et al.\n" not in out


def test_every_public_loader_takes_columns(tmp_path):
    """`columns=` on the public functions that take data (issue 12.1)."""
    from scalinglaws.allocate import isoflop_analysis
    from scalinglaws.bayes import bootstrap, infer
    from scalinglaws.mixture import fit_mixture
    from scalinglaws.testtime import load_attempts

    iso = sl.load_dataset("porian-isoflop", query="config == 'rw|tuned|short|const|standard|val'").frame
    mapped = isoflop_analysis(iso.rename(columns={"N": "size"}), columns={"size": "N"})
    assert mapped.a == pytest.approx(isoflop_analysis(iso).a, rel=1e-12)
    attempts = load_attempts({"id": [0, 1], "samples": [4, 4], "correct": [1, 0]},
                             columns={"id": "problem", "samples": "n", "correct": "c"})
    assert len(attempts) == 2
    runs = {"size": np.geomspace(1e7, 1e9, 8), "toks": np.geomspace(1e9, 1e11, 8), "loss": np.linspace(3.2, 2.6, 8)}
    for function in (infer, bootstrap):
        with pytest.raises(InputError, match=r"cannot rename missing column\(s\) \['nope'\]"):
            function("chinchilla", runs, columns={"nope": "N"})
    rng = np.random.default_rng(0)
    w = rng.dirichlet([1.0, 1.0], 8)
    mix = {"frac_a": w[:, 0], "frac_b": w[:, 1], "loss_a": 3 - 0.5 * w[:, 0]}
    fit = fit_mixture("ye", mix, columns={"frac_a": "w_a", "frac_b": "w_b"}, starts=4)
    assert fit.domains == ("a", "b")
    assert fit.predict(mix, columns={"frac_a": "w_a", "frac_b": "w_b"})["loss_a"].shape == (8,)


def test_testtime_plan_reads_the_models_table_with_columns(tmp_path):
    from scalinglaws.testtime import save_coverage_law
    from scalinglaws.testtime._coverage import BetaCoverage

    save_coverage_law(BetaCoverage(alpha=0.5, beta=3.0, pi0=0.1), tmp_path / "law.json")
    models = tmp_path / "models.csv"
    pd.DataFrame({"name": ["m"], "price": [1.0], "law": ["law.json"], "tokens": [100]}).to_csv(models, index=False)
    mapped = invoke("testtime", "plan", models, "--budget", "1e4", "--column", "name=model",
                    "--column", "price=cost_per_token", "--json")
    assert mapped.exit_code == 0, mapped.output
    assert json.loads(mapped.stdout)["model"] == "m"
    missing = invoke("testtime", "plan", models, "--budget", "1e4")
    assert missing.exit_code == 1 and "missing column(s)" in missing.stderr and "price" in missing.stderr
