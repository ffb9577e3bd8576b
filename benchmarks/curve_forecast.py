"""Forecast final losses from the first half of training: curve law vs two baselines.

Data: Li et al. 2025 ("(Mis)Fitting: A Survey of Scaling Laws", arXiv:2502.18969)
checkpoints in `../shared/data/misfitting_li` (this benchmark may read the shared folder;
the package never does).

The schedule of every run, from the authors' released training scripts
(github.com/hadasah/scaling_laws, `open_lm/constants/slurm_constants.py` and
`open_lm/ds/scripts/train.sh`): open_lm's default cosine schedule (`--lr-scheduler cosine`)
over the run's `total_steps`, linear warmup of 50 steps, peak = the run's `peak_lr`, final
learning rate = 0.1 x peak (`--lr-cooldown-end-ratio 0.1`); batch 512 x 2048 tokens.

Protocol (issue 14): for each trained model (run), fit the curve law (Tissue et al. 2024,
L = L0 + A S1^-alpha - C S2) on its checkpoints up to 50% of training and predict its final
loss. Reported: mean absolute relative error (MARE) of the final loss, over runs whose size
has smaller models, and again without runs whose first half shows a training instability (a
rise of the loss between checkpoints; decided on first halves only). No run is dropped from
the headline column.

The new methods follow Tissue et al.'s own use of their law: fit it on complete curves of
the same model and predict another schedule. For a scored run of size N, peak LR eta and T
steps, its *companions* are the runs of the same size and peak LR (any sweep) with
total_steps <= T / 2 and a final checkpoint: launched with the scored run, they would have
finished by the time it is half-way, so their whole curves (final losses included) are
known at forecast time. The law is fitted jointly to the scored run's first half and the
companions' complete curves, A, alpha, C shared, one L0 per run (sweeps differ by 0.01-0.03
nats at equal steps), by `scalinglaws.curves.fit_curves_shared` (variable projection: exact
in L0, A, C for each alpha, alpha profiled; no failed fits), and predicts with the scored
run's own L0. A complete cosine identifies C, which a half cosine barely does. Families:
`shared` (a run without companions gets the same fitter on its own first half, i.e. the
per-run law); `shared-anylr` (the same, but a run without same-LR companions takes the
finished shorter runs of its size at any peak LR, T_c <= T / 2); `shared-chrono` (companions
restricted to sweeps launched no later than the scored run's sweep, whose name starts with
its launch time: the actual chronology; diagnostic). The headline `all_selected` picks, per
size, among the per-run (`curve`, `vp run`), `shared` and `shared-anylr` variants by the
leave-largest-out rule below.

Variants, all reported (`VARIANTS`): the annealing momentum lambda = 0.999 (package default)
or 0.99, both within Tissue et al.'s stated range; with or without dropping the checkpoints
up to step 400 (the post-warmup transient) from every run of the fit, each for five fits: the
package's multi-start `fit_curves` per run (`curve lam=...`), the variable-projection fit per
run (`vp run`), and the `shared`, `shared-anylr` and `shared-chrono` fits.
Each `*_selected` column uses, for each model size, the variant of its family with the lowest
error on the runs of all *smaller* sizes (leave-largest-out: their final losses are known,
as for the Chinchilla baseline); no held-out final loss of the size being scored is used.
Diagnostics: one law per size across learning rates and lengths (`curve_joint`); for runs
flagged unstable, a refit on the checkpoints after the last rise, and the size-level law
(Chinchilla on smaller models) in place of the run's own curve. Baselines, on the same runs:
(1) a per-run power law in steps, L = E + A s^-a, fitted on the same checkpoints (the scored
run's first half); (2) the Chinchilla law fitted on the final losses of all smaller models.
A stronger diagnostic baseline, `chinchilla_plus_companions`, adds the final losses of the
scored run's companions (the same extra information the shared fit uses).

Run: `python benchmarks/curve_forecast.py [--quick]` (prints a table and the MAREs; about
5 minutes on one core; `--fast` skips the slow multi-start fits, about 1 minute). To split
the work: `--models 12m,17m --save a.csv` in several processes, then `--summarize a.csv b.csv`.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import scalinglaws as sl
from scalinglaws.curves import Schedule, fit_curves, fit_curves_shared
from scalinglaws.laws import PowerLaw

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "misfitting_li" / "misfitting_normalized.csv"
WARMUP, FINAL_RATIO = 50, 0.1


def load(min_checkpoints_half: int) -> pd.DataFrame:
    frame = pd.read_csv(DATA)
    frame["run"] = (
        frame["model"] + "|" + frame["sweep"] + "|" + frame["peak_lr"].astype(str) + "|" + frame["total_steps"].astype(str)
    )
    frame["step"] = frame["current_steps"].astype(int)
    # A few checkpoints are logged twice (resumed jobs): keep the last row per (run, step).
    frame = frame.drop_duplicates(["run", "step"], keep="last")
    half = frame[frame["portion_steps_elapsed"] <= 0.5].groupby("run")["step"].nunique()
    keep = half[half >= min_checkpoints_half].index
    frame = frame[frame["run"].isin(keep)]
    # Runs must end with a final checkpoint to score the forecast.
    finals = frame[frame["is_final"] == 1]["run"].unique()
    return frame[frame["run"].isin(finals)].reset_index(drop=True)


def schedules(frame: pd.DataFrame) -> dict[str, Schedule]:
    first = frame.groupby("run").first()
    return {
        rid: Schedule("cosine", peak=float(r.peak_lr), total_steps=int(r.total_steps), warmup=WARMUP,
                      final=FINAL_RATIO * float(r.peak_lr))
        for rid, r in first.iterrows()
    }


# Variants of the curve-law fit tried on every run. Tissue et al. 2024 use lambda between
# 0.99 and 0.999 (0.999 in most fits) and fit after the warmup transient; these runs are
# short (1,800 to 20,000 steps), so a 1,000-step momentum memory (0.999) may be too long.
# The first variant is the package default; none is chosen by looking at held-out losses:
# see `select_variants`.
VARIANTS = [(0.999, 0), (0.999, 400), (0.99, 0), (0.99, 400)]
BURN_MIN_LEFT = 4  # a burn-in is skipped when it would leave fewer checkpoints than this
# A first-half curve that rises by more than this between consecutive checkpoints is a
# training instability (only the 1B run at lr 4e-3 qualifies: a 3,000-step plateau near
# 6 nats); the largest rise in any other run is 0.005 nats. Decided on first halves only.
UNSTABLE_RISE = 0.01


def variant_name(lam: float, burn: int) -> str:
    return f"curve lam={lam:g} burn={burn}"


def fit_variant(run_train: pd.DataFrame, s: Schedule, rid: str, lam: float, burn: int):
    query = None
    if burn and int((run_train["step"] > burn).sum()) >= BURN_MIN_LEFT:
        query = f"step > {burn}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cf = fit_curves(run_train, "lr-annealing", schedule={rid: s}, lam=lam, query=query, starts=64)
    return float(sl.curves.predict_curve(cf, s, steps=[s.total_steps])["loss"].iloc[0]), cf.converged


def shared_name(lam: float, burn: int) -> str:
    return f"shared lam={lam:g} burn={burn}"


def vp_name(lam: float, burn: int) -> str:
    return f"vp run lam={lam:g} burn={burn}"


def chrono_name(lam: float, burn: int) -> str:
    return f"shared-chrono lam={lam:g} burn={burn}"


def after_name(lam: float, burn: int) -> str:
    return f"after-instability lam={lam:g} burn={burn}"


def anylr_name(lam: float, burn: int) -> str:
    return f"shared-anylr lam={lam:g} burn={burn}"


def companions(full: pd.DataFrame, model: str, peak: float | None, total_steps: int, launched_by: str | None = None) -> list[str]:
    """Runs that would have finished by the time the scored run is half-way: the same model
    size and peak learning rate (any sweep), total_steps <= 0.5 x the scored run's, with a
    final checkpoint. Their whole curves (final losses included) are known at forecast time
    if they were launched with the scored run. With `launched_by` (the scored run's sweep
    name, which starts with its launch time), only runs of sweeps launched no later than
    that: the actual chronology of the authors' runs."""
    first = full.groupby("run").first()
    pick = first[(first["model"] == model) & (first["total_steps"] <= 0.5 * total_steps)]
    if peak is not None:
        pick = pick[pick["peak_lr"] == peak]
    if launched_by is not None:
        pick = pick[pick["sweep"].str[:19] <= launched_by[:19]]
    return sorted(pick.index)


