"""Reproduce Epoch AI's replication of Chinchilla (Besiroglu et al. 2024, arXiv:2404.10102).

Reference ("replicate exactly" in their notebook, cell 18): Huber(delta=1e-3) SUM on log
loss, L-BFGS-B from a 4,500-point grid, 240 points: objective 0.0010182740346154362,
E=1.817235504463726, A=477.84171252965143, B=2143.8637880335505,
alpha=0.34731265761033453, beta=0.3671826173946711.
"""

import json

import numpy as np
from click.testing import CliRunner

from scalinglaws.cli import main

# Epoch AI's notebook values at full precision (cell 18, quoted in the docstring above).
EPOCH_NOTEBOOK = dict(
    objective=0.0010182740346154362, E=1.817235504463726, A=477.84171252965143, B=2143.8637880335505,
    alpha=0.34731265761033453, beta=0.3671826173946711,
)
EPOCH = dict(objective=0.0010182740346154362, E=1.8172, alpha=0.3473, beta=0.3672, A=477.84, B=2143.86)


def _check(coefficients, objective):
    assert abs(objective - EPOCH["objective"]) / EPOCH["objective"] <= 1e-5
    assert abs(coefficients["E"] - EPOCH["E"]) <= 5e-4
    assert abs(coefficients["alpha"] - EPOCH["alpha"]) <= 1e-3
    assert abs(coefficients["beta"] - EPOCH["beta"]) <= 1e-3
    # A and B are poorly identified (the objective is flat along them): within 2%.
    assert abs(coefficients["A"] / EPOCH["A"] - 1) <= 0.02
    assert abs(coefficients["B"] / EPOCH["B"] - 1) <= 0.02


def test_python_api_reproduces_epoch_grid_fit(chinchilla_epoch_fit):
    result = chinchilla_epoch_fit
    assert bool(result.converged), result.message
    assert result.n_points == 240
    assert result.start_objectives.shape == (4500,)  # Epoch's grid, every start screened
    # More than half of the 16 refined starts reach the optimum (the README says so).
    assert int(result.n_agree) > 8, result.n_agree
    _check(result.coefficients, float(result.objective))


def test_cli_json_reproduces_epoch_grid_fit():
    out = CliRunner().invoke(
        main,
        ["fit", "chinchilla", "--law", "chinchilla", "--query", "epoch_default_included == 1", "--json", "--quiet"],
    )
    assert out.exit_code == 0, out.output
    document = json.loads(out.stdout)
    assert {"law", "coefficients", "objective", "n_points", "converged"} <= set(document)
    assert document["law"] == "chinchilla" and document["converged"] is True
    assert document["n_points"] == 240
    _check(document["coefficients"], document["objective"])


def _epoch_objective_numpy(log_a, log_b, log_e, alpha, beta):
    """Epoch AI's objective written independently in NumPy, broadcasting over starts."""
    import scalinglaws as sl

    runs = sl.load_dataset("chinchilla", query="epoch_default_included == 1")
    log_n, log_d, log_l = (np.log(np.asarray(runs[k], float)) for k in ("N", "D", "loss"))
    pred = np.logaddexp(np.logaddexp(log_a - alpha * log_n, log_b - beta * log_d), log_e)
    r = np.abs(pred - log_l)
    return np.sum(np.where(r <= 1e-3, 0.5 * r**2, 1e-3 * (r - 0.5e-3)), axis=-1)


def test_grid_starts_are_screened_exactly_and_all_are_far_from_the_optimum(chinchilla_epoch_fit):
    # Why screen-then-refine: every one of Epoch's 4,500 grid points is screened, and even the
    # best of them is more than 10 times the optimum, while most are more than 100 times it
    # (measured: best 18x; 87% beyond 100x), so refining only the best few is what matters.
    screened = np.asarray(chinchilla_epoch_fit.start_objectives)
    grid = np.array(
        np.meshgrid(
            np.arange(0, 30, 5), np.arange(0, 30, 5), np.arange(-1, 1.5, 0.5),
            np.arange(0, 2.5, 0.5), np.arange(0, 2.5, 0.5), indexing="ij",
        )
    ).reshape(5, -1, 1)
    independent = _epoch_objective_numpy(*grid)
    assert screened.shape == independent.shape == (4500,)
    # The order of the starts is the library's business; the multiset of values is not.
    np.testing.assert_allclose(np.sort(screened), np.sort(independent), rtol=1e-9)
    optimum = float(chinchilla_epoch_fit.objective)
    assert screened.min() > 10 * optimum
    assert np.mean(screened > 100 * optimum) > 0.8


def test_hoffmann_published_coefficients_fit_worse_than_epoch(chinchilla_epoch_fit):
    # Besiroglu et al.'s point: Hoffmann's rounded estimates do not fit Hoffmann's own data.
    import jax.numpy as jnp

    import scalinglaws as sl
    from scalinglaws.fit import objective

    runs = sl.load_dataset("chinchilla", query="epoch_default_included == 1")
    hoffmann = sl.laws.Chinchilla(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
    x = {k: jnp.asarray(v) for k, v in runs.arrays(["N", "D"]).items()}
    value = objective(hoffmann, x, jnp.log(runs["loss"]), jnp.ones(240), "huber", 1e-3)
    # Measured: 0.00412 against 0.00102.
    assert float(value) > 3 * float(chinchilla_epoch_fit.objective)
