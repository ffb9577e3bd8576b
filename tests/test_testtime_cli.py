"""`scalinglaws testtime passk|fit|predict|plan`."""

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import scalinglaws  # noqa: F401
from scalinglaws.cli import main
from scalinglaws.testtime import fit_beta, load_candidates, load_coverage_law, mean_pass_at_k, plan


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("testtime")
    rng = np.random.default_rng(3)
    rows = []
    for model, (a, b) in {"big": (0.6, 1.5), "small": (0.2, 2.0)}.items():
        p = rng.beta(a, b, 300)
        rows.append(
            pd.DataFrame(
                {"problem": np.arange(300), "n": 64, "c": rng.binomial(64, p), "model": model}
            )
        )
    pd.concat(rows).to_csv(path / "attempts.csv", index=False)
    return path


def invoke(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result


def test_passk_json(folder):
    result = invoke(
        "testtime",
        "passk",
        folder / "attempts.csv",
        "--k",
        1,
        "--k",
        10,
        "--model",
        "big",
        "--json",
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    want = mean_pass_at_k(folder / "attempts.csv", [1, 10], model="big")
    assert [row["k"] for row in document["pass_at_k"]] == [1, 10]
    np.testing.assert_allclose([row["value"] for row in document["pass_at_k"]], want, rtol=1e-15)
    table = pd.read_csv(folder / "attempts.csv")
    assert document["n_problems"] == (table.model == "big").sum()
    # Without --model: one row per model and k; problems are counted once, not per model.
    result = invoke("testtime", "passk", folder / "attempts.csv", "--k", 5, "--json")
    document = json.loads(result.output)
    assert {row["model"] for row in document["pass_at_k"]} == {"big", "small"}
    assert document["n_problems"] == table.problem.nunique()
    assert all(row["n_problems"] == (table.model == row["model"]).sum() for row in document["pass_at_k"])


def test_fit_predict_and_plan(folder):
    laws = {}
    for model in ("big", "small"):
        out = folder / f"{model}.json"
        result = invoke(
            "testtime",
            "fit",
            folder / "attempts.csv",
            "--law",
            "beta",
            "--model",
            model,
            "--out",
            out,
            "--json",
        )
        assert result.exit_code == 0, result.output
        document = json.loads(result.output)
        assert document["converged"] and document["out"] == str(out)
        laws[model] = load_coverage_law(out)
        direct = fit_beta(folder / "attempts.csv", model=model)
        assert float(laws[model].alpha) == pytest.approx(float(direct.law.alpha), rel=1e-8)

    result = invoke("testtime", "predict", folder / "big.json", "--k", 1, "--k", 10000, "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)["coverage"]
    assert [r["k"] for r in rows] == [1, 10000]
    np.testing.assert_allclose(
        [r["coverage"] for r in rows],
        np.asarray(laws["big"].predict({"k": np.array([1.0, 1e4])})),
        rtol=1e-14,
    )

    result = invoke(
        "testtime",
        "fit",
        folder / "attempts.csv",
        "--law",
        "exp-power",
        "--model",
        "small",
        "--out",
        folder / "small-exp.json",
    )
    assert result.exit_code == 0, result.output
    assert (
        "neg_a" in result.output
        and type(load_coverage_law(folder / "small-exp.json")).__name__ == "ExpPowerLaw"
    )

    (folder / "models.csv").write_text(
        "model,size,cost_per_token,law\nbig,7e10,0.07,big.json\nsmall,1e9,0.001,small.json\n"
    )
    result = invoke(
        "testtime",
        "plan",
        folder / "models.csv",
        "--budget",
        500,
        "--tokens",
        1000,
        "--queries",
        1000,
        "--json",
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    want = plan(load_candidates(folder / "models.csv", tokens=1000), 500.0)
    assert (document["model"], document["k"]) == (want.model, want.k)
    assert document["total_cost"]["inference"] == pytest.approx(want.cost * 1000)


def test_cli_errors(folder, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("problem,n,c\n0,5,6\n")
    result = invoke("testtime", "passk", bad, "--k", 1)
    assert result.exit_code == 1 and "c > n" in result.output
    bad.write_text("problem,n,c\n0,5,-1\n")
    result = invoke("testtime", "fit", bad, "--law", "beta", "--out", tmp_path / "x.json")
    assert result.exit_code == 1 and "negative counts" in result.output
    result = invoke("testtime", "passk", folder / "attempts.csv", "--k", 0)
    assert result.exit_code == 2 and "--k" in result.output  # a usage error (click.IntRange)
    result = invoke("testtime", "passk", folder / "attempts.csv", "--k", 65)
    assert result.exit_code == 1 and "needs k <= n" in result.output
    law = tmp_path / "law.json"
    law.write_text('{"format": "scalinglaws.cov')
    result = invoke("testtime", "predict", law, "--k", 10)
    assert result.exit_code == 1 and "truncated or corrupt" in result.output
    result = invoke("testtime", "predict", folder / "big.json", "--k", -3)
    assert result.exit_code == 2 and "every k must be positive" in result.output
    models = tmp_path / "models.csv"
    models.write_text("model,cost_per_token\nbig,1.0\n")
    result = invoke("testtime", "plan", models, "--budget", 10, "--tokens", 10)
    assert result.exit_code == 1 and "missing column(s)" in result.output
    (tmp_path / "big.json").write_text((folder / "big.json").read_text())
    models.write_text("model,cost_per_token,law,tokens\nbig,1.0,big.json,100\n")
    result = invoke("testtime", "plan", models, "--budget", 10)
    assert result.exit_code == 1 and "below the cost of one sample" in result.output


def _beta_law_file(tmp_path):
    from scalinglaws.testtime import BetaCoverage, save_coverage_law

    save_coverage_law(BetaCoverage(alpha=0.6, beta=3.0, pi0=0.02), tmp_path / "big.json")


def test_plan_huge_budget_and_bad_training_cost(tmp_path):
    _beta_law_file(tmp_path)
    models = tmp_path / "models.csv"
    models.write_text("model,cost_per_token,law,tokens\nbig,1.0,big.json,100\n")
    # 1e30 per query: k is capped at 2**53 (exact integers in float64), no ufunc error.
    result = invoke("testtime", "plan", models, "--budget", 1e30, "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    law = load_coverage_law(tmp_path / "big.json")
    at_cap = float(law.predict({"k": np.array([2.0**53])})[0])
    assert 1e15 < document["k"] <= 2**53 and document["coverage"] == pytest.approx(at_cap, abs=1e-12)
    result = invoke(
        "testtime", "plan", models, "--budget", 1e4, "--queries", 10, "--training-cost", "nan", "--json"
    )
    assert result.exit_code in (1, 2) and "null" not in result.output
    assert "training" in result.output.lower()


def test_plan_selection_option(tmp_path):
    _beta_law_file(tmp_path)
    models = tmp_path / "models.csv"
    models.write_text("model,cost_per_token,law,tokens\nbig,1.0,big.json,100\n")
    want = {
        "coverage": plan(load_candidates(models), 1e4),
        "majority": plan(load_candidates(models), 1e4, selection="majority"),
        "verifier": plan(load_candidates(models), 1e4, selection="verifier", fpr=0.05),
    }
    for selection, expected in want.items():
        extra = ["--fpr", 0.05] if selection == "verifier" else []
        result = invoke("testtime", "plan", models, "--budget", 1e4, "--selection", selection, *extra, "--json")
        assert result.exit_code == 0, result.output
        document = json.loads(result.output)
        assert document["selection"] == selection
        assert (document["k"], document["coverage"]) == (expected.k, pytest.approx(expected.coverage, rel=1e-12))
    # Voting and an imperfect verifier cannot beat a perfect verifier.
    assert want["majority"].coverage < want["coverage"].coverage
    assert want["verifier"].coverage < want["coverage"].coverage