def fit_shared(run_train: pd.DataFrame, others: pd.DataFrame, sched: dict, rid: str, lam: float, burn: int) -> float:
    """Tissue et al.'s law with A, alpha, C shared by the scored run's first half and the
    complete curves of its `companions`, one offset L0 per run; predicts with the scored
    run's own offset. With no companions this is the per-run law fitted by the same
    (variable-projection) fitter. The burn-in drops checkpoints up to step `burn` of every
    run when at least BURN_MIN_LEFT of the scored run's checkpoints remain."""
    data = pd.concat([run_train, others], ignore_index=True)[["run", "step", "loss"]]
    if burn and int((run_train["step"] > burn).sum()) >= BURN_MIN_LEFT:
        data = data[data["step"] > burn]
    runs = data["run"].unique()
    cf = fit_curves_shared(data, schedule={r: sched[r] for r in runs}, lam=lam)
    return float(cf.predict(sched[rid], run=rid)[0])


def select_variants(out: pd.DataFrame, models: list[str], names: list[str] | None = None) -> dict[str, str]:
    """Leave-largest-out selection on training data only: the variant used for a model size
    is the one with the lowest mean error over all runs of strictly *smaller* sizes, whose
    whole curves (final losses included) are known by then -- the same information the
    Chinchilla baseline uses. The smallest size gets the package default (first variant)."""
    names = names or [variant_name(*v) for v in VARIANTS]
    chosen = {}
    for k, model in enumerate(models):
        smaller = out[out["model"].isin(models[:k])]
        if smaller.empty:
            chosen[model] = names[0]
            continue
        errors = {n: float((np.abs(smaller[n] - smaller["final"]) / smaller["final"]).mean()) for n in names}
        chosen[model] = min(errors, key=errors.get)
    return chosen


