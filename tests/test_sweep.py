"""Grouped fits (`fit(..., by=)`, `scalinglaws.fit.sweep`): each group's result is the one
a separate `fit` on that group gives, in a few batched calls."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import scalinglaws as sl
from scalinglaws import ConvergenceWarning, IdentifiabilityError, InputError
from scalinglaws.fit import SweepResult, sweep

SIZES = {"a": 7, "b": 14, "c": 23, "d": 40}  # two padding buckets (16, 64)
TRUTH = {"E": 1.7, "A": 400.0, "alpha": 0.33}


def table(sizes=SIZES, seed=0):
    rng = np.random.default_rng(seed)
    frames = []
    for name, n in sizes.items():
        N = np.geomspace(1e7, 1e10, n) * np.exp(0.1 * rng.standard_normal(n))
        D = 20 * N * np.exp(rng.uniform(-1, 1, n))
        loss = TRUTH["E"] + TRUTH["A"] * N ** -TRUTH["alpha"] + 300.0 * D**-0.3
        frames.append(pd.DataFrame({"family": name, "N": N, "D": D,
                                    "loss": loss * np.exp(0.01 * rng.standard_normal(n))}))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def data():
    return table()


@pytest.fixture(scope="module")
def grouped(data):
    return sl.fit("power-n", data, by="family", starts=300, seed=3)


def quiet_fit(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return sl.fit(*args, **kwargs)


@pytest.mark.parametrize("name", list(SIZES))
def test_each_group_equals_a_separate_fit(data, grouped, name):
    alone = quiet_fit("power-n", data[data.family == name], starts=300, seed=3)
    one = grouped[name]
    assert abs(float(one.objective) - float(alone.objective)) <= 1e-9 * abs(float(alone.objective))
    for key, value in alone.coefficients.items():
        np.testing.assert_allclose(one.coefficients[key], value, rtol=1e-6)
    # The same starts were screened and refined, to the same number of rounds.
    np.testing.assert_array_equal(one.refined_starts, alone.refined_starts)
    np.testing.assert_allclose(one.start_objectives, alone.start_objectives, rtol=1e-12)
    assert bool(one.converged) == bool(alone.converged)
    assert int(one.n_agree) == int(alone.n_agree)
    assert one.n_points == alone.n_points == SIZES[name]
    assert one.data_fingerprint == alone.data_fingerprint
    assert one.input_ranges == alone.input_ranges and one.ranges  # what forecasts extrapolate from
    assert one.message == alone.message


def test_each_group_stores_the_ranges_a_separate_fit_stores():
    # The compute column `C` is no input of power-n, but forecasts report extrapolation in it.
    data = table({"a": 12, "b": 20})
    data["C"] = 6 * data.N * data.D
    grouped = sl.fit("power-n", data, by="family", starts=50)
    for name in ("a", "b"):
        alone = quiet_fit("power-n", data[data.family == name], starts=50)
        assert grouped[name].input_ranges == alone.input_ranges
        assert set(grouped[name].ranges) == {"N", "C"}


def test_results_leave_as_numpy(grouped):
    result = grouped["c"]
    assert isinstance(result.objective, np.ndarray) and result.objective.dtype == np.float64
    assert all(isinstance(v, float) for v in result.coefficients.values())


def test_sweep_result_table_and_dict(grouped):
    assert isinstance(grouped, SweepResult) and len(grouped) == 4
    assert grouped.groups == ["a", "b", "c", "d"] and grouped.laws == ["power-n"]
    frame = grouped.table()
    assert list(frame["group"]) == ["a", "b", "c", "d"]
    np.testing.assert_allclose(frame["alpha"], [grouped[g].coefficients["alpha"] for g in "abcd"])
    document = json.loads(json.dumps(grouped.as_dict()))
    assert document["by"] == "family"
    assert [f["group"] for f in document["fits"]] == ["a", "b", "c", "d"]
    assert set(document["fits"][0]) >= {"group", "law", "objective", "converged", "n_agree", "coefficients"}
    assert document["fits"][2]["n_points"] == 23
    with pytest.raises(KeyError, match="no such group"):
        grouped["zz"]


def test_several_laws_give_the_cross_product(data):
    both = sweep(["power-n", "chinchilla"], data[data.family.isin(["c", "d"])], by="family", starts=300, seed=3)
    assert [(f.group, f.law) for f in both] == [
        ("c", "power-n"), ("c", "chinchilla"), ("d", "power-n"), ("d", "chinchilla")
    ]
    alone = quiet_fit("chinchilla", data[data.family == "d"], starts=300, seed=3)
    got = both["d", "chinchilla"]
    assert abs(float(got.objective) - float(alone.objective)) <= 1e-9 * abs(float(alone.objective))
    with pytest.raises(KeyError, match="several laws"):
        both["d"]


def test_without_by_all_rows_are_one_group(data):
    small = data[data.family == "b"]
    result = sweep("power-n", small, by=None, starts=300, seed=3)
    alone = quiet_fit("power-n", small, starts=300, seed=3)
    assert result.groups == [None]
    assert abs(float(result[None].objective) - float(alone.objective)) <= 1e-9 * float(alone.objective)


def test_numeric_groups_sorted(data):
    numbered = data.assign(family=data.family.map({"a": 30, "b": 4, "c": 100, "d": 7}))
    result = sl.fit("power-n", numbered, by="family", starts=50)
    assert result.groups == [4, 7, 30, 100]
    assert json.dumps(result.as_dict()["fits"][0]["group"]) == "4"


def test_too_small_group_is_skipped_with_a_warning(data):
    tiny = pd.concat([data, pd.DataFrame({"family": "z", "N": [1e8, 2e8], "D": [2e9, 4e9], "loss": [3.0, 2.9]})])
    with pytest.warns(UserWarning, match=r"skipped 1 group\(s\).*'z' \(power-n\): 2 rows but 3 free"):
        result = sl.fit("power-n", tiny, by="family", starts=50)
    assert result.groups == ["a", "b", "c", "d"]
    assert result.skipped == (("z", "power-n", "2 rows but 3 free coefficients ['E', 'A', 'alpha']"),)
    with pytest.raises(KeyError, match="skipped: 2 rows"):
        result["z"]


def test_repeated_inputs_group_is_skipped(data):
    same = pd.DataFrame({"family": "r", "N": [1e8] * 5, "D": [2e9] * 5, "loss": [3.0, 2.9, 3.1, 3.0, 2.95]})
    with pytest.warns(UserWarning, match=r"'r' \(power-n\): only 1 distinct value"):
        sl.fit("power-n", pd.concat([data, same]), by="family", starts=50)


def test_no_group_can_identify_the_law():
    frame = pd.DataFrame({"family": list("aabbcc"), "N": [1e8, 2e8] * 3, "loss": [3.0, 2.9] * 3})
    with pytest.raises(IdentifiabilityError, match="by='family': no group can identify the law power-n"):
        sl.fit("power-n", frame, by="family")


def test_unknown_by_column(data):
    with pytest.raises(InputError, match=r"by='famliy': no such column; columns are .*'family'"):
        sl.fit("power-n", data, by="famliy")


def test_by_must_be_a_column_name(data):
    with pytest.raises(InputError, match=r"by=3: expected a column name"):
        sl.fit("power-n", data, by=3)


def test_missing_group_values(data):
    holes = data.astype({"family": object})
    holes.loc[[0, 5], "family"] = None
    with pytest.raises(InputError, match=r"by='family': 2 row\(s\) have no value"):
        sl.fit("power-n", holes, by="family")


def test_bad_chunk(data):
    with pytest.raises(InputError, match=r"chunk=0: expected a positive integer"):
        sweep("power-n", data, by="family", chunk=0)


def test_explicit_chunk_gives_the_same_fits(data, grouped):
    small_chunks = sweep("power-n", data, by="family", starts=300, seed=3, chunk=1)
    for g in "abcd":
        assert float(small_chunks[g].objective) == pytest.approx(float(grouped[g].objective), rel=1e-12)


def test_groups_of_every_bucket_size_are_screened_and_refined_as_a_separate_fit():
    # A 16-row bucket, the 64-row bucket and a large one (600 rows: padded to 640).
    data = table({"big": 600, "small": 30, "tiny": 9})
    grouped = sl.fit("power-n", data, by="family", starts=60)
    for name in ("big", "small", "tiny"):
        alone = quiet_fit("power-n", data[data.family == name], starts=60)
        assert float(grouped[name].objective) == pytest.approx(float(alone.objective), rel=1e-9)
        np.testing.assert_allclose(grouped[name].start_objectives, alone.start_objectives, rtol=1e-12)
        np.testing.assert_array_equal(grouped[name].refined_starts, alone.refined_starts)


def test_screening_keeps_a_non_finite_group_to_itself():
    """A start whose objective is not finite on one group of a batch is +inf there (as
    `objective` makes it) and leaves the other groups alone; zero-weight padding rows add
    exactly nothing."""
    import jax.numpy as jnp

    from scalinglaws.fit._fit import screen
    from scalinglaws.fit._parameterization import make_parameterization
    from scalinglaws.fit._sweep import _padded_arrays, _screen_batched
    from scalinglaws.laws import get_law

    param = make_parameterization(get_law("power-n"), None, None)
    starts = {"E": jnp.array([1.0, 2.0]), "A": jnp.array([100.0, 1e3]), "alpha": jnp.array([0.2, 0.4])}
    n = np.geomspace(1e7, 1e10, 12)
    log_y = np.log(1.7 + 400.0 * n**-0.33)
    log_y[3] = np.inf  # group 0's fourth row: every start's objective is +inf on group 0
    members = {0: np.arange(5), 1: np.arange(5, 12)}
    padded = _padded_arrays([0, 1], members, 16, {"N": n}, log_y, np.ones(12))
    options = {"loss": "huber", "delta": 1e-3}
    out = np.asarray(_screen_batched(padded, {"param": param, "starts": starts, "options": options}))
    assert out.shape == (2, 2) and padded["w"].shape == (2, 16)
    assert np.all(out[0] == np.inf)
    alone = screen(param, {"N": jnp.asarray(n[5:])}, jnp.asarray(log_y[5:]), jnp.ones(7), starts, "huber", 1e-3)
    np.testing.assert_allclose(out[1], np.asarray(alone), rtol=1e-12)


def test_non_convergence_is_loud_and_named(data):
    with pytest.warns(ConvergenceWarning, match=r"by='family': 4 of 4 fit\(s\) did not converge: 'a' \(power-n\)"):
        result = sl.fit("power-n", data, by="family", starts=50, max_steps=2, max_rounds=1)
    assert result.n_failed == 4
    for item in result:
        assert not bool(item.result.converged)
        assert "did not converge" in item.result.message
        assert not item.result.message.startswith("converged")
    assert "4 did not converge" in result.summary()


def test_cli_by_json(tmp_path, data):
    from scalinglaws.cli import main

    path = tmp_path / "runs.csv"
    data.to_csv(path, index=False)
    out = CliRunner().invoke(main, ["fit", str(path), "--law", "power-n", "--law", "power-d", "--by", "family",
                                    "--starts", "100", "--json", "--quiet"])
    assert out.exit_code == 0, out.output
    document = json.loads(out.stdout)
    fits = document["fits"]
    assert [(f["group"], f["law"]) for f in fits][:2] == [("a", "power-n"), ("a", "power-d")]
    assert len(fits) == 8
    assert {"group", "law", "objective", "converged", "n_agree", "coefficients"} <= set(fits[0])
    assert set(fits[1]["coefficients"]) == {"E", "A", "alpha"}


def test_cli_unknown_by(tmp_path, data):
    from scalinglaws.cli import main

    path = tmp_path / "runs.csv"
    data.to_csv(path, index=False)
    out = CliRunner().invoke(main, ["fit", str(path), "--law", "power-n", "--by", "nope"])
    assert out.exit_code == 1
    assert "by='nope': no such column" in out.output


@pytest.mark.slow
def test_holdout_per_group_equals_separate_holdouts(data):
    sweep_ = sl.holdout(["power-n"], data, per="family", largest=2, by="N", interval="none", starts=100)
    assert [g for g, _, _ in sweep_] == ["a", "b", "c", "d"]
    for name in ["b", "d"]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            alone = sl.holdout("power-n", data[data.family == name], largest=2, by="N", interval="none", starts=100)
        got = sweep_[name]
        assert got.n_test == alone.n_test == 2 and got.n_train == alone.n_train
        assert got.threshold == alone.threshold
        np.testing.assert_allclose(got.predicted, alone.predicted, rtol=1e-8)
        np.testing.assert_array_equal(got.actual, alone.actual)
    document = json.loads(json.dumps(sweep_.as_dict(), allow_nan=True))
    assert document["per"] == "family" and document["reports"][0]["group"] == "a"
    assert len(sweep_.table()) == 4


def test_holdout_per_skips_groups_without_a_split(data):
    small = table({"e": 10}, seed=5).assign(N=lambda f: f.N / 100)  # every run below 1e8
    with pytest.warns(UserWarning, match=r"per='family': skipped 1 group\(s\): 'e' \(power-n\): no held-out split"):
        result = sl.holdout("power-n", pd.concat([data, small]), per="family", above=3e9, by="N", interval="none",
                            starts=100)
    assert [g for g, _, _ in result] == ["a", "b", "c", "d"]
    assert result.skipped[0][:2] == ("e", "power-n")


def test_holdout_per_unknown_column(data):
    with pytest.raises(InputError, match=r"by='fam': no such column"):
        sl.holdout("power-n", data, per="fam", largest=1, interval="none")


def test_bootstrap_per_group(data):
    from scalinglaws.bayes import bootstrap

    small = data[data.family.isin(["c", "d"])]
    per = bootstrap("power-n", small, per="family", n=20, predictive=False, chunk=8)
    assert sorted(per) == ["c", "d"]
    alone = bootstrap("power-n", small[small.family == "d"], n=20, predictive=False, chunk=8)
    for name in ("E", "A", "alpha"):
        np.testing.assert_allclose(per["d"].replicates[name], alone.replicates[name], rtol=1e-6)
    with pytest.raises(InputError, match=r"init=\.\.\.: not with per="):
        bootstrap("power-n", small, per="family", n=20, init=alone.estimate)


def test_cli_holdout_per_and_bootstrap_per(tmp_path, data):
    from scalinglaws.cli import main

    path = tmp_path / "runs.csv"
    data[data.family.isin(["c", "d"])].to_csv(path, index=False)
    out = CliRunner().invoke(main, ["holdout", str(path), "--law", "power-n", "--law", "power-d", "--per", "family",
                                    "--above", "5e9", "--by", "N", "--interval", "none", "--json", "--quiet"])
    assert out.exit_code == 0, out.output
    document = json.loads(out.stdout)
    assert [(r["group"], r["law"]) for r in document["reports"]] == [
        ("c", "power-n"), ("c", "power-d"), ("d", "power-n"), ("d", "power-d")
    ]
    assert all(r["n_test"] >= 1 for r in document["reports"])
    out = CliRunner().invoke(main, ["bootstrap", str(path), "--law", "power-n", "--per", "family", "--n", "20",
                                    "--json", "--quiet"])
    assert out.exit_code == 0, out.output
    document = json.loads(out.stdout)
    assert [b["group"] for b in document["bootstraps"]] == ["c", "d"]
    assert document["bootstraps"][0]["n"] == 20


def test_cli_several_laws_need_per_in_holdout(tmp_path, data):
    from scalinglaws.cli import main

    path = tmp_path / "runs.csv"
    data.to_csv(path, index=False)
    out = CliRunner().invoke(main, ["holdout", str(path), "--law", "power-n", "--law", "power-d", "--above", "5e9"])
    assert out.exit_code == 2
    assert "add --per COLUMN" in out.output


def test_host_selection_is_the_stable_sort_of_fit():
    """`select_batch` (the sweep's ranking, in NumPy) picks exactly the starts `fit`'s
    `_select` (a stable argsort in JAX) picks, ties and NaN included, for every round."""
    import jax
    import jax.numpy as jnp

    from scalinglaws.fit._fit import _select, select_batch

    rng = np.random.default_rng(0)
    screened = rng.choice([0.5, 1.0, 1.5, 2.0, np.inf, np.nan], size=(40, 300))  # many ties
    screened[:20] += rng.normal(0, 1e-3, (20, 300)) * (rng.random((20, 300)) < 0.5)
    with jax.enable_x64(True):
        for offset in (0, 16, 32, 284):
            host = select_batch(screened, 16, offset)
            device = np.stack([np.asarray(_select(jnp.asarray(row), 16, offset)) for row in screened])
            np.testing.assert_array_equal(host, device)


def test_sweep_compiled_ahead_is_bit_identical_to_compiled_at_the_call(data, monkeypatch):
    """The pools and the assembly compiled on a background thread (`_PoolPrograms`,
    `compile_ahead`) give bit for bit the results of compiling at the call."""
    from scalinglaws.fit import _sweep as sweep_module

    ahead = sweep("power-n", data, by="family", starts=300, seed=3)
    monkeypatch.setattr(sweep_module, "ahead_executor", lambda: None)
    at_call = sweep("power-n", data, by="family", starts=300, seed=3)
    for a, b in zip(ahead, at_call, strict=True):
        assert a.group == b.group
        np.testing.assert_array_equal(a.result.objective, b.result.objective)
        np.testing.assert_array_equal(a.result.refined_objectives, b.result.refined_objectives)
        for key, value in a.result.coefficients.items():
            np.testing.assert_array_equal(value, b.result.coefficients[key])


@pytest.fixture(scope="module")
def many_groups():
    """40 groups of 20-49 rows (one padding bucket) x 16 refined starts: 640 BFGS lanes,
    more than one pool of 512 slots holds, so they run as two pools side by side
    (`_sweep.STREAMS`)."""
    sizes = {f"g{i:02d}": 20 + (i * 7) % 30 for i in range(40)}
    return table(sizes, seed=5), sizes


def test_lanes_beyond_one_pool_run_side_by_side_and_equal_separate_fits(many_groups, monkeypatch):
    from scalinglaws.fit import _sweep as sweep_module

    data, sizes = many_groups
    streams = []
    run_stream = sweep_module._run_stream
    monkeypatch.setattr(sweep_module, "_run_stream", lambda *a, **k: streams.append(len(a[2])) or run_stream(*a, **k))
    grouped = sweep("power-n", data, by="family", starts=60)
    assert streams[:2] == [320, 320]  # round 1's 640 lanes: two pools of 320
    for name in list(sizes)[::7]:
        alone = quiet_fit("power-n", data[data.family == name], starts=60)
        assert float(grouped[name].objective) == pytest.approx(float(alone.objective), rel=1e-9)
        np.testing.assert_array_equal(grouped[name].refined_starts, alone.refined_starts)
        assert int(grouped[name].n_agree) == int(alone.n_agree)


def assert_same_lanes(first, second):
    """Two sweeps whose lanes ran on different schedules: every lane took the same steps to
    the same optimum, and every fit's verdict is the same."""
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a.result.refined_steps, b.result.refined_steps)
        np.testing.assert_allclose(a.result.refined_objectives, b.result.refined_objectives, rtol=1e-12)
        assert int(a.result.n_agree) == int(b.result.n_agree) and bool(a.result.converged) == bool(b.result.converged)
        for key, value in a.result.coefficients.items():
            np.testing.assert_allclose(value, b.result.coefficients[key], rtol=1e-10)


