"""Batched work on several devices gives exactly the results of one device.

`scalinglaws.sharding` splits only the batch axis (groups of a sweep, BFGS lanes, bootstrap
replicates) across devices, and each device runs the one-device program on its block, so
per-item results must be bit-identical. Checked on CPU with 4 forced host devices
(`XLA_FLAGS=--xla_force_host_platform_device_count=4`) against 1 device, each in a fresh
process (the flag is read when JAX starts).
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

# Two fresh JAX processes (1 and 4 forced devices): slow tier, run by .ci/run.
pytestmark = pytest.mark.slow

SCRIPT = textwrap.dedent(
    r"""
    import json, sys, warnings
    import jax
    import numpy as np
    import pandas as pd
    import scalinglaws as sl
    from scalinglaws.bayes import bootstrap

    rng = np.random.default_rng(0)
    frames = []
    for g, n in enumerate([9, 14, 23, 31, 12]):   # sizes in two BFGS padding buckets (16, 64)
        N = np.geomspace(1e7, 1e10, n) * np.exp(0.1 * rng.standard_normal(n))
        loss = 1.7 + 400.0 * N ** -0.33
        frames.append(pd.DataFrame({"family": f"f{g}", "N": N, "loss": loss * np.exp(0.01 * rng.standard_normal(n))}))
    table = pd.concat(frames, ignore_index=True)
    # 40 groups of 20-49 rows: 640 BFGS lanes, run as two pools side by side.
    many = []
    for g in range(40):
        n = 20 + (g * 7) % 30
        N = np.geomspace(1e7, 1e10, n) * np.exp(0.1 * rng.standard_normal(n))
        many.append(pd.DataFrame({"family": f"m{g}", "N": N,
                                  "loss": (1.7 + 400.0 * N ** -0.33) * np.exp(0.01 * rng.standard_normal(n))}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sweep = sl.fit("power-n", table, by="family", starts=200, seed=1)
        wide = sl.fit("power-n", pd.concat(many, ignore_index=True), by="family", starts=60)
        boot = bootstrap("power-n", table[table.family == "f3"], n=24, chunk=10, predictive=False,
                         init=sweep["f3"])
    out = {"devices": jax.local_device_count()}
    for item in sweep:
        r = item.result
        out[item.group] = {"objective": float(r.objective).hex(), "steps": r.refined_steps.tolist(),
                           "values": [float(v).hex() for v in np.ravel(list(r.coefficients.values()))],
                           "refined": [float(v).hex() for v in r.refined_objectives]}
    out["many"] = {str(item.group): [float(v).hex() for v in item.result.refined_objectives] for item in wide}
    out["bootstrap"] = {k: [float(x).hex() for x in v] for k, v in boot.replicates.items()}
    out["bootstrap_converged"] = boot.converged.tolist()
    print(json.dumps(out))
    """
)


def _run(devices: int) -> dict:
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}", "JAX_PLATFORMS": "cpu"}
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def runs():
    return _run(1), _run(4)


def test_four_devices_were_used(runs):
    one, four = runs
    assert one["devices"] == 1 and four["devices"] == 4


def test_grouped_fit_bit_identical_on_four_devices(runs):
    one, four = runs
    groups = [k for k in one if k.startswith("f")]
    assert len(groups) == 5
    for g in groups:
        assert one[g] == four[g], g  # hex floats: bit-identical objectives, coefficients, every lane


def test_lanes_in_pools_side_by_side_bit_identical_on_four_devices(runs):
    one, four = runs
    assert len(one["many"]) == 40
    assert one["many"] == four["many"]


def test_bootstrap_bit_identical_on_four_devices(runs):
    one, four = runs
    assert one["bootstrap_converged"] == four["bootstrap_converged"]
    assert one["bootstrap"] == four["bootstrap"]
    assert len(next(iter(one["bootstrap"].values()))) >= 20  # the refits really ran (24 replicates)
    values = np.array([float.fromhex(v) for v in one["bootstrap"]["alpha"]])
    assert np.std(values) > 0  # replicates differ from each other
