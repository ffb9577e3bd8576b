"""Scale of input (issue 9.4): `scalinglaws fit` on a 1M-row checkpoint table, whole process.

Generates a checkpoint table in a temporary folder: `--runs` training runs (default 1,000)
with `--steps` checkpoints each (default 1,000), so 1,000,000 rows of `run, step, N, D,
loss`. Each run has its own size N (1e7 to 1e10 parameters) and a final token count D
(5 to 80 tokens per parameter); its checkpoints see a growing fraction of those tokens, and
the loss follows Epoch AI's Chinchilla fit (Besiroglu et al. 2024, arXiv:2404.10102:
E = 1.8172, A = 482.01, B = 2085.43, alpha = 0.3478, beta = 0.3658) times lognormal noise
of 1%. (Treating every checkpoint as a run of its own is what a user with such a table
and a plain `fit` does; it is the load this benchmark measures, not a recommended model of
learning curves.)

It then runs `scalinglaws fit TABLE --law chinchilla` exactly as a user would (a fresh
process, imports, CSV reading, validation, compilation, screening and refinement all
included), with the fit's progress messages passed through to the terminal, and prints the
wall time and the child's peak resident memory (`resource.getrusage(RUSAGE_CHILDREN)`).

Targets (issue 9): under 2 minutes and under 4 GB on a 2-core machine.

Usage:

    python benchmarks/large_table.py                 # 1,000 runs x 1,000 steps
    python benchmarks/large_table.py --runs 100      # 100,000 rows, a quicker look
    python benchmarks/large_table.py --starts 512    # fewer random starts than Epoch's grid
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

# Epoch AI's fit of the Chinchilla law (Besiroglu et al. 2024, Table 1).
EPOCH = {"E": 1.8172, "A": 482.01, "B": 2085.43, "alpha": 0.3478, "beta": 0.3658}


def make_table(path: Path, runs: int, steps: int, seed: int = 0) -> None:
    """Write the checkpoint table (vectorised; about 1 s per million rows plus the CSV write)."""
    rng = np.random.default_rng(seed)
    n = np.exp(rng.uniform(np.log(1e7), np.log(1e10), runs))
    d_final = n * rng.uniform(5.0, 80.0, runs)
    fraction = np.arange(1, steps + 1) / steps
    N = np.repeat(n, steps)
    D = (d_final[:, None] * fraction[None, :]).ravel()
    loss = EPOCH["E"] + EPOCH["A"] / N ** EPOCH["alpha"] + EPOCH["B"] / D ** EPOCH["beta"]
    loss *= np.exp(0.01 * rng.standard_normal(loss.shape))
    frame = pd.DataFrame(
        {
            "run": np.repeat(np.arange(runs), steps),
            "step": np.tile(np.arange(1, steps + 1), runs),
            "N": N,
            "D": D,
            "loss": loss,
        }
    )
    frame.to_csv(path, index=False, float_format="%.10g")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--starts", default="grid", help="passed to `scalinglaws fit --starts`")
    parser.add_argument("--keep", default=None, help="write the table here instead of a temporary folder")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        table = Path(args.keep) if args.keep else Path(tmp) / "checkpoints.csv"
        rows = args.runs * args.steps
        print(f"generating {rows:,} rows ({args.runs:,} runs x {args.steps:,} steps) ...", flush=True)
        clock = time.perf_counter()
        make_table(table, args.runs, args.steps)
        size = table.stat().st_size / 1e6
        print(f"  wrote {table} ({size:.0f} MB) in {time.perf_counter() - clock:.1f} s", flush=True)

        command = [
            sys.executable, "-m", "scalinglaws.cli", "fit", str(table), "--law", "chinchilla",
            "--starts", str(args.starts), "--json",
        ]
        env = dict(os.environ, SCALINGLAWS_CACHE_DIR="off")  # a cold start: what a first run costs
        print("running: scalinglaws " + " ".join(command[3:]), flush=True)
        clock = time.perf_counter()
        # stderr (the fit's progress) goes straight to the terminal; stdout is the JSON result.
        child = subprocess.run(command, stdout=subprocess.PIPE, text=True, env=env)
        wall = time.perf_counter() - clock
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        peak_gb = usage.ru_maxrss * 1024 / 1e9  # KiB on Linux
        cpu = usage.ru_utime + usage.ru_stime
        load = os.getloadavg()[0]

        if child.returncode != 0:
            print(f"scalinglaws fit failed with exit status {child.returncode}", flush=True)
            sys.exit(child.returncode)
        result = json.loads(child.stdout)
        print()
        print(f"rows               {rows:,}")
        print(f"wall time          {wall:.1f} s   (target < 120 s)")
        print(f"CPU time           {cpu:.1f} s   (user + system; load average {load:.1f} on {os.cpu_count()} cores)")
        print(f"peak memory (RSS)  {peak_gb:.2f} GB (target < 4 GB)")
        print(f"objective          {result['objective']:.6g}   converged: {result['converged']}")
        print("coefficients       " + ", ".join(f"{k}={v:.4g}" for k, v in result["coefficients"].items()))
        print("generating values  " + ", ".join(f"{k}={v:.4g}" for k, v in EPOCH.items()))


if __name__ == "__main__":
    main()