def test_long_lanes_parked_behind_waiting_ones_resume_where_they_stopped(many_groups, monkeypatch):
    """A lane still running after `PARK_AFTER` steps, while lanes that have not started wait,
    goes to the back of the queue with its state and resumes from it: the same steps and
    optima as without parking. 64-slot pools here, so that the queue is long."""
    from scalinglaws.fit import _sweep as sweep_module

    data, _ = many_groups
    monkeypatch.setattr(sweep_module, "MAX_SLOTS", 64)
    calls = []
    run = sweep_module._PoolPrograms.run
    monkeypatch.setattr(sweep_module._PoolPrograms, "run", lambda self, b: calls.append(1) or run(self, b))
    monkeypatch.setattr(sweep_module, "PARK_AFTER", 10**9)
    unparked = sweep("power-n", data, by="family", starts=60)
    n_unparked, calls[:] = len(calls), []
    monkeypatch.setattr(sweep_module, "PARK_AFTER", 32)
    parked = sweep("power-n", data, by="family", starts=60)
    assert len(calls) != n_unparked  # the schedule changed...
    assert_same_lanes(unparked, parked)  # ...the lanes did not


def test_pools_hand_their_last_lanes_to_one_pool_that_finishes_them(many_groups, monkeypatch):
    """Side-by-side pools hand their last running lanes over, with their states, to one
    pool that finishes them (`HAND_OVER_PERCENT`; here more lanes than its slots, so some
    wait for a slot): the same steps and optima as pools that finish their own lanes."""
    from scalinglaws.fit import _sweep as sweep_module

    data, _ = many_groups
    streams = []
    run_stream = sweep_module._run_stream
    monkeypatch.setattr(
        sweep_module, "_run_stream",
        lambda *a, **k: streams.append((len(a[2]), k.get("resume") is not None)) or run_stream(*a, **k),
    )
    monkeypatch.setattr(sweep_module, "HAND_OVER_PERCENT", 0)  # never: each pool finishes its own
    own = sweep("power-n", data, by="family", starts=60)
    assert streams[:2] == [(320, False), (320, False)] and not any(resumed for _, resumed in streams)
    streams[:] = []
    monkeypatch.setattr(sweep_module, "HAND_OVER_PERCENT", 60)
    handed = sweep("power-n", data, by="family", starts=60)
    tail = [n for n, resumed in streams if resumed]
    assert tail and tail[0] > 512  # round 1's tail: more lanes than slots
    assert_same_lanes(own, handed)


def test_pools_side_by_side_give_the_results_of_one_after_another(many_groups, monkeypatch):
    """Whether the pools run at once (two or more cores) or in turn (one core), every lane
    has the same slot, so the results are the same to the bit."""
    from scalinglaws.fit import _sweep as sweep_module

    data, _ = many_groups
    together = sweep("power-n", data, by="family", starts=60)
    monkeypatch.setattr(sweep_module, "_concurrent_ok", lambda: False)
    in_turn = sweep("power-n", data, by="family", starts=60)
    for a, b in zip(together, in_turn, strict=True):
        np.testing.assert_array_equal(a.result.refined_objectives, b.result.refined_objectives)
        np.testing.assert_array_equal(a.result.refined_steps, b.result.refined_steps)
        for key, value in a.result.coefficients.items():
            np.testing.assert_array_equal(value, b.result.coefficients[key])
