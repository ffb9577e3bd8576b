"""Whole-process speed of a sweep: 1,000 data sets x the Chinchilla law, three ways.

Issue 13's benchmark. 1,000 simulated data sets of 20-60 runs each, drawn from the
Chinchilla law with Epoch AI's refit coefficients (Besiroglu et al. 2024, arXiv:2404.10102:
E = 1.8172, A = 477.8, B = 2143.9, alpha = 0.3473, beta = 0.3672) and 2% log-normal noise,
are fitted three ways, each as a fresh process (imports and compilation included):

1. **grouped**: one call, `scalinglaws.fit("chinchilla", table, by="dataset")`; also
   as the command line, `scalinglaws fit TABLE --law chinchilla --by dataset --json`
   (the `scalinglaws` executable, which freezes its imports out of the garbage
   collector's reach and so exits faster: see `scalinglaws.cli.run`);
2. **`sl.fit` loop**: a Python loop of `scalinglaws.fit` calls, one per data set;
3. **SciPy**: per data set, Epoch's 4,500-point grid screened in one vectorised NumPy
   call, then L-BFGS-B from the best 16 (the algorithm of `fit`), in a Python loop, two
   ways: *same algorithm* (analytic gradient, tolerances tight enough to reach the optimum
   `fit` reaches: `ftol=1e-15`, `gtol=1e-12`) and *usual practice* (SciPy's defaults with
   finite-difference gradients, as notebooks do; it stops early, at higher objectives on
   some data sets, which the benchmark counts). Both run with one BLAS thread (tiny
   problems; a spinning multi-threaded BLAS on a shared machine made earlier timings
   10-20x slower and erratic). By default they time the first `--scipy-subset` data sets
   and extrapolate linearly to 1,000 (labelled "extrapolated"); `--scipy-subset 1000` times
   them all.

Every grouped fit's objective is compared with the `sl.fit` loop's on the same data set
(acceptance: equal to 1e-9 relative), and SciPy's objectives are recomputed with one NumPy
function and compared too (information: a different optimiser may stop elsewhere).

Then 5 laws x the Hitchhiker families (Choshen et al. 2024, arXiv:2410.11840; the shared
folder `hitchhiker_colpret`, final checkpoints and intermediate ones): one grouped call
`scalinglaws.fit.sweep(laws, table, by="family")` vs a loop of `sl.fit` calls.

Usage:

    python benchmarks/sweep_speed.py                      # everything, about 12 minutes on 2 cores
    python benchmarks/sweep_speed.py --datasets 200 --scipy-subset 20 --no-hitchhiker --repeats 1   # quick

The machine's load (`os.getloadavg`) is printed before and after each run: on a shared
machine wall times scale with it, ratios much less. The grouped call and the SciPy loops
(short processes, where one disturbed run moves the ratio) run `--repeats` times (3) and
their median is used; the `sl.fit` loop (80-90 s) runs once.
"""

from __future__ import annotations

import argparse
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

TRUTH = {"E": 1.8172, "A": 477.8, "B": 2143.9, "alpha": 0.3473, "beta": 0.3672}
NOISE = 0.02
HITCHHIKER = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "hitchhiker_colpret"
HITCHHIKER_LAWS = ["chinchilla", "kaplan", "power-n", "power-d", "power-c"]

GROUPED = r"""
import json, sys, time, warnings
t0 = time.perf_counter()
import scalinglaws as sl
t1 = time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    sweep = sl.fit("chinchilla", sys.argv[1], by="dataset")
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "fit_s": t2 - t1,
                  "objective": {str(f.group): float(f.result.objective) for f in sweep},
                  "converged": int(sum(bool(f.result.converged) for f in sweep))}))
"""