def main(quick: bool = False, only: list[str] | None = None, save: str | None = None, fast: bool = False) -> pd.DataFrame:
    frame = load(min_checkpoints_half=6)
    full = load(min_checkpoints_half=0)
    sched_all = schedules(full)
    all_final = pd.read_csv(DATA)
    all_final = all_final[all_final["is_final"] == 1]
    sched = schedules(frame)
    models = sorted(frame["model"].unique(), key=lambda m: frame.loc[frame["model"] == m, "N"].iloc[0])
    if quick:
        models = models[1:4]
    if only:
        models = [m for m in models if m.removeprefix("misfitting_") in only or m in only]
    rows = []
    clock = time.perf_counter()
    for model in models:
        part = frame[frame["model"] == model]
        train = part[part["portion_steps_elapsed"] <= 0.5]
        finals = part[part["is_final"] == 1].set_index("run")
        n_model = float(part["N"].iloc[0])
        cf = None
        if not fast:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cf = fit_curves(train, "lr-annealing", schedule={r: sched[r] for r in train["run"].unique()})
        smaller = all_final[all_final["N"] < n_model]
        chin_cache = {}
        chin = None
        if smaller["N"].nunique() >= 2:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                chin = sl.fit("chinchilla", smaller[["N", "D", "loss"]])
        for rid, final in finals.iterrows():
            s = sched[rid]
            pred_joint = sl.curves.predict_curve(cf, s, steps=[s.total_steps])["loss"].iloc[0] if cf is not None else np.nan
            run_train = train[train["run"] == rid].sort_values("step")
            row = {"model": model, "run": rid, "peak_lr": s.peak, "total_steps": s.total_steps,
                   "n_train": len(run_train), "final": final["loss"], "curve_joint": pred_joint,
                   "unstable": bool(run_train["loss"].diff().max() > UNSTABLE_RISE)}
            for lam, burn in VARIANTS if not fast else []:
                pred, ok = fit_variant(run_train, s, rid, lam, burn)
                row[variant_name(lam, burn)] = pred
                row[f"converged {variant_name(lam, burn)}"] = ok
            mates = companions(full, model, s.peak, s.total_steps)
            others = full[full["run"].isin(mates)]
            early = full[full["run"].isin(companions(full, model, s.peak, s.total_steps, launched_by=rid.split("|")[1]))]
            # Fallback family: with no same-LR companion, finished shorter runs of the same size at any peak LR.
            anylr = others if mates else full[full["run"].isin(companions(full, model, None, s.total_steps))]
            row["n_companions"] = len(mates)
            row["n_companions_chrono"] = early["run"].nunique()
            for lam, burn in VARIANTS:
                row[vp_name(lam, burn)] = fit_shared(run_train, others.iloc[:0], sched_all, rid, lam, burn)
                row[shared_name(lam, burn)] = fit_shared(run_train, others, sched_all, rid, lam, burn)
                row[chrono_name(lam, burn)] = fit_shared(run_train, early, sched_all, rid, lam, burn)
                row[anylr_name(lam, burn)] = fit_shared(run_train, anylr, sched_all, rid, lam, burn)
                # Runs flagged unstable: refit on the checkpoints after the last rise only.
                after = np.nan
                if row["unstable"]:
                    last = run_train["step"][run_train["loss"].diff() > UNSTABLE_RISE].max()
                    after = fit_shared(run_train[run_train["step"] > last], others.iloc[:0], sched_all, rid, lam, burn)
                row[after_name(lam, burn)] = after
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pw = sl.fit(PowerLaw.template(variable="D"), run_train.assign(D=run_train["step"].astype(float))[["D", "loss"]],
                            starts=64)
            row["power_steps"] = float(pw.law(D=float(s.total_steps)))
            row["chinchilla"] = float(chin.law(N=n_model, D=float(final["D"]))) if chin is not None else np.nan
            # Stronger diagnostic baseline with the same information as `shared`: Chinchilla on
            # the final losses of smaller models plus those of the scored run's companions.
            row["chinchilla_plus_companions"] = row["chinchilla"]
            if chin is not None and mates:
                key = tuple(mates)
                if key not in chin_cache:
                    extra = all_final[all_final["N"] == n_model].assign(run=lambda d: (
                        d["model"] + "|" + d["sweep"] + "|" + d["peak_lr"].astype(str) + "|" + d["total_steps"].astype(str)))
                    extra = extra[extra["run"].isin(mates)].drop_duplicates("run", keep="last")
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        chin_cache[key] = sl.fit("chinchilla", pd.concat([smaller, extra])[["N", "D", "loss"]])
                row["chinchilla_plus_companions"] = float(chin_cache[key].law(N=n_model, D=float(final["D"])))
            rows.append(row)
        print(f"{model}: {len(finals)} runs, joint curve law {'skipped' if cf is None else 'converged' if cf.converged else 'DID NOT CONVERGE'}, "
              f"{time.perf_counter() - clock:.0f} s", flush=True)
    out = pd.DataFrame(rows)
    if save:
        out.to_csv(save, index=False)
    return summarize(out)


