"""Hoffmann et al. 2022's Approach 1: the envelope of loss vs FLOPs over checkpoints."""

import numpy as np
import pandas as pd
import pytest

from scalinglaws.curves import envelope_analysis, envelope_points, isoflop_slices
from scalinglaws.errors import InputError
from scalinglaws.laws import Chinchilla

# A Chinchilla law whose compute-optimal exponent is known in closed form:
# a = beta / (alpha + beta) (Hoffmann et al. 2022, eq. 4).
LAW = Chinchilla(E=1.7, A=400.0, B=1200.0, alpha=0.34, beta=0.28)
A_TRUE = 0.28 / (0.34 + 0.28)


def _curves(sizes, n_ckpt=60, d_range=(1e8, 1e13), noise=0.0, seed=0):
    """Checkpoint curves: each model sees tokens D along its run; loss from LAW (no schedule effect)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i, n in enumerate(sizes):
        d = np.geomspace(*d_range, n_ckpt)
        loss = np.asarray(LAW(N=np.full_like(d, n), D=d)) * np.exp(rng.normal(0, noise, d.size))
        rows.append(pd.DataFrame({"run": f"r{i}", "N": n, "D": d, "loss": loss}))
    return pd.concat(rows, ignore_index=True)


def test_envelope_recovers_the_optimal_exponent():
    data = _curves(np.geomspace(1e7, 1e10, 40))
    res = envelope_analysis(data, n_bootstrap=200, seed=0)
    assert res.a == pytest.approx(A_TRUE, abs=0.03)
    assert res.b == pytest.approx(1 - A_TRUE, abs=0.03)
    assert res.a_interval[0] <= res.a <= res.a_interval[1]
    assert res.n_runs == 40 and res.n_sizes == 40
    # The envelope is the minimum over runs at each FLOP value.
    assert np.all(np.diff(res.envelope["loss"].to_numpy()) <= 1e-12)


def test_envelope_interval_covers_truth_with_noisy_curves():
    data = _curves(np.geomspace(1e7, 1e10, 25), noise=0.003, seed=3)
    res = envelope_analysis(data, n_bootstrap=300, seed=1, level=0.95)
    lo, hi = res.a_interval
    assert lo - 0.03 <= A_TRUE <= hi + 0.03
    assert res.a_se > 0


def test_envelope_points_pick_the_lowest_run():
    data = _curves([1e8, 1e9], n_ckpt=30)
    env = envelope_points(data, n_grid=50)
    for _, row in env.iterrows():
        other = 1e9 if row["N"] == 1e8 else 1e8
        d_other = row["C"] / (6 * other)
        if 1e8 <= d_other <= 1e13:
            assert row["loss"] <= float(LAW(N=other, D=d_other)) * (1 + 1e-3)


def test_isoflop_slices_interpolate_each_run():
    data = _curves([1e8, 3e8, 1e9], n_ckpt=40)
    slices = isoflop_slices(data, budgets=[1e18, 1e19])
    assert set(slices["C"]) == {1e18, 1e19}
    np.testing.assert_allclose(slices["D"], slices["C"] / (6 * slices["N"]), rtol=1e-6)
    np.testing.assert_allclose(slices["loss"], np.asarray(LAW(N=slices["N"].to_numpy(), D=slices["D"].to_numpy())),
                               rtol=2e-3)


def test_envelope_errors():
    data = _curves([1e8, 1e9], n_ckpt=20)
    with pytest.raises(InputError, match="run='model'"):
        envelope_analysis(data, run="model")
    with pytest.raises(InputError, match="2 sizes"):
        envelope_analysis(data[data["N"] == 1e8])
    with pytest.raises(InputError, match="n_bootstrap"):
        envelope_analysis(data, n_bootstrap=1)
    with pytest.raises(InputError, match="level"):
        envelope_analysis(data, level=2.0)
    bad = data.copy()
    bad.loc[0, "N"] = 5e8
    with pytest.raises(InputError, match="several model sizes"):
        envelope_analysis(bad)
