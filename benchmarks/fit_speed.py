"""Whole-process fit speed: `scalinglaws fit` against SciPy L-BFGS-B over Epoch's grid.

Both sides fit the same objective on the same 240 Chinchilla points (Epoch AI's
replication, Besiroglu et al. 2024): the sum of Huber(delta=1e-3) on log-loss residuals,
parameters (log A, log B, log E, alpha, beta), from Epoch's 4,500-point grid. SciPy runs
L-BFGS-B from every start, as Epoch's notebook does (finite-difference gradients, no
bounds). Each side runs as a fresh process, so imports and compilation are included: that
is the time a user waits. `scalinglaws` is timed with an empty compilation cache (cold,
the first run on a machine) and again with the cache it just wrote (warm, every later run).

Usage: python benchmarks/fit_speed.py [--scipy-starts N]   (N < 4500 times a subset and
extrapolates linearly, labelled as such; the default runs all 4,500.)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

QUERY = "epoch_default_included == 1"

SCIPY_SCRIPT = r"""
import json, sys, time, itertools
import numpy as np, pandas as pd
from scipy.optimize import minimize
from scipy.special import huber, logsumexp
from scalinglaws.datasets import dataset_path   # only to locate the CSV; imports no JAX
n_starts = int(sys.argv[1])
df = pd.read_csv(dataset_path("chinchilla")).query("epoch_default_included == 1")
log_n, log_d, log_l = np.log(df["N"].values), np.log(df["D"].values), np.log(df["loss"].values)
def objective(p):
    a, b, e, alpha, beta = p
    pred = logsumexp([a - alpha * log_n, b - beta * log_d, e * np.ones_like(log_n)], axis=0)
    return np.sum(huber(1e-3, pred - log_l))
grid = list(itertools.product(np.arange(0, 30, 5), np.arange(0, 30, 5), np.arange(-1, 1.5, 0.5),
                              np.arange(0, 2.5, 0.5), np.arange(0, 2.5, 0.5)))
best = None
for start in grid[:n_starts]:
    res = minimize(objective, np.array(start, float), method="L-BFGS-B")
    if best is None or res.fun < best.fun:
        best = res
a, b, e, alpha, beta = best.x
print(json.dumps({"objective": float(best.fun), "E": float(np.exp(e)), "A": float(np.exp(a)),
                  "B": float(np.exp(b)), "alpha": float(alpha), "beta": float(beta)}))
"""


def _run(command: list[str], env: dict[str, str]) -> tuple[float, dict]:
    start = time.perf_counter()
    out = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    elapsed = time.perf_counter() - start
    if out.returncode != 0:
        sys.exit(f"command failed: {' '.join(command)}\n{out.stderr}")
    return elapsed, json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scipy-starts", type=int, default=4500)
    args = parser.parse_args()

    cli = [sys.executable, "-m", "scalinglaws.cli", "fit", "chinchilla", "--law", "chinchilla",
           "--query", QUERY, "--json", "--quiet"]
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, SCALINGLAWS_CACHE_DIR=cache)
        cold, ours = _run(cli, env)
        warm, ours_warm = _run(cli, env)
    rows.append(("scalinglaws fit (cold: import + compile + fit)", cold, ours["objective"], ours["coefficients"]))
    rows.append(("scalinglaws fit (warm compilation cache)", warm, ours_warm["objective"], ours_warm["coefficients"]))

    n = max(1, min(args.scipy_starts, 4500))
    scipy_time, theirs = _run([sys.executable, "-c", SCIPY_SCRIPT, str(n)], dict(os.environ))
    label = "SciPy L-BFGS-B, 4,500 starts"
    if n < 4500:
        scipy_time = scipy_time * 4500 / n
        label = f"SciPy L-BFGS-B, {n} starts, time extrapolated to 4,500"
    rows.append((label, scipy_time, theirs["objective"], {k: theirs[k] for k in ("E", "A", "B", "alpha", "beta")}))

    print(f"{'run (whole process)':<52} {'wall s':>8} {'objective':>16} {'E':>8} {'alpha':>8} {'beta':>8} {'speed-up vs SciPy':>18}")
    for name, seconds, objective, coef in rows:
        print(
            f"{name:<52} {seconds:>8.2f} {objective:>16.10g} {coef['E']:>8.4f} {coef['alpha']:>8.4f} "
            f"{coef['beta']:>8.4f} {scipy_time / seconds:>17.1f}x"
        )
    better = ours["objective"] <= theirs["objective"] * (1 + 1e-9)
    print(f"\nscalinglaws objective {'<=' if better else '>'} SciPy objective "
          f"({ours['objective']:.12g} vs {theirs['objective']:.12g}); Epoch AI reported 0.0010182740346.")


if __name__ == "__main__":
    main()