def summarize(out: pd.DataFrame) -> pd.DataFrame:
    """Select the variant per size, print the per-size table and the MAREs."""
    sizes = out.groupby("model")["run"].first().index
    n_of = load(min_checkpoints_half=6).groupby("model")["N"].first()
    models = sorted(sizes, key=lambda m: n_of[m])
    names = [variant_name(*v) for v in VARIANTS if variant_name(*v) in out]
    vps, shared, chrono, anylr = ([f(*v) for v in VARIANTS if f(*v) in out]
                                  for f in (vp_name, shared_name, chrono_name, anylr_name))
    pools = {"shared_selected": shared, "chrono_selected": chrono, "anylr_selected": anylr, "vp_selected": vps, "curve_selected": names,
             "all_selected": names + vps + shared + anylr}
    chosen_by = {}
    for column, pool in pools.items():
        if not pool:
            continue
        chosen_by[column] = select_variants(out, models, pool)
        out[column] = [row[chosen_by[column][row["model"]]] for _, row in out.iterrows()]
    # Diagnostic hybrid (not the headline): runs flagged unstable on their first half are
    # forecast by the size-level law (Chinchilla on smaller models) instead of their own curve.
    out["shared_selected_or_chinchilla_if_unstable"] = np.where(out["unstable"], out["chinchilla"], out["shared_selected"])
    # Diagnostic: unstable runs refitted on their checkpoints after the last rise (same variant).
    refit = [row[chosen_by["shared_selected"][row["model"]].replace("shared", "after-instability")] for _, row in out.iterrows()]
    out["shared_selected_refit_after_instability"] = np.where(out["unstable"], refit, out["shared_selected"])
    columns = ([c for c in pools if c in out] + ["shared_selected_or_chinchilla_if_unstable",
                                                  "shared_selected_refit_after_instability"] + shared + chrono + anylr + vps
               + names + ["curve_joint", "power_steps", "chinchilla", "chinchilla_plus_companions"])
    for name in columns:
        out[f"are {name}"] = np.abs(out[name] - out["final"]) / out["final"]
    scored = out[np.isfinite(out["chinchilla"])]
    stable = scored[~scored["unstable"]]
    pd.set_option("display.width", 250)
    pd.set_option("display.max_columns", 40)
    table = scored.groupby("model")[[f"are {c}" for c in columns]].mean().round(4)
    table.columns = [c.removeprefix("are ") for c in table.columns]
    print(table.T.to_string())
    print("\nvariant chosen per size (leave-largest-out on smaller sizes' runs; no held-out loss used):")
    for model in models:
        print(f"  {model:<16} " + "; ".join(f"{k}: {v[model]}" for k, v in chosen_by.items()))
    with_mates = scored[scored["n_companions"] > 0]
    print(f"\nMARE of the final loss over {len(scored)} runs of {scored['model'].nunique()} sizes with smaller models "
          f"(and over the {len(stable)} runs without a first-half instability; and over the {len(with_mates)} runs "
          f"with at least one finished shorter run of the same size and peak LR):")
    for name in columns:
        print(f"  {name:<42} {scored[f'are {name}'].mean():.4f}   {stable[f'are {name}'].mean():.4f}"
              f"   {with_mates[f'are {name}'].mean():.4f}")
    for name in names:
        bad = int((~out[f"converged {name}"].astype(bool)).sum())
        print(f"  {name}: {bad} of {len(out)} per-run fits did not converge")
    print(f"  unstable runs (first-half loss rises > {UNSTABLE_RISE} nats): {list(out.loc[out['unstable'], 'run'])}")
    return out


