"""`scalinglaws allocate` and `scalinglaws isoflop` (issue 3)."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

import scalinglaws as sl
from scalinglaws.allocate import compute_optimal
from scalinglaws.cli import main
from scalinglaws.laws import Chinchilla

EPOCH = {"E": 1.8172, "A": 477.8, "B": 2143.9, "alpha": 0.3473, "beta": 0.3672}
COEFS = [arg for name, value in EPOCH.items() for arg in ("--coef", f"{name}={value}")]


@pytest.fixture(autouse=True)
def _no_cache(monkeypatch):
    monkeypatch.setenv("SCALINGLAWS_CACHE_DIR", "off")


def run(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_allocate_json_matches_api():
    result = run(
        "allocate", "--law", "chinchilla", *COEFS, "--budget", "1e21", "--budget", "1e23", "--json"
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)["allocations"]
    expected = compute_optimal(Chinchilla(**EPOCH), [1e21, 1e23]).to_rows()
    assert [set(r) for r in rows] == [{"C", "N", "D", "tokens_per_param", "loss"}] * 2
    for got, want in zip(rows, expected):
        for key in want:
            assert got[key] == pytest.approx(want[key], rel=1e-12)


def test_allocate_from_fit_file_with_options(tmp_path):
    path = tmp_path / "fit.json"
    sl.save_fit(Chinchilla(**EPOCH), path)
    plot = tmp_path / "frontier.png"
    result = run(
        "allocate",
        "--fit",
        str(path),
        "--budget",
        "1e22",
        "--inference-tokens",
        "1e12",
        "--recipe",
        "--flops",
        "hoffmann",
        "--json",
        "--plot",
        str(plot),
    )
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.output)["allocations"]
    assert {"inference_flops", "total_flops", "learning_rate", "batch_size"} <= set(row)
    assert row["total_flops"] == pytest.approx(1e22)
    assert plot.stat().st_size > 1000


def test_allocate_target_loss_table():
    result = run(
        "allocate",
        "--law",
        "chinchilla",
        *COEFS,
        "--target-loss",
        "2.2",
        "--inference-tokens",
        "1e11",
    )
    assert result.exit_code == 0, result.output
    assert "inference_flops" in result.output.splitlines()[0]
    assert "2.2" in result.output


@pytest.mark.parametrize(
    "args, message",
    [
        (
            [
                "--coef",
                "E=1.8",
                "--coef",
                "A=400",
                "--coef",
                "B=400",
                "--coef",
                "alpha=0.3",
                "--coef",
                "beta=0.3",
                "--coef",
                "gamma=1",
                "--budget",
                "1e21",
            ],
            "unknown coefficient\\(s\\) \\['gamma'\\]",
        ),
        (
            ["--coef", "E=1.8", "--budget", "1e21"],
            "missing coefficient\\(s\\) \\['A', 'B', 'alpha', 'beta'\\]",
        ),
        ([*COEFS, "--budget", "1e21", "--unique-tokens", "1e9"], "does not model repeated data"),
        ([*COEFS, "--target-loss", "1.5"], "irreducible loss"),
    ],
)
def test_allocate_errors(args, message):
    result = CliRunner().invoke(main, ["allocate", "--law", "chinchilla", *args])
    assert result.exit_code == 1
    assert np.any(
        [__import__("re").search(message, line) for line in result.output.splitlines()]
    ), result.output


@pytest.mark.parametrize("budget", ["-1", "0", "nan", "inf"])
def test_allocate_budget_must_be_positive_and_finite(budget):
    result = CliRunner().invoke(main, ["allocate", "--law", "chinchilla", *COEFS, "--budget", budget])
    assert result.exit_code == 2  # a usage error, caught before any law is built
    assert "Invalid value for '--budget'" in result.stderr and budget in result.stderr


def test_allocate_usage_errors():
    assert run("allocate", "--law", "chinchilla", *COEFS).exit_code == 2  # no budget
    assert run("allocate", "--budget", "1e21").exit_code == 2  # no law


def test_allocate_posterior_path(tmp_path):
    # Imported normally: a broken `scalinglaws.bayes` must fail this test, not skip it.
    from scalinglaws import bayes

    # A posterior concentrated on Epoch's point fit: its risk-aware plan is the point plan.
    rng = np.random.default_rng(0)
    draws = {
        name: value * (1 + 1e-6 * rng.standard_normal((2, 10))) for name, value in EPOCH.items()
    }
    draws["sigma"] = np.full((2, 10), 0.01)
    path = tmp_path / "posterior.json"
    bayes.Posterior(Chinchilla(**EPOCH), tuple(EPOCH), (), draws).save(path)
    result = run(
        "allocate",
        "--posterior",
        str(path),
        "--budget",
        "1e21",
        "--budget",
        "1e23",
        "--risk",
        "q90",
        "--json",
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)["allocations"]
    expected = compute_optimal(Chinchilla(**EPOCH), [1e21, 1e23])
    np.testing.assert_allclose([r["N"] for r in rows], expected.N, rtol=1e-2)
    np.testing.assert_allclose([r["loss"] for r in rows], expected.loss, rtol=1e-4)


def test_isoflop_json_and_plot(tmp_path):
    plot = tmp_path / "iso.png"
    query = "config == 'rw|tuned|short|const|standard|val'"
    result = run("isoflop", "porian-isoflop", "--query", query, "--json", "--plot", str(plot))
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert {"a", "b", "a_se", "b_se", "optima"} <= set(doc)
    assert len(doc["optima"]) == 12 and 0.45 < doc["a"] < 0.56
    assert plot.stat().st_size > 1000


def test_isoflop_error():
    result = CliRunner().invoke(main, ["isoflop", "porian-isoflop", "--query", "C < 2e16"])
    assert result.exit_code == 1 and "Select one configuration with `query`" in result.output
