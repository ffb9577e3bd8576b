"""Readable results, the one progress reporter, built-in test-time examples and
extrapolation warnings (issue 12: items 3, 5, 6 and 7; issue 11: item 3's results)."""

import json
import re

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import scalinglaws as sl
from scalinglaws.cli import main
from scalinglaws.datasets import dataset_path
from scalinglaws.results import extrapolation_factor, format_table, format_value, value_repr

SHAPE = re.compile(r"f(16|32|64)\[")  # equinox's shape-only repr, e.g. f64[] or f64[2](numpy)


def run(*args, **kwargs):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False, **kwargs)
    return result


# ---- built-in test-time examples (12.3) ----------------------------------------------------


def test_testtime_attempts_are_the_documented_simulation():
    # The recipe in datasets/ATTRIBUTION.md, verbatim: the shipped file is what it makes.
    from scipy import stats

    models = {"0.6B": (0.10, 2.0), "8B": (0.15, 1.0), "32B": (0.25, 0.75)}
    rng = np.random.default_rng(2024)
    u = rng.uniform(size=1000)
    rows = []
    for model, (a, b) in models.items():
        p = stats.beta.ppf(u, a, b)
        rows.append(pd.DataFrame({"model": model, "problem": np.arange(1000), "n": 100, "c": rng.binomial(100, p)}))
    expected = pd.concat(rows).reset_index(drop=True)
    shipped = pd.read_csv(dataset_path("testtime-attempts"), dtype={"model": str})
    pd.testing.assert_frame_equal(shipped, expected, check_dtype=False)
    recipe = (dataset_path("testtime-attempts").parent / "ATTRIBUTION.md").read_text()
    assert 'MODELS = {"0.6B": (0.10, 2.0), "8B": (0.15, 1.0), "32B": (0.25, 0.75)}' in recipe
    assert "default_rng(2024)" in recipe


def test_testtime_models_laws_are_fits_of_the_attempts():
    from scalinglaws.testtime import fit_beta

    candidates = sl.load_dataset("testtime-models")
    assert [c.name for c in candidates] == ["0.6B", "8B", "32B"]
    attempts = sl.load_dataset("testtime-attempts")
    for cand in candidates:
        refit = fit_beta(attempts, model=cand.name)
        for name in ("alpha", "beta"):
            np.testing.assert_allclose(float(getattr(cand.law, name)), refit.coefficients[name], rtol=1e-5)
        # cost per sample = 2N FLOPs per generated token x 2000 tokens (Kaplan et al. 2020)
        assert cand.cost_per_sample == pytest.approx(2 * cand.size * 2000)


def test_testtime_commands_run_on_builtins(tmp_path):
    listed = run("datasets").output
    assert "testtime-attempts" in listed and "testtime-models" in listed
    out = run("testtime", "passk", "testtime-attempts", "--k", 1, "--k", 100, "--json")
    assert out.exit_code == 0, out.output
    rows = json.loads(out.output)["pass_at_k"]
    assert {r["model"] for r in rows} == {"0.6B", "8B", "32B"}
    attempts = pd.read_csv(dataset_path("testtime-attempts"), dtype={"model": str})
    small = attempts[attempts.model == "0.6B"]
    pass1 = next(r["value"] for r in rows if r["model"] == "0.6B" and r["k"] == 1)
    assert pass1 == pytest.approx((small.c / small.n).mean(), rel=1e-12)  # pass@1 is the mean success rate
    law = tmp_path / "law.json"
    fitted = run("testtime", "fit", "testtime-attempts", "--model", "32B", "--law", "beta", "--out", law, "--json")
    assert fitted.exit_code == 0, fitted.output
    assert json.loads(fitted.output)["converged"] is True
    plan = run("testtime", "plan", "testtime-models", "--budget", 1e15, "--json")
    assert plan.exit_code == 0, plan.output
    document = json.loads(plan.output)
    assert document["model"] in {"0.6B", "8B", "32B"} and document["cost"] <= 1e15


def test_testtime_plan_rejects_ignored_tokens():
    out = run("testtime", "plan", "testtime-models", "--budget", 1e15, "--tokens", 500)
    assert out.exit_code != 0
    assert "'tokens' column" in out.output and "ignored" in out.output


def test_load_dataset_testtime_takes_no_query():
    with pytest.raises(ValueError, match="takes no query"):
        sl.load_dataset("testtime-attempts", query="n > 1")


# ---- readable results (12.6, 11.3) ---------------------------------------------------------


def test_fit_result_repr_shows_values(chinchilla_epoch_fit):
    result = chinchilla_epoch_fit
    text = repr(result)
    assert not SHAPE.search(text), text
    assert f"objective={float(result.objective):.6g}" in text
    assert f"E={float(result.law.E):.6g}" in text and "converged=True" in text
    assert not SHAPE.search(repr(result.law))
    assert result.to_dict()["objective"] == float(result.objective)
    assert result.to_dict()["coefficients"]["alpha"] == pytest.approx(float(result.law.alpha))
    assert "coefficient" in result.summary()