def approaches(n_bootstrap: int = 300) -> None:
    """Approach 1 (envelope), 2 (isoFLOP slices of the same curves) and 3 (Chinchilla fit on
    the same checkpoints, read backwards) on Hitchhiker's GPT-3 subset and (Mis)Fitting."""
    from scalinglaws.allocate import exponents_from_law, isoflop_analysis
    from scalinglaws.curves import envelope_analysis, isoflop_slices

    hh = pd.read_csv(DATA.parents[1] / "hitchhiker_colpret" / "hitchhiker_subset_long.csv")
    gpt3 = hh[(hh["family"] == "GPT3") & hh["loss_kind"].str.contains("val", case=False)]
    gpt3 = gpt3.rename(columns={"model_name": "run"})[["run", "N", "D", "C", "loss"]]
    mis = load(min_checkpoints_half=0)[["run", "N", "D", "loss"]]
    for name, data in (("hitchhiker GPT-3 (val loss)", gpt3), ("(Mis)Fitting, all runs", mis)):
        env = envelope_analysis(data, n_bootstrap=n_bootstrap)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            law = sl.fit("chinchilla", data[["N", "D", "loss"]]).law
            a3 = exponents_from_law(law)["a"]
            try:
                a2 = isoflop_analysis(isoflop_slices(data, n_budgets=8), window=None).a
            except ValueError as error:
                a2 = f"n/a ({str(error)[:60]})"
        print(f"{name}: Approach 1 a = {env.a:.3f} [90% {env.a_interval[0]:.3f}, {env.a_interval[1]:.3f}] "
              f"({env.n_sizes} sizes); Approach 2 (slices) a = {a2 if isinstance(a2, str) else f'{a2:.3f}'}; "
              f"Approach 3 a = {a3:.3f}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="three model sizes only")
    parser.add_argument("--approaches", action="store_true", help="only Approaches 1-3 on both data sets")
    parser.add_argument("--models", help="comma-separated sizes to run (e.g. 12m,17m), to split the work")
    parser.add_argument("--fast", action="store_true", help="skip the slow multi-start fits (exploration only)")
    parser.add_argument("--save", help="write the per-run predictions to this CSV")
    parser.add_argument("--summarize", nargs="+", help="only summarise per-run CSVs written by --save")
    args = parser.parse_args()
    if args.approaches:
        approaches()
    elif args.summarize:
        summarize(pd.concat([pd.read_csv(p) for p in args.summarize], ignore_index=True))
    else:
        main(args.quick, args.models.split(",") if args.models else None, args.save, args.fast)