LOOP = r"""
import json, sys, time, warnings
t0 = time.perf_counter()
import pandas as pd
import scalinglaws as sl
frame = pd.read_csv(sys.argv[1])
t1 = time.perf_counter()
out, converged = {}, 0
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    for key, rows in frame.groupby("dataset", sort=True):
        result = sl.fit("chinchilla", rows.drop(columns="dataset"))
        out[str(key)] = float(result.objective)
        converged += bool(result.converged)
print(json.dumps({"import_s": t1 - t0, "fit_s": time.perf_counter() - t1, "objective": out,
                  "converged": converged}))
"""

# The same screen-then-refine as `fit`, in NumPy/SciPy: parameters (a, b, e, alpha, beta)
# with A = exp(a), B = exp(b), E = exp(e), Epoch AI's grid and objective (their notebook).
SCIPY = r"""
import itertools, json, sys, time
t0 = time.perf_counter()
import numpy as np, pandas as pd
from scipy.optimize import minimize
from scipy.special import huber
AXES = dict(a=np.arange(0, 30, 5), b=np.arange(0, 30, 5), e=np.arange(-1, 1.5, 0.5),
            alpha=np.arange(0, 2.5, 0.5), beta=np.arange(0, 2.5, 0.5))
GRID = np.array(list(itertools.product(*AXES.values())), float)
frame = pd.read_csv(sys.argv[1])
subset = int(sys.argv[2])
tight = sys.argv[3] == "tight"
t1 = time.perf_counter()
out = {}
for key, rows in list(frame.groupby("dataset", sort=True))[:subset]:
    log_n, log_d, log_l = np.log(rows["N"].values), np.log(rows["D"].values), np.log(rows["loss"].values)
    def objective(p):
        a, b, e, alpha, beta = p
        pred = np.logaddexp(np.logaddexp(a - alpha * log_n, b - beta * log_d), e)
        return np.sum(huber(1e-3, pred - log_l))
    def value_and_grad(p):  # analytic gradient (softmax weights of the three terms)
        a, b, e, alpha, beta = p
        terms = np.stack([a - alpha * log_n, b - beta * log_d, np.full_like(log_n, e)])
        pred = np.logaddexp(np.logaddexp(terms[0], terms[1]), terms[2])
        w = np.exp(terms - pred)
        r = pred - log_l
        g = np.clip(r, -1e-3, 1e-3)
        grad = [np.sum(g * w[0]), np.sum(g * w[1]), np.sum(g * w[2]),
                -np.sum(g * w[0] * log_n), -np.sum(g * w[1] * log_d)]
        return np.sum(huber(1e-3, r)), np.array(grad)
    a, b, e, alpha, beta = (GRID[:, i:i + 1] for i in range(5))
    screened = np.sum(huber(1e-3, np.logaddexp(np.logaddexp(a - alpha * log_n, b - beta * log_d), e) - log_l), axis=1)
    starts = GRID[np.argsort(screened)[:16]]
    if tight:  # the same precision as scalinglaws' BFGS (rtol 1e-10): analytic gradient, tight tolerances
        runs = (minimize(value_and_grad, s, jac=True, method="L-BFGS-B",
                         options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 15000, "maxfun": 30000}) for s in starts)
    else:  # what a notebook does: defaults, finite-difference gradient
        runs = (minimize(objective, s, method="L-BFGS-B") for s in starts)
    out[str(key)] = float(min(runs, key=lambda r: r.fun).fun)
print(json.dumps({"import_s": t1 - t0, "fit_s": time.perf_counter() - t1, "objective": out}))
"""

HH_GROUPED = r"""
import json, sys, time, warnings
t0 = time.perf_counter()
import scalinglaws as sl
from scalinglaws.fit import sweep
t1 = time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    result = sweep(sys.argv[2].split(","), sys.argv[1], by="family")
print(json.dumps({"import_s": t1 - t0, "fit_s": time.perf_counter() - t1,
                  "objective": {f"{f.group}|{f.law}": float(f.result.objective) for f in result},
                  "converged": int(sum(bool(f.result.converged) for f in result)),
                  "ok": {f"{f.group}|{f.law}": bool(f.result.converged) for f in result},
                  "skipped": len(result.skipped)}))
"""