def test_fit_results_built_on_the_host_equal_checked_construction(chinchilla_epoch_fit):
    """`_assemble` builds `FitResult`s with `built_unchecked` (as equinox unflattens a
    pytree, without the constructor's checks for common mistakes): field for field the
    object `FitResult(...)` builds, defaults filled, and a missing or unknown field refused."""
    import dataclasses

    import jax

    from scalinglaws.fit._result import FitResult, built_unchecked

    fields = {f.name: getattr(chinchilla_epoch_fit, f.name) for f in dataclasses.fields(FitResult)}
    checked, built = FitResult(**fields), built_unchecked(FitResult, **fields)
    assert type(built) is FitResult
    assert jax.tree.structure(built) == jax.tree.structure(checked)
    assert all(a is b for a, b in zip(jax.tree.leaves(built), jax.tree.leaves(checked), strict=True))
    assert repr(built) == repr(checked) and built.message == checked.message
    defaults = {k: v for k, v in fields.items() if k not in ("n_groups", "data_fingerprint", "input_ranges")}
    assert jax.tree.structure(built_unchecked(FitResult, **defaults)) == jax.tree.structure(FitResult(**defaults))
    with pytest.raises(TypeError, match="field 'law' not given"):
        built_unchecked(FitResult, **{k: v for k, v in fields.items() if k != "law"})
    with pytest.raises(TypeError, match="no field"):
        built_unchecked(FitResult, **fields, extra=1)


def test_fit_result_stores_the_fitted_ranges(chinchilla_epoch_fit):
    runs = sl.load_runs("chinchilla", query="epoch_default_included == 1")
    assert chinchilla_epoch_fit.max_compute == float(np.max(runs["C"]))
    assert chinchilla_epoch_fit.ranges["N"] == (float(np.min(runs["N"])), float(np.max(runs["N"])))
    document = chinchilla_epoch_fit.to_dict()
    assert document["max_compute"] == float(np.max(runs["C"]))
    assert document["input_ranges"]["D"] == [float(np.min(runs["D"])), float(np.max(runs["D"]))]


def test_allocation_repr_summary_to_dict(chinchilla_epoch_fit):
    from scalinglaws.allocate import compute_optimal

    plan = compute_optimal(chinchilla_epoch_fit.law, [1e21, 1e23], inference_tokens=1e12, recipe=True)
    text = repr(plan)
    assert not SHAPE.search(text), text
    assert f"{float(plan.N[1]):.6g}" in text
    assert plan.to_dict() == {"allocations": plan.to_rows()}
    table = plan.summary()
    assert max(len(line) for line in table.splitlines()) <= 100, table
    # Every column is in the table, and every row shows its budget in each block.
    for name in plan.columns():
        assert name in table
    assert table.count("1e+21") >= 2 and table.count("1e+23") >= 2


def test_other_results_repr_without_shapes(chinchilla_epoch_fit):
    from scalinglaws.allocate import isoflop_analysis
    from scalinglaws.testtime import fit_beta, plan

    iso = isoflop_analysis("porian-isoflop", query="config == 'rw|tuned|short|const|standard|val'")
    assert f"a={iso.a:.6g}" in repr(iso)
    beta = fit_beta(sl.load_dataset("testtime-attempts"), model="8B")
    assert f"alpha={beta.coefficients['alpha']:.6g}" in repr(beta) and not SHAPE.search(repr(beta))
    assert beta.to_dict()["coefficients"] == beta.coefficients
    best = plan(sl.load_dataset("testtime-models"), 1e15)
    assert f"k={best.k}" in repr(best) and best.to_dict() == best.as_dict()
    assert best.summary().splitlines()[0].startswith(f"model {best.model}")


def test_holdout_report_repr_and_to_dict(chinchilla_epoch_fit):
    from scalinglaws.fit import HoldoutReport

    report = HoldoutReport(
        fit=chinchilla_epoch_fit, n_train=3, n_test=2, threshold=1e21,
        predicted=np.array([2.0, 2.2]), actual=np.array([2.1, 2.2]),
    )
    text = repr(report)
    assert "mean_abs_rel_error=0.0238095" in text and not SHAPE.search(text)
    assert report.to_dict() == report.as_dict()


def test_format_helpers():
    assert format_value(np.float64(0.00101827)) == "0.00101827"
    assert format_value(np.arange(10.0)).endswith("(shape (10,))")
    assert value_repr("X", {"a": 1.5, "b": None}) == "X(a=1.5)"
    rows = [{"C": 1e21, **{f"column_{i}": float(i) for i in range(12)}}]
    text = format_table(rows)
    assert max(len(line) for line in text.splitlines()) <= 100
    assert text.count("1e+21") >= 2  # the key column starts every block


