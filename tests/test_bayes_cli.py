"""`scalinglaws infer`, `bootstrap` and `forecast`."""

import json

import pytest
from click.testing import CliRunner

import scalinglaws as sl
from scalinglaws.cli import main

QUERY = "epoch_default_included == 1"


@pytest.fixture(scope="module")
def posterior_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("post") / "post.json"
    result = CliRunner().invoke(
        main,
        ["infer", "chinchilla", "--law", "chinchilla", "--query", QUERY, "--method", "laplace", "--chains", "2",
         "--samples", "500", "--json", "--quiet", "--out", str(path)],
    )
    assert result.exit_code == 0, result.output
    return path, json.loads(result.stdout)


def test_infer_json(posterior_file):
    path, document = posterior_file
    assert set(document["coefficients"]) == {"E", "A", "B", "alpha", "beta", "sigma"}
    # A Laplace approximation has no chains: no r_hat, ESS or divergence fields.
    assert set(document["coefficients"]["alpha"]) == {"mean", "median", "q05", "q95"}
    assert "divergences" not in document and document["method"] == "laplace"
    assert document["discrepancy"]["method"] == "leave-largest-out"
    assert 1.769 < document["coefficients"]["E"]["median"] < 1.871
    from scalinglaws.bayes import load_posterior

    assert load_posterior(path).num_draws == 500


def test_forecast_posterior_and_fit(posterior_file, tmp_path):
    path, _ = posterior_file
    runner = CliRunner()
    out = runner.invoke(main, ["forecast", "--posterior", str(path), "--N", "7e10", "--D", "1.4e12", "--json"])
    assert out.exit_code == 0, out.output
    loss = json.loads(out.stdout)["loss"]
    assert loss["q05"] < loss["median"] < loss["q95"] and loss["pred_q05"] < loss["q05"]
    fit_path = tmp_path / "fit.json"
    law = sl.laws.Chinchilla(E=1.8172, A=477.8, B=2143.9, alpha=0.3473, beta=0.3672)
    sl.save_fit(law, fit_path)
    out = runner.invoke(main, ["forecast", "--fit", str(fit_path), "--N", "7e10", "--D", "1.4e12", "--json"])
    assert out.exit_code == 0, out.output
    point = json.loads(out.stdout)["loss"]
    assert abs(point - float(law(N=7e10, D=1.4e12))) < 1e-12
    assert abs(point / loss["median"] - 1) < 0.01
    text = runner.invoke(main, ["forecast", "--posterior", str(path), "--N", "7e10", "--D", "1.4e12"])
    assert "90% credible" in text.output


def test_forecast_errors(posterior_file, tmp_path):
    path, _ = posterior_file
    runner = CliRunner()
    both = runner.invoke(main, ["forecast", "--posterior", str(path), "--fit", str(path), "--N", "1e9", "--D", "1e10"])
    assert both.exit_code != 0 and "exactly one of --posterior FILE or --fit FILE" in both.output
    bad = tmp_path / "bad.json"
    bad.write_text(path.read_text()[:1000])
    out = runner.invoke(main, ["forecast", "--posterior", str(bad), "--N", "1e9", "--D", "1e10"])
    assert out.exit_code == 1 and "truncated or corrupt" in out.output and "Traceback" not in out.output
    out = runner.invoke(main, ["forecast", "--posterior", str(path), "--N", "-1", "--D", "1e10"])
    assert out.exit_code != 0 and "must be positive and finite" in out.output


def test_infer_bad_input():
    runner = CliRunner()
    out = runner.invoke(main, ["infer", "chinchilla", "--law", "chinchilla", "--query", QUERY, "--chains", "0"])
    assert out.exit_code == 1 and "chains=0: must be at least 1" in out.output
    out = runner.invoke(main, ["infer", "chinchilla", "--law", "chinchilla", "--query", QUERY, "--samples", "0"])
    assert out.exit_code == 1 and "samples=0: must be at least 1" in out.output


def test_allocate_posterior_flops_and_unique_tokens(posterior_file):
    # Under uncertainty, every FLOP model works (issue 11: it used to be 6ND only).
    path, _ = posterior_file
    runner = CliRunner()
    kaplan = runner.invoke(main, ["allocate", "--posterior", str(path), "--budget", "1e23", "--flops", "kaplan", "--json"])
    six = runner.invoke(main, ["allocate", "--posterior", str(path), "--budget", "1e23", "--json"])
    assert kaplan.exit_code == 0 and six.exit_code == 0, kaplan.output + six.output
    k, s = json.loads(kaplan.stdout)["allocations"][0], json.loads(six.stdout)["allocations"][0]
    assert k["interior_fraction"] == 1.0 and k["N"] != pytest.approx(s["N"], rel=1e-3)
    # --unique-tokens reaches the allocator: a law without U says it does not model repetition.
    out = runner.invoke(main, ["allocate", "--posterior", str(path), "--budget", "1e23", "--unique-tokens", "1e11"])
    assert out.exit_code == 1 and "does not model repeated data" in out.output and "Traceback" not in out.output


def test_bootstrap_json():
    out = CliRunner().invoke(
        main, ["bootstrap", "chinchilla", "--law", "chinchilla", "--query", QUERY, "--n", "200", "--json", "--quiet"]
    )
    assert out.exit_code == 0, out.output
    document = json.loads(out.stdout)
    assert set(document["coefficients"]["E"]) == {"estimate", "se", "q025", "q975"}
    assert 0.01 < document["coefficients"]["E"]["se"] < 0.05


def test_allocate_posterior_plot_and_recipe_act(posterior_file, tmp_path):
    """Issue 12: `--plot` and `--recipe` act with `--posterior` instead of being ignored."""
    path, _ = posterior_file
    plot = tmp_path / "a.png"
    out = CliRunner().invoke(
        main,
        ["allocate", "--posterior", str(path), "--budget", "1e22", "--budget", "1e23", "--plot", str(plot),
         "--recipe", "--json"],
    )
    assert out.exit_code == 0, out.output
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 10_000
    rows = json.loads(out.stdout)["allocations"]
    assert [row["C"] for row in rows] == [1e22, 1e23]
    from scalinglaws.allocate import recipe_params, resolve_recipe

    hyper = resolve_recipe(True)
    for row in rows:  # the recipe at the risk-aware N and D (total N converted to non-embedding)
        n = recipe_params(row["N"], "total")
        assert row["learning_rate"] == pytest.approx(float(hyper.learning_rate(n, row["D"])), rel=1e-12)
        assert row["batch_size"] == pytest.approx(float(hyper.batch_size(n, row["D"])), rel=1e-12)
    assert rows[1]["learning_rate"] < rows[0]["learning_rate"]  # bigger models train with smaller LR
