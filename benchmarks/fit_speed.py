"""Whole-process fit speed on Epoch AI's Chinchilla problem: `scalinglaws fit` and three peers.

Every run fits the same objective on the same 240 Chinchilla points (Epoch AI's
replication, Besiroglu et al. 2024, arXiv:2404.10102): the sum of Huber(delta=1e-3) on
log-loss residuals over parameters (log A, log B, log E, alpha, beta), from Epoch's
4,500-point grid. Each run is a fresh process, so imports and compilation are included:
that is the time a user waits. In one run this script times

1. `scalinglaws fit`, cold (empty compilation cache: the first run on a machine) and warm
   (the cache the cold run just wrote: every later run);
2. SciPy with the *same algorithm* as `scalinglaws`: the objective at all 4,500 starts in
   one vectorised NumPy call, then L-BFGS-B from the best 16;
3. SciPy L-BFGS-B from every one of the 4,500 starts, as Epoch AI's notebook does
   (finite-difference gradients, no bounds): the *peer's usual practice*;
4. the `chinchilla` package (Takano, PyPI `chinchilla`, the `bench` extra) as its `fit()`
   runs by default, SciPy BFGS from every grid point in a process pool, with its loss set
   to the same log-Huber (a mean instead of a sum: same minimiser): the *peer's usual
   practice*. Skipped, and said so, where the package is not installed.

Every row's objective is recomputed here from its coefficients with one NumPy function,
so the objectives are comparable. Rows are printed as they finish; the ratio table at
the end labels each ratio "same algorithm" or "peer's usual practice".

Usage:

    python benchmarks/fit_speed.py            # honest default: every start of every peer
    python benchmarks/fit_speed.py --quick    # full-grid peers time a quarter of the grid

With `--quick` the two full-grid peers fit an evenly spread quarter of the grid (1,125
starts) and their fitting time is multiplied by 4 (process start-up is not); those rows
are labelled "extrapolated". On a 2-core machine the default takes about 15-20 minutes,
almost all of it in the two full-grid peers.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

QUERY = "epoch_default_included == 1"
DELTA = 1e-3
N_REFINE = 16

# Epoch AI's grid (their notebook, cell 18), in the parameter order (a, b, e, alpha, beta)
# with A = exp(a), B = exp(b), E = exp(e). Shared by every peer script below.
GRID = r"""
import itertools
import numpy as np
AXES = dict(a=np.arange(0, 30, 5), b=np.arange(0, 30, 5), e=np.arange(-1, 1.5, 0.5),
            alpha=np.arange(0, 2.5, 0.5), beta=np.arange(0, 2.5, 0.5))
GRID = np.array(list(itertools.product(*AXES.values())), float)   # (4500, 5)
"""

# Reads the CSV with pandas only: a peer's process never imports JAX or scalinglaws.
LOAD = r"""
import json, sys, time
import numpy as np, pandas as pd
df = pd.read_csv(sys.argv[1]).query("epoch_default_included == 1")
log_n, log_d, log_l = np.log(df["N"].values), np.log(df["D"].values), np.log(df["loss"].values)
quick = sys.argv[2] == "quick"
"""

SCIPY_COMMON = GRID + LOAD + r"""
from scipy.optimize import minimize
from scipy.special import huber, logsumexp

def objective(p):
    a, b, e, alpha, beta = p
    pred = logsumexp([a - alpha * log_n, b - beta * log_d, e * np.ones_like(log_n)], axis=0)
    return np.sum(huber(1e-3, pred - log_l))

def report(best, fit_seconds, n_starts):
    a, b, e, alpha, beta = best.x
    print(json.dumps({"E": float(np.exp(e)), "A": float(np.exp(a)), "B": float(np.exp(b)),
                      "alpha": float(alpha), "beta": float(beta), "fit_seconds": fit_seconds,
                      "n_starts": n_starts}))
"""

# Peer 3 (Epoch AI's notebook): L-BFGS-B from every start; --quick: every 4th start.
SCIPY_ALL = SCIPY_COMMON + r"""
starts = GRID[::4] if quick else GRID
t0 = time.perf_counter()
best = None
for start in starts:
    res = minimize(objective, start, method="L-BFGS-B")
    if best is None or res.fun < best.fun:
        best = res
