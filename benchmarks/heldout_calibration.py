"""Calibration of forecast intervals on held-out runs of published studies (issue 10).

For each data set: fit on the smaller runs, forecast the larger held-out ones, and score
the point forecasts (mean absolute relative error) and the intervals (coverage of nominal
50% and 90% intervals, mean log width), for each interval method:

- `bootstrap predictive` (the default of `scalinglaws.holdout`): cluster bootstrap
  refits plus residual noise plus the leave-largest-out extrapolation term;
- `bootstrap mean`: the same replicates, interval of the law only (the old behaviour);
- `laplace predictive`: posterior predictive from `scalinglaws.bayes.infer(method="laplace")`.

"today" is the error of the plain point fit (`interval="none"`), printed beside: the
point forecasts of every method are that fit, so they can be no worse.

Data (read from the shared folder, benchmarks are not run time):
Chinchilla (Hoffmann et al. 2022 as digitised by Epoch AI; fit below 1e21 FLOPs),
the Hitchhiker subset (Choshen et al. 2024; per family fit the smaller models, predict the
largest, checkpoints past 10% of each run), (Mis)Fitting (Li et al.; 1B model held out,
best learning rate per (N, D)), Gadre et al. 2024's over-training runs (fit below 1B
parameters) and datablations (Muennighoff et al. 2023; largest 20% of compute held out).

Run: `python benchmarks/heldout_calibration.py [--quick] [--no-laplace]`. Prints as it
goes; finishes in well under 15 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import scalinglaws as sl

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
if not DATA.exists():
    DATA = Path("/work/shared/data")


def thin(frame, key, order, k):
    """At most `k` evenly spaced rows (by `order`) of each `key` group (speed)."""
    parts = []
    for _, g in frame.groupby(key, sort=False):
        g = g.sort_values(order)
        parts.append(g.iloc[np.unique(np.linspace(0, len(g) - 1, k).astype(int))])
    return pd.concat(parts)


def chinchilla():
    frame = pd.read_csv(DATA / "chinchilla_epoch" / "chinchilla_normalized.csv")
    frame = frame[frame["epoch_default_included"] == 1].drop(columns=["epoch_default_included"])
    yield "chinchilla", "chinchilla", frame, dict(above=1e21, by="C"), {}


def hitchhiker(max_checkpoints: int):
    frame = pd.read_csv(DATA / "hitchhiker_colpret" / "hitchhiker_subset_long.csv")
    for family, rows in frame.groupby("family", sort=True):
        # Tokens seen D orders checkpoints (some families record no step).
        rows = rows[rows["D"] > 0.1 * rows.groupby("model_name")["D"].transform("max")]
        if rows.empty:
            continue
        rows = thin(rows, "model_name", "D", max_checkpoints)
        rows = rows[["model_name", "N", "D", "C", "loss"]].rename(columns={"model_name": "run"})
        if rows["N"].nunique() < 4:
            continue
        largest = rows["N"].max()
        yield f"hitchhiker/{family}", "chinchilla", rows, dict(above=float(np.nextafter(largest, 0)), by="N",
                                                              group="run"), {}


def misfitting():
    frame = pd.read_csv(DATA / "misfitting_li" / "misfitting_normalized.csv")
    frame = frame.rename(columns={"C_6ND": "C"})
    # Best learning rate per (N, D): the run (sweep) with the lowest final loss per model
    # size, followed along its checkpoints.
    final = frame[frame["is_final"] == 1]
    best = final.loc[final.groupby("N")["loss"].idxmin(), "sweep"]
    rows = frame[frame["sweep"].isin(best) & (frame["portion_steps_elapsed"] > 0.1)]
    rows = thin(rows, "N", "D", 25)
    rows = rows[["sweep", "N", "D", "C", "loss"]].rename(columns={"sweep": "run"})
    yield "misfitting/1B", "chinchilla", rows, dict(above=1e9, by="N", group="run"), {}


def gadre():
    frame = pd.read_csv(DATA / "gadre_overtraining" / "gadre_normalized.csv")
    for dataset, rows in frame.groupby("dataset", sort=True):
        rows = rows[["N", "D", "C", "loss"]]
        yield f"gadre/{dataset}", "chinchilla", rows, dict(above=1e9, by="N"), {}


def datablations():
    frame = pd.read_csv(DATA / "datablations_muennighoff" / "datablations_fit182.csv")
    frame = frame.rename(columns={"U_unique_tokens": "U", "C_6ND": "C"})[["N", "D", "U", "C", "loss"]]
    threshold = float(np.quantile(frame["C"], 0.8))
    yield "datablations", "data-constrained", frame, dict(above=threshold, by="C"), {"tie": {"beta": "alpha"}}


def cases(quick: bool):
    yield from chinchilla()
    yield from hitchhiker(12 if quick else 30)
    yield from misfitting()
    yield from gadre()
    yield from datablations()


def score(report, observed):
    inside = (report.lo <= observed) & (observed <= report.hi)
    return inside, np.log(report.hi / report.lo)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer checkpoints and replicates")
    parser.add_argument("--no-laplace", action="store_true", help="skip the Laplace posterior method")
    args = parser.parse_args()
    n_boot = 100 if args.quick else 200
    methods = ["bootstrap predictive", "bootstrap mean"] + ([] if args.no_laplace else ["laplace predictive"])
    pooled = {m: {"in50": [], "in90": [], "w90": [], "are": []} for m in methods}
    rows = []
    start = time.perf_counter()
    print(f"{'data set':<28} {'n_test':>6} {'method':<22} {'|rel.err|':>9} {'today':>9} {'cov50':>6} "
          f"{'cov90':>6} {'logw90':>7} {'s':>6}", flush=True)
    for name, law, frame, split, fit_kwargs in cases(args.quick):
        clock = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            today = sl.holdout(law, frame, interval="none", **split, **fit_kwargs)
            base = sl.holdout(law, frame, interval="bootstrap", level=0.9, n_boot=n_boot, **split, **fit_kwargs)
        observed = base.actual
        reports = {
            "bootstrap predictive": (base.with_level(0.5, "predictive"), base.with_level(0.9, "predictive")),
            "bootstrap mean": (base.with_level(0.5, "mean"), base.with_level(0.9, "mean")),
        }
        if "laplace predictive" in methods:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    reports["laplace predictive"] = tuple(
                        sl.holdout(law, frame, interval="laplace", level=level, **split, **fit_kwargs)
                        for level in (0.5, 0.9)
                    )
            except Exception as error:  # report and continue: one method failing is a result too
                print(f"{name:<28} laplace failed: {type(error).__name__}: {str(error)[:120]}", flush=True)
        noise = base.details.get("noise") or {}
        for method, (r50, r90) in reports.items():
            in50, _ = score(r50, observed)
            in90, w90 = score(r90, observed)
            are = r90.abs_rel_error
            pooled[method]["in50"].append(in50)
            pooled[method]["in90"].append(in90)
            pooled[method]["w90"].append(w90)
            pooled[method]["are"].append(are)
            row = dict(data=name, n_test=len(observed), method=method, mare=float(are.mean()),
                       today=today.mean_abs_rel_error, cov50=float(in50.mean()), cov90=float(in90.mean()),
                       logw90=float(w90.mean()), slope=noise.get("slope_per_decade", float("nan")))
            rows.append(row)
            print(f"{name:<28} {row['n_test']:>6} {method:<22} {row['mare']:>9.2%} {row['today']:>9.2%} "
                  f"{row['cov50']:>6.0%} {row['cov90']:>6.0%} {row['logw90']:>7.3f} {row['slope']:>6.3f}",
                  flush=True)
        print(f"{'':<28} ({time.perf_counter() - clock:.0f} s; total {time.perf_counter() - start:.0f} s)",
              flush=True)
    print("\npooled over data sets (each held-out point counts once):")
    print(f"{'method':<22} {'points':>6} {'|rel.err|':>9} {'cov50':>6} {'cov90':>6} {'logw90':>7}")
    for method, parts in pooled.items():
        if not parts["in90"]:
            continue
        in50, in90 = np.concatenate(parts["in50"]), np.concatenate(parts["in90"])
        print(f"{method:<22} {in90.size:>6} {np.concatenate(parts['are']).mean():>9.2%} {in50.mean():>6.0%} "
              f"{in90.mean():>6.0%} {np.concatenate(parts['w90']).mean():>7.3f}")
    # Per data set, each data set weighted equally (many checkpoints do not dominate).
    table = pd.DataFrame(rows)
    means = table.groupby("method")[["cov50", "cov90", "mare"]].mean()
    print("\nmean over data sets (each data set counts once):")
    print(means.to_string(float_format=lambda v: f"{v:.3f}"))
    print(f"\ntotal {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