# ---- extrapolation beyond the fitted compute (12.6) ----------------------------------------


def test_extrapolation_factor():
    assert extrapolation_factor({"N": 1e9, "D": 2e10}, 1.2e20) == pytest.approx(6 * 1e9 * 2e10 / 1.2e20)
    assert extrapolation_factor({"C": 1e24}, 1e22) == pytest.approx(100.0)
    assert extrapolation_factor({"N": 1e9}, 1e22) is None
    assert extrapolation_factor({"C": 1e24}, None) is None


def test_forecast_and_allocate_report_extrapolation(chinchilla_epoch_fit, tmp_path):
    path = tmp_path / "chin.json"
    sl.save_fit(chinchilla_epoch_fit, path)
    max_c = chinchilla_epoch_fit.max_compute
    near = run("forecast", "--fit", path, "--N", 1e9, "--D", 2e10, "--json")
    assert near.exit_code == 0, near.output
    assert json.loads(near.stdout)["extrapolation_factor"] == pytest.approx(6 * 1e9 * 2e10 / max_c)
    assert "largest fitted compute" not in near.stderr
    far = run("forecast", "--fit", path, "--N", 7e12, "--D", 1.4e14, "--json")
    assert json.loads(far.stdout)["extrapolation_factor"] == pytest.approx(6 * 7e12 * 1.4e14 / max_c)
    assert "largest fitted compute" in far.stderr
    text = run("forecast", "--fit", path, "--N", 7e12, "--D", 1.4e14)
    assert "orders of magnitude" in text.stderr and "point forecast" in text.stdout
    alloc = run("allocate", "--fit", path, "--budget", 1e21, "--budget", 1e25, "--json")
    rows = json.loads(alloc.stdout)["allocations"]
    assert [r["extrapolation_factor"] for r in rows] == pytest.approx([1e21 / max_c, 1e25 / max_c])
    assert alloc.stderr.count("largest fitted compute") == 1  # only 1e25 is beyond 100x


# ---- one progress reporter; progress never changes results (12.5, 12.7) --------------------


def test_reporter_styles(capsys):
    from scalinglaws.progress import Reporter, reporter

    silent = reporter(False)
    silent("nothing")
    assert list(silent.bar([1, 2, 3], total=3, desc="x")) == [1, 2, 3]
    seen = []
    assert reporter(seen.append) is not None
    reporter(seen.append)("stage one")
    assert seen == ["stage one"]
    loud = reporter(True)  # pytest's stderr is not a terminal: plain lines, no bars
    assert isinstance(loud, Reporter) and not loud.bars
    assert list(loud.bar(range(3), total=3, desc="refits")) == [0, 1, 2]
    with loud.task("sampling"):
        pass
    err = capsys.readouterr()
    assert err.out == ""
    lines = err.err.splitlines()
    assert lines[0] == "[scalinglaws] refits (3 steps)"
    assert lines[1] == "[scalinglaws] sampling ..." and lines[2].startswith("[scalinglaws] sampling: done in")
    assert "\r" not in err.err


def test_reporter_on_a_terminal_draws_bars_on_stderr(monkeypatch):
    import io
    import sys

    from scalinglaws.progress import reporter

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    loud = reporter(True)
    assert loud.bars
    assert list(loud.bar(range(5), total=5, desc="refits")) == list(range(5))
    with loud.task("sampling"):
        pass
    text = terminal.getvalue()
    assert "[scalinglaws] refits:" in text and "/5 [" in text and "\r" in text  # a tqdm bar, redrawn in place
    assert "[scalinglaws] sampling: done in" in text


@pytest.mark.parametrize("method", ["laplace", pytest.param("nuts", marks=pytest.mark.slow)])
def test_same_seed_same_draws_with_and_without_progress(method, tmp_path):
    # A small, fast problem: 24 synthetic runs of a power law in C.
    rng = np.random.default_rng(0)
    c = np.geomspace(1e18, 1e21, 24)
    loss = 1.7 + 60.0 * c ** -0.1 * np.exp(rng.normal(0, 0.01, c.size))
    data = tmp_path / "runs.csv"
    pd.DataFrame({"C": c, "N": c / 6e10, "D": np.full(c.size, 1e10), "loss": loss}).to_csv(data, index=False)
    common = ["infer", data, "--law", "power-c", "--method", method, "--chains", 2, "--warmup", 40,
              "--samples", 30, "--seed", 0, "--discrepancy", 0, "--json"]
    loud = run(*common)
    quiet = run(*common, "--quiet")
    assert loud.exit_code == 0 and quiet.exit_code == 0, (loud.output, quiet.output)
    assert "[scalinglaws]" in loud.stderr and "[scalinglaws]" not in quiet.stderr
    assert json.loads(loud.stdout) == json.loads(quiet.stdout)