report(best, time.perf_counter() - t0, len(starts))
"""

# Peer 2 (same algorithm as scalinglaws): screen every start in one vectorised call, refine
# the best 16 with the same L-BFGS-B call as above.
SCIPY_SCREEN = SCIPY_COMMON + r"""
t0 = time.perf_counter()
a, b, e, alpha, beta = (GRID[:, i:i + 1] for i in range(5))
pred = np.logaddexp(np.logaddexp(a - alpha * log_n, b - beta * log_d), e)   # (4500, 240)
screened = np.sum(huber(1e-3, pred - log_l), axis=1)
best = None
for start in GRID[np.argsort(screened)[:16]]:
    res = minimize(objective, start, method="L-BFGS-B")
    if best is None or res.fun < best.fun:
        best = res
report(best, time.perf_counter() - t0, len(GRID))
"""

# Peer 4: the chinchilla package's own fit() on Epoch's grid (its keys: e = log E, a = log A,
# b = log B; the order E, A, B, alpha, beta is the one its optimiser unpacks).
CHINCHILLA = GRID + LOAD + r"""
import os, tempfile, logging
from chinchilla import Chinchilla

def log_huber(y_true, y_pred, delta=1e-3):
    r = np.log(y_pred) - np.log(y_true)
    return np.where(np.abs(r) <= delta, 0.5 * r * r, delta * (np.abs(r) - 0.5 * delta))

axes = dict(AXES)
if quick:   # an evenly spread quarter of the grid: every other value of a and of b
    axes["a"], axes["b"] = axes["a"][::2], axes["b"][::2]
grid = {k: tuple(float(v) for v in axes[k]) for k in ("e", "a", "b", "alpha", "beta")}
n_starts = int(np.prod([len(v) for v in grid.values()]))
with tempfile.TemporaryDirectory() as project:
    df[["C", "N", "D", "loss"]].to_csv(os.path.join(project, "df.csv"), index=False)
    cc = Chinchilla(project, param_grid=grid, loss_fn=log_huber, log_level=40)
    t0 = time.perf_counter()
    cc.fit()
    fit_seconds = time.perf_counter() - t0
p = cc.params
print(json.dumps({"E": float(p["E"]), "A": float(p["A"]), "B": float(p["B"]), "alpha": float(p["alpha"]),
                  "beta": float(p["beta"]), "fit_seconds": fit_seconds, "n_starts": n_starts}))
"""


def _dataset_csv() -> str:
    # find_spec locates the installed package without executing it (no JAX import here).
    spec = importlib.util.find_spec("scalinglaws")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("scalinglaws is not installed: run `pip install -e .[bench]` from the repository root.")
    return str(Path(spec.submodule_search_locations[0]) / "datasets" / "chinchilla.csv")


def _objective(csv: str, c: dict) -> float:
    """Epoch AI's objective, float64 NumPy, recomputed for every row from its coefficients."""
    df = pd.read_csv(csv).query(QUERY)
    log_n, log_d, log_l = (np.log(df[k].to_numpy(float)) for k in ("N", "D", "loss"))
    pred = np.logaddexp(
        np.logaddexp(np.log(c["A"]) - c["alpha"] * log_n, np.log(c["B"]) - c["beta"] * log_d), np.log(c["E"])
    )
    r = np.abs(pred - log_l)
    return float(np.sum(np.where(r <= DELTA, 0.5 * r * r, DELTA * (r - 0.5 * DELTA))))


def _cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(command: list[str], env: dict[str, str]) -> tuple[float, dict]:
    """Wall seconds of a fresh process and its JSON; its CPU seconds (all its threads and
    worker processes) go into the JSON as `cpu_seconds`, printed next to the wall time: a
    loaded machine inflates both (BLAS threads spin while they wait), the wall time more."""
    cpu = _cpu_of_children()
    start = time.perf_counter()
    out = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    elapsed = time.perf_counter() - start
    cpu = _cpu_of_children() - cpu
    if out.returncode != 0:
        sys.exit(f"command failed: {' '.join(command[:3])} ...\n{out.stderr[-3000:]}")
    text = out.stdout.strip()
    try:  # `scalinglaws fit --json` prints one (indented) document
        document = json.loads(text)
    except json.JSONDecodeError:  # a peer script prints its JSON on the last line
        document = json.loads(text.splitlines()[-1])
    document["cpu_seconds"] = cpu
    return elapsed, document


