"""Grouped runs: checkpoints of one run are resampled together (the cluster bootstrap).

The acceptance test of issue 10: with 10 runs x 12 checkpoints and run-level noise,
resampling rows is several times too confident; resampling runs agrees with the
Monte-Carlo standard error over 200 simulated data sets."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx
import pandas as pd
import pytest

import scalinglaws as sl
from scalinglaws import InputError
from scalinglaws.bayes import bootstrap
from scalinglaws.fit import make_parameterization, objective, resample_weights, run_groups

TRUTH = {"E": 2.0, "A": 400.0, "alpha": 0.3}
N_RUNS, N_CHECKPOINTS = 10, 12
RUN_NOISE, CHECKPOINT_NOISE = 0.03, 0.003
N_DATASETS, N_REPLICATES = 200, 50


def checkpoints_frame():
    n = np.repeat(np.geomspace(1e7, 1e9, N_RUNS), N_CHECKPOINTS)
    step = np.tile(np.arange(1, N_CHECKPOINTS + 1) * 1000, N_RUNS)
    return pd.DataFrame({"N": n, "D": step * 2048.0, "step": step, "run": np.repeat(np.arange(N_RUNS), N_CHECKPOINTS)})


def simulate(n_datasets, seed=0):
    """Log losses `(n_datasets, rows)`: the law, a shared offset per run, checkpoint noise."""
    rng = np.random.default_rng(seed)
    frame = checkpoints_frame()
    law = TRUTH["E"] + TRUTH["A"] * frame["N"].to_numpy() ** -TRUTH["alpha"]
    run_effect = RUN_NOISE * rng.standard_normal((n_datasets, N_RUNS))
    noise = CHECKPOINT_NOISE * rng.standard_normal((n_datasets, len(frame)))
    return frame, np.log(law)[None, :] + np.repeat(run_effect, N_CHECKPOINTS, axis=1) + noise


@eqx.filter_jit
def _refits(param, x, log_y, weights, u0):
    """BFGS from `u0` for every (log_y, weights) row pair; the natural E and a success flag."""
    solver = optx.BFGS(rtol=1e-9, atol=1e-11)

    def one(ly, w):
        fn = lambda u, args: objective(param.law_from_unconstrained(u), x, args[0], args[1], "squared", 1e-3)  # noqa: E731
        sol = optx.minimise(fn, solver, u0, args=(ly, w), max_steps=500, throw=False)
        return param.natural(sol.value)["E"], sol.result == optx.RESULTS.successful

    return jax.vmap(one)(log_y, weights)


def refit_E(frame, log_y, weights):
    with sl.precision.in_float64():
        param = make_parameterization(sl.get_law("power-n"))
        u0 = param.unconstrained({k: jnp.asarray(v) for k, v in TRUTH.items()})
        E, ok = _refits(param, {"N": jnp.asarray(frame["N"].to_numpy())}, jnp.asarray(log_y), jnp.asarray(weights), u0)
        return np.asarray(E), np.asarray(ok)


@pytest.fixture(scope="module")
def simulation():
    frame, log_y = simulate(N_DATASETS)
    # Monte-Carlo truth: the spread of the fitted E over independent data sets.
    E_hat, ok = refit_E(frame, log_y, np.ones_like(log_y))
    assert ok.mean() > 0.99
    mc_se = float(np.std(E_hat[ok], ddof=1))
    groups = run_groups(sl.Runs(frame))
    ses = {}
    for name, g in (("runs", groups), ("rows", None)):
        weights = np.concatenate([resample_weights(len(frame), N_REPLICATES, seed=d, groups=g) for d in range(N_DATASETS)])
        E_b, ok_b = refit_E(frame, np.repeat(log_y, N_REPLICATES, axis=0), weights)
        E_b = np.where(ok_b, E_b, np.nan).reshape(N_DATASETS, N_REPLICATES)
        ses[name] = np.nanstd(E_b, axis=1, ddof=1)
    return frame, log_y, mc_se, ses


@pytest.mark.slow
def test_grouped_bootstrap_matches_monte_carlo_se(simulation):
    _, _, mc_se, ses = simulation
    grouped = float(np.mean(ses["runs"]))
    assert abs(grouped / mc_se - 1) < 0.3, (grouped, mc_se)
    # Resampling checkpoints as if independent is several times too confident.
    assert float(np.mean(ses["rows"])) < 0.5 * mc_se


@pytest.fixture(scope="module")
def first_dataset():
    """The first data set of `simulation` and its run-bootstrap SE of E from the vectorised
    helper (`simulation` itself refits every data set: slow tier)."""
    frame, log_y = simulate(N_DATASETS)
    weights = resample_weights(len(frame), N_REPLICATES, seed=0, groups=run_groups(sl.Runs(frame)))
    E_b, ok_b = refit_E(frame, np.repeat(log_y[:1], N_REPLICATES, axis=0), weights)
    return frame, log_y, float(np.nanstd(np.where(ok_b, E_b, np.nan), ddof=1))


def test_bootstrap_resamples_runs_by_default_when_rows_are_checkpoints(first_dataset):
    frame, log_y, se_runs = first_dataset
    data = frame.assign(loss=np.exp(log_y[0]))
    by_default = bootstrap("power-n", data, n=N_REPLICATES, seed=0, loss="squared", predictive=False)
    named = bootstrap("power-n", data, n=N_REPLICATES, seed=0, loss="squared", predictive=False, group="run")
    assert by_default.settings["n_groups"] == named.settings["n_groups"] == N_RUNS
    # Same resampler, same seed: the same replicates as the vectorised helper above.
    assert by_default.se["E"] == pytest.approx(named.se["E"], rel=1e-6)
    assert by_default.se["E"] == pytest.approx(se_runs, rel=1e-3)


def test_independent_runs_grouped_equals_row_bootstrap():
    rng = np.random.default_rng(3)
    n = np.geomspace(1e7, 1e10, 60)
    loss = (TRUTH["E"] + TRUTH["A"] * n ** -TRUTH["alpha"]) * np.exp(0.02 * rng.standard_normal(n.size))
    data = {"N": n, "loss": loss, "run": np.arange(n.size)}
    rows = bootstrap("power-n", data, n=400, seed=1, loss="squared", predictive=False)
    runs = bootstrap("power-n", data, n=400, seed=2, loss="squared", predictive=False, group="run")
    assert rows.settings["n_groups"] == 0 and runs.settings["n_groups"] == 60
    for name in TRUTH:
        assert abs(runs.se[name] / rows.se[name] - 1) < 0.2, (name, runs.se[name], rows.se[name])


def test_run_groups_rules():
    frame = checkpoints_frame()
    derived = run_groups(sl.Runs(frame))  # step present, no group column: runs = distinct N
    np.testing.assert_array_equal(derived, frame["run"].to_numpy())
    np.testing.assert_array_equal(run_groups(sl.Runs(frame), "run"), frame["run"].to_numpy())
    # Distinct (N, learning rate) pairs are distinct runs.
    two_lr = pd.concat([frame.assign(lr=1e-3), frame.assign(lr=3e-3)], ignore_index=True)
    assert np.unique(run_groups(sl.Runs(two_lr))).size == 2 * N_RUNS
    # Without a step column, rows are independent runs.
    assert run_groups(sl.Runs(frame.drop(columns=["step"]))) is None
    with pytest.raises(InputError, match="group='seed': no such column"):
        run_groups(sl.Runs(frame), "seed")


def test_resample_weights_by_group():
    groups = np.repeat(np.arange(5), 4)
    w = resample_weights(20, 30, seed=0, groups=groups)
    assert w.shape == (30, 20) and np.all(w == np.round(w))
    # Every checkpoint of a run carries that run's multiplicity; 5 runs drawn per replicate.
    assert np.all(w.reshape(30, 5, 4) == w.reshape(30, 5, 4)[:, :, :1])
    np.testing.assert_array_equal(w.reshape(30, 5, 4)[:, :, 0].sum(axis=1), 5)
    np.testing.assert_array_equal(w, resample_weights(20, 30, seed=0, groups=groups))
    with pytest.raises(InputError, match="groups: expected one run id per row"):
        resample_weights(20, 3, seed=0, groups=np.arange(7))


def test_fit_reports_runs():
    frame, log_y = simulate(1, seed=5)
    result = sl.fit("power-n", frame.assign(loss=np.exp(log_y[0])), group="run", loss="squared")
    assert result.n_groups == N_RUNS
    assert f"{len(frame)} points in {N_RUNS} runs" in result.summary()