HH_LOOP = r"""
import json, sys, time, warnings
t0 = time.perf_counter()
import pandas as pd
import scalinglaws as sl
frame = pd.read_csv(sys.argv[1])
t1 = time.perf_counter()
out, converged, skipped = {}, 0, 0
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    for family, rows in frame.groupby("family", sort=True):
        for law in sys.argv[2].split(","):
            try:
                result = sl.fit(law, rows)
            except sl.IdentifiabilityError:  # the sweep skips these too (e.g. power-n on 2 sizes)
                skipped += 1
                continue
            out[f"{family}|{law}"] = float(result.objective)
            converged += bool(result.converged)
print(json.dumps({"import_s": t1 - t0, "fit_s": time.perf_counter() - t1, "objective": out,
                  "converged": converged, "skipped": skipped}))
"""


def simulate(n_datasets: int, seed: int = 0) -> pd.DataFrame:
    """`n_datasets` Chinchilla-like studies: 20-60 runs each, N from 1e7 to 1e10 and 5-100
    tokens per parameter (log-uniform), losses from Epoch's refit with log-normal noise."""
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n_datasets):
        n = int(rng.integers(20, 61))
        N = np.exp(rng.uniform(np.log(1e7), np.log(1e10), n))
        D = N * np.exp(rng.uniform(np.log(5.0), np.log(100.0), n))
        loss = TRUTH["E"] + TRUTH["A"] / N ** TRUTH["alpha"] + TRUTH["B"] / D ** TRUTH["beta"]
        frames.append(pd.DataFrame({"dataset": i, "N": N, "D": D, "loss": loss * np.exp(NOISE * rng.standard_normal(n))}))
    return pd.concat(frames, ignore_index=True)


def _cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(label: str, argv: list[str], env: dict | None = None) -> tuple[str, float, float, float]:
    """Run `argv` as a fresh process (`SCALINGLAWS_CACHE_DIR=off`: no compiled programs
    from earlier runs; extra environment variables `env`); its stdout, wall and CPU
    seconds, and the load before it. Exits with its stderr if it failed."""
    load = os.getloadavg()[0]
    cpu = _cpu_of_children()
    start = time.perf_counter()
    env = {**os.environ, "SCALINGLAWS_CACHE_DIR": "off", **(env or {})}
    out = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - start
    if out.returncode != 0:
        sys.exit(f"{label} failed:\n{out.stderr[-3000:]}")
    return out.stdout, wall, _cpu_of_children() - cpu, load


def run(label: str, script: str, *args: str, env: dict | None = None) -> dict:
    """Run `script` in a fresh interpreter (extra environment variables `env`); its JSON
    plus wall and CPU seconds."""
    stdout, wall, cpu, load = _timed(label, [sys.executable, "-c", script, *args], env)
    document = json.loads(stdout.strip().splitlines()[-1])
    document.update(wall_s=wall, cpu_s=cpu, load_before=load, load_after=os.getloadavg()[0])
    print(
        f"{label:<58} {wall:8.1f} s wall {document['cpu_s']:8.1f} s cpu  (import {document['import_s']:.1f} s, "
        f"fit {document['fit_s']:.1f} s; load {load:.1f} -> {document['load_after']:.1f})",
        flush=True,
    )
    return document


def run_command(label: str, argv: list[str]) -> dict:
    """Run the `scalinglaws` executable as a user types it; its `--json` fits as
    objectives, wall and CPU seconds."""
    stdout, wall, cpu, load = _timed(label, [str(Path(sys.executable).parent / "scalinglaws"), *argv])
    fits = json.loads(stdout)["fits"]
    document = {"objective": {str(f["group"]): float(f["objective"]) for f in fits},
                "converged": sum(bool(f["converged"]) for f in fits), "wall_s": wall, "cpu_s": cpu}
    print(f"{label:<58} {wall:8.1f} s wall {cpu:8.1f} s cpu  (load {load:.1f} -> {os.getloadavg()[0]:.1f})",
          flush=True)
    return document