HEADER = (
    f"{'run (whole process, fresh interpreter)':<62} {'wall s':>8} {'cpu s':>8} {'objective':>16} "
    f"{'E':>7} {'alpha':>7} {'beta':>7}"
)


def _row(csv: str, label: str, seconds: float, cpu: float, coefficients: dict) -> None:
    c = coefficients
    print(
        f"{label:<62} {seconds:>8.2f} {cpu:>8.2f} {_objective(csv, c):>16.12f} {c['E']:>7.4f} "
        f"{c['alpha']:>7.4f} {c['beta']:>7.4f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="full-grid peers fit a quarter of the grid; their fitting time is extrapolated x4 (labelled)",
    )
    args = parser.parse_args()
    csv = _dataset_csv()
    mode = "quick" if args.quick else "full"
    plain = dict(os.environ, MPLBACKEND="Agg")
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start", flush=True)
    print(HEADER, flush=True)

    times: dict[str, float] = {}
    cpus: dict[str, float] = {}
    cli = [sys.executable, "-m", "scalinglaws.cli", "fit", "chinchilla", "--law", "chinchilla",
           "--query", QUERY, "--json", "--quiet"]
    with tempfile.TemporaryDirectory() as cache:
        env = dict(plain, SCALINGLAWS_CACHE_DIR=cache)
        for key, label in (("cold", "scalinglaws fit, cold (import + compile + fit)"),
                           ("warm", "scalinglaws fit, warm compilation cache")):
            times[key], ours = _run(cli, env)
            cpus[key] = ours["cpu_seconds"]
            _row(csv, label, times[key], ours["cpu_seconds"], ours["coefficients"])

    times["screen"], theirs = _run([sys.executable, "-c", SCIPY_SCREEN, csv, mode], plain)
    cpus["screen"] = theirs["cpu_seconds"]
    _row(csv, "SciPy: screen 4,500 starts (NumPy), L-BFGS-B from best 16", times["screen"], theirs["cpu_seconds"], theirs)

    # The slowest peer runs last, so the faster rows are on screen while it runs.
    peers = [("scipy", "SciPy L-BFGS-B from all 4,500 starts (Epoch AI's notebook)", SCIPY_ALL)]
    if importlib.util.find_spec("chinchilla") is not None:
        from importlib.metadata import version

        peers.insert(0, ("chinchilla", f"chinchilla {version('chinchilla')} fit(): BFGS from all 4,500 starts",
                         CHINCHILLA))
    else:
        print("chinchilla package not installed (`pip install -e .[bench]`): its row is skipped", flush=True)
    for key, label, script in peers:
        wall, theirs = _run([sys.executable, "-c", script, csv, mode], plain)
        cpu = theirs["cpu_seconds"]
        if theirs["n_starts"] < 4500:
            factor = 4500 / theirs["n_starts"]
            # Process start-up is paid once; only the fitting scales with the number of starts.
            # (CPU time is scaled by the same wall-time fraction: an estimate, labelled.)
            cpu = cpu * (wall + (factor - 1) * theirs["fit_seconds"]) / wall
            wall = wall + (factor - 1) * theirs["fit_seconds"]
            label = f"{label} [{theirs['n_starts']} timed, extrapolated]"
        times[key], cpus[key] = wall, cpu
        _row(csv, label, wall, cpu, theirs)

    print("\nratio: peer time / scalinglaws time (whole processes; wall, and CPU in brackets)", flush=True)
    print(f"{'peer':<46} {'vs cold':>17} {'vs warm':>17}  comparison")
    kinds = {
        "screen": ("SciPy screen-and-refine-16", "same algorithm"),
        "scipy": ("SciPy L-BFGS-B from all 4,500 starts", "peer's usual practice (Epoch AI's notebook)"),
        "chinchilla": ("chinchilla package fit()", "peer's usual practice (its default fit)"),
    }
    for key, (name, kind) in kinds.items():
        if key in times:
            cold = f"{times[key] / times['cold']:.1f}x ({cpus[key] / cpus['cold']:.1f}x)"
            warm = f"{times[key] / times['warm']:.1f}x ({cpus[key] / cpus['warm']:.1f}x)"
            print(f"{name:<46} {cold:>17} {warm:>17}  {kind}")
    print(f"\nload average {os.getloadavg()[0]:.2f} at end; Epoch AI reported objective 0.0010182740346.")


if __name__ == "__main__":
    main()