def median_of(label: str, once, repeats: int) -> dict:
    """`once(label)` (`run` or `run_command` of one process) `repeats` times; the run with
    the median wall time, with every wall time (`walls`). Why: on a shared machine single
    runs of the same short process vary by 20% or more (one grouped call took 9.0 s between
    runs of 7.4-7.6 s)."""
    runs = sorted((once(f"{label} [{i + 1}/{repeats}]" if repeats > 1 else label) for i in range(repeats)),
                  key=lambda r: r["wall_s"])
    chosen = dict(runs[(len(runs) - 1) // 2])
    chosen["walls"] = [r["wall_s"] for r in runs]
    if repeats > 1:
        print(f"  median of {repeats}: {chosen['wall_s']:.1f} s wall (runs: "
              f"{', '.join(f'{w:.1f}' for w in chosen['walls'])} s)", flush=True)
    return chosen


def compare(a: dict, b: dict) -> tuple[float, int]:
    """Worst relative difference of objectives over the keys both have, and that count."""
    keys = sorted(set(a) & set(b))
    x, y = np.array([a[k] for k in keys]), np.array([b[k] for k in keys])
    return float(np.max(np.abs(x - y) / np.abs(y))), len(keys)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=1000)
    parser.add_argument("--scipy-subset", type=int, default=100, help="data sets SciPy fits (extrapolated)")
    parser.add_argument("--no-loop", action="store_true", help="skip the sl.fit loop")
    parser.add_argument("--no-hitchhiker", action="store_true")
    parser.add_argument("--only-hitchhiker", action="store_true", help="skip the 1,000 simulated data sets")
    parser.add_argument("--repeats", type=int, default=3,
                        help="runs of the grouped call and of each SciPy loop (their median is used; the "
                             "sl.fit loop, 80-90 s, runs once)")
    options = parser.parse_args()

    print(f"machine: {os.cpu_count()} CPUs, load {os.getloadavg()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        csv = str(Path(tmp) / "sweep.csv")
        if not options.only_hitchhiker:
            frame = simulate(options.datasets)
            frame.to_csv(csv, index=False)
            print(f"{options.datasets} data sets, {len(frame)} runs (20-60 each), Chinchilla law, 2% noise\n", flush=True)

            grouped = median_of(f"grouped: sl.fit(..., by='dataset'), {options.datasets} data sets",
                                lambda name: run(name, GROUPED, csv), options.repeats)
            command = median_of(f"grouped: scalinglaws fit --by dataset --json, {options.datasets} data sets",
                                lambda name: run_command(name, ["fit", csv, "--law", "chinchilla", "--by", "dataset",
                                                                "--json"]), options.repeats)
            worst, n = compare(command["objective"], grouped["objective"])
            print(f"  command line vs grouped call: worst relative objective difference {worst:.2e} over {n} data "
                  f"sets; converged {command['converged']}", flush=True)
            rows = [("grouped (one call)", grouped["wall_s"], grouped["cpu_s"], "measured")]
            if not options.no_loop:
                loop = run(f"loop of sl.fit, {options.datasets} data sets", LOOP, csv)
                rows.append(("loop of sl.fit", loop["wall_s"], loop["cpu_s"], "measured"))
                worst, n = compare(grouped["objective"], loop["objective"])
                print(f"  grouped vs separate sl.fit: worst relative objective difference {worst:.2e} over {n} data sets "
                      f"({'OK' if worst <= 1e-9 else 'FAILS'} the 1e-9 acceptance); converged: grouped "
                      f"{grouped['converged']}, loop {loop['converged']}", flush=True)
            subset = min(options.scipy_subset, options.datasets)
            scale = options.datasets / subset
            label = "measured" if subset == options.datasets else f"extrapolated x{scale:g} from {subset}"
            # One BLAS thread: these are tiny problems, and a multi-threaded BLAS spinning on a
            # shared machine made earlier SciPy timings 10-20x slower and erratic.
            one_thread = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
            for mode, name in (("tight", "SciPy, same algorithm"), ("default", "SciPy, usual practice")):
                scipy = median_of(f"{name} ({mode}), first {subset} data sets",
                                  lambda label, mode=mode: run(label, SCIPY, csv, str(subset), mode, env=one_thread),
                                  options.repeats)
                scipy_wall = scipy["import_s"] + scipy["fit_s"] * scale + (scipy["wall_s"] - scipy["import_s"] - scipy["fit_s"])
                rows.append((name, scipy_wall, scipy["cpu_s"] * scale, label))
                worst, n = compare(scipy["objective"], grouped["objective"])
                higher = sum(scipy["objective"][k] > grouped["objective"][k] * (1 + 1e-9) for k in scipy["objective"])
                lower = sum(scipy["objective"][k] < grouped["objective"][k] * (1 - 1e-9) for k in scipy["objective"])
                print(f"  {name} vs grouped: worst relative objective difference {worst:.2e} over {n} data sets; "
                      f"SciPy higher by > 1e-9 on {higher}, lower on {lower}", flush=True)

            if options.repeats > 1:
                print(f"\n(grouped and SciPy: the median of {options.repeats} runs; the sl.fit loop: one run)")
            print(f"\n{'variant (whole process)':<26} {'wall s':>9} {'cpu s':>9} {'grouped is':>12}  note")
            for name, wall, cpu, note in rows:
                ratio = wall / grouped["wall_s"]
                print(f"{name:<26} {wall:9.1f} {cpu:9.1f} {ratio:11.1f}x  {note}")
            print(f"\nthe same grouped call from the command line: {command['wall_s']:.1f} s wall; "
                  + ", ".join(f"{name} / command line {wall / command['wall_s']:.1f}x" for name, wall, _, _ in rows[1:]))

        if not options.no_hitchhiker:
            path = HITCHHIKER / "hitchhiker_subset_long.csv"
            if not path.exists():
                print(f"\nHitchhiker data not found at {path}: skipped.")
                return
            table = pd.read_csv(path)[["family", "N", "D", "C", "loss"]]
            hh = str(Path(tmp) / "hitchhiker.csv")
            table.to_csv(hh, index=False)
            laws = ",".join(HITCHHIKER_LAWS)
            print(f"\nHitchhiker (Choshen et al. 2024): {table['family'].nunique()} families, {len(table)} rows, "
                  f"laws {HITCHHIKER_LAWS}", flush=True)
            hh_grouped = run("grouped: sweep(5 laws, by='family')", HH_GROUPED, hh, laws)
            hh_loop = run("loop of sl.fit over family x law", HH_LOOP, hh, laws)
            worst, n = compare(hh_grouped["objective"], hh_loop["objective"])
            print(f"  grouped vs separate: worst relative objective difference {worst:.2e} over {n} fits; converged "
                  f"grouped {hh_grouped['converged']}, loop {hh_loop['converged']}; too small to identify the law "
                  f"(skipped by both): {hh_grouped['skipped']}")
            ok = [k for k, v in hh_grouped["ok"].items() if v]
            worst_ok, n_ok = compare({k: hh_grouped["objective"][k] for k in ok}, hh_loop["objective"])
            print(f"  over the {n_ok} fits that converged: worst relative objective difference {worst_ok:.2e}")
            for key in sorted(hh_loop["objective"], key=lambda k: -abs(hh_grouped["objective"][k] / hh_loop["objective"][k] - 1))[:5]:
                print(f"    {key:<32} grouped {hh_grouped['objective'][key]:.12g}  loop {hh_loop['objective'][key]:.12g}  "
                      f"converged {hh_grouped['ok'][key]}")
            print(f"  loop / grouped: {hh_loop['wall_s'] / hh_grouped['wall_s']:.1f}x (whole process)")
    print(f"\nload at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
