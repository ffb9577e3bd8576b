"""`scalinglaws curves fit|predict|schedule`: loss-curve laws over learning-rate schedules."""

from __future__ import annotations

import json

import click

from ._common import column_option, parse_columns, print_json, warn_once

_SCHEDULE_HELP = "Schedule of the new run: cosine, wsd or constant."


def _schedule_options(function):
    options = [
        click.option("--schedule", "kind", type=click.Choice(["cosine", "wsd", "constant"]), default="wsd",
                     show_default=True, help=_SCHEDULE_HELP),
        click.option("--peak", type=float, required=True, help="Peak learning rate."),
        click.option("--steps", "total_steps", type=int, required=True, help="Total optimiser steps."),
        click.option("--warmup", type=int, default=0, show_default=True, help="Linear warmup steps."),
        click.option("--final", type=float, default=0.0, show_default=True, help="Final learning rate."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


@click.group("curves", short_help="Loss curves: fit, predict and choose learning-rate schedules.")
def curves_group() -> None:
    """Loss curves under learning-rate schedules (Tissue et al. 2024; Luo et al. 2025)."""


def _load_fit(path, *, with_replicates: bool = False):
    """A curve fit saved by `curves fit --out` (JSON: law name, coefficients, lambda and,
    after `--bootstrap`, the replicates' coefficients and the residual scatter; data only).

    Returns `(law, lambda)`, or with `with_replicates=True` `(law, lambda, replicates (a
    batched law or None), residual_sd)`."""
    import numpy as np

    from scalinglaws.laws import resolve_law, validate_coefficients

    source = f"--fit {path!r}"
    try:
        with open(path) as handle:
            document = json.load(handle)
        # A file is data: its law is resolved by registered name, never imported (issue 9).
        cls, static = resolve_law(str(document["law"]), source=source)
        template = cls.template(**static)
        values = validate_coefficients(cls, document["coefficients"], source=source)
        lam = float(document["lambda"])
        boot = document.get("replicates")
        columns = None
        if boot is not None:
            columns = {str(k): np.asarray(v, dtype=float) for k, v in dict(boot).items()}
            sizes = {c.shape for c in columns.values()}
            if len(sizes) != 1 or len(next(iter(sizes))) != 1 or next(iter(sizes))[0] < 2:
                raise ValueError("replicates: expected equally long lists of at least 2 values per coefficient")
            for i in range(next(iter(sizes))[0]):  # every replicate inside the law's supports
                validate_coefficients(cls, {k: float(v[i]) for k, v in columns.items()}, source=f"{source} replicate {i}")
        residual_sd = float(document.get("residual_sd", 0.0))
        if not (np.isfinite(residual_sd) and residual_sd >= 0):
            raise ValueError(f"residual_sd={residual_sd!r} is not a non-negative number")
    except (OSError, KeyError, TypeError, ValueError, json.JSONDecodeError) as error:
        raise ValueError(f"{source}: not a curve fit written by `scalinglaws curves fit --out` ({error}).") from None
    names = set(template.coefficient_names())
    if set(values) != names or (columns is not None and set(columns) != names):
        raise ValueError(f"{source}: coefficients {sorted(values)} do not match the law {document['law']!r}.")
    law = template.replace(**values)
    if not with_replicates:
        return law, lam
    replicates = None if columns is None else template.replace(**columns)
    return law, lam, replicates, residual_sd


@curves_group.command("fit")
@click.argument("data")
@click.option("--law", "law_name", default="lr-annealing", show_default=True,
              help="lr-annealing (Tissue et al.), lr-annealing-n (joint across N) or multi-power (Luo et al.).")
@click.option("--run", default="run", show_default=True, help="Column of run ids.")
@click.option("--step", default="step", show_default=True, help="Column of optimiser steps.")
@click.option("--lr", default="lr", show_default=True, help="Learning-rate column (if no schedule columns).")
@click.option("--lam", type=float, default=0.999, show_default=True, help="Annealing momentum decay lambda.")
@click.option("--query", default=None, help="Row filter, pandas syntax.")
@click.option("--bootstrap", "n_boot", type=int, default=0, help="Bootstrap over runs with this many resamples.")
@click.option("--plot", "plot_path", default=None, type=click.Path(dir_okay=False),
              help="Save observed vs fitted curves here.")
@click.option("--out", default=None, type=click.Path(dir_okay=False), help="Write the fit (JSON) here.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@column_option
def fit_command(data, law_name, run, step, lr, lam, query, n_boot, plot_path, out, as_json, column_map):
    """Fit a loss-curve law to the checkpoints in DATA (CSV: run, step, loss, and a learning-rate
    column or schedule columns schedule/peak_lr/total_steps/warmup/final_lr)."""
    from scalinglaws.curves import bootstrap_curves, fit_curves
    from scalinglaws.output import check_writable

    if out:
        check_writable(out, "--out")  # before the fit, not after it
    if plot_path:
        check_writable(plot_path, "--plot", figure=True)
    cf = fit_curves(data, law_name, run=run, step=step, lr=lr, lam=lam, query=query, columns=parse_columns(column_map))
    if n_boot:
        cf = bootstrap_curves(cf, n=n_boot)
    document = {
        "law": law_name, "coefficients": cf.result.coefficients, "lambda": cf.lam,
        "converged": cf.converged, "message": cf.result.message, "n_checkpoints": len(cf.table),
        "n_runs": int(cf.table[run].nunique()), "residual_sd": cf.residual_sd,
    }
    if cf.replicates is not None:
        import numpy as np

        document["bootstrap_over_runs"] = {
            k: [float(q) for q in np.nanquantile(np.asarray(v), [0.05, 0.95])] for k, v in cf.replicates.coefficients.items()
        }
    if out:
        from scalinglaws.output import write_text

        import numpy as np

        saved = {k: document[k] for k in ("law", "coefficients", "lambda", "residual_sd")}
        if cf.replicates is not None:
            # The bootstrap's coefficients, so that `curves predict` can give intervals.
            saved["replicates"] = {
                k: [float(v) for v in np.asarray(getattr(cf.replicates, k)).ravel()]
                for k in cf.law.coefficient_names()
            }
        write_text(out, json.dumps(saved, indent=2), "--out")
    if plot_path:
        import matplotlib

        matplotlib.use("Agg")
        from scalinglaws.curves import plot_curves

        from scalinglaws.output import save_figure

        save_figure(plot_curves(cf).figure, plot_path, "--plot", dpi=120)
    if as_json:
        print_json(document)
    else:
        click.echo(cf.summary())
        if not cf.converged:
            warn_once("the fit did not converge; do not use its predictions.")


@curves_group.command("predict")
@click.option("--fit", "fit_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="A curve fit from `curves fit --out`.")
@_schedule_options
@click.option("--decay-fraction", type=float, default=0.2, show_default=True, help="WSD: fraction of steps decaying.")
@click.option("--points", type=int, default=20, show_default=True, help="Checkpoints to print.")
@click.option("--level", type=float, default=0.9, show_default=True, help="Interval probability (fits saved after --bootstrap).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON rows.")
def predict_command(fit_path, kind, peak, total_steps, warmup, final, decay_fraction, points, level, as_json):
    """Predict the whole loss curve of a run under a new schedule. With a fit saved after
    `curves fit --bootstrap N --out`, each checkpoint also gets the bootstrap interval of the
    law (`lower`/`upper`, parameter uncertainty from resampling runs) and the predictive
    interval of a new checkpoint's loss (`pred_lower`/`pred_upper`: plus the checkpoints'
    scatter); otherwise the law's point prediction only."""
    import numpy as np

    from scalinglaws.curves import Schedule, curve_with_intervals

    if not 0 < level < 1:
        raise click.BadParameter(f"{level!r}: expected a probability in (0, 1), e.g. 0.9.", param_hint="--level")
    law, lam, replicates, residual_sd = _load_fit(fit_path, with_replicates=True)
    sched = Schedule(kind, peak, total_steps, warmup=warmup, final=final, decay_fraction=decay_fraction)
    steps = np.unique(np.linspace(1, total_steps, points).round().astype(int))
    frame = curve_with_intervals(
        law, sched, lam=lam, n_terms=getattr(law, "n_terms", None), replicates=replicates,
        residual_sd=residual_sd, steps=steps, level=level,
    )
    columns = ["step", "lr", "loss"] + (["lower", "upper", "pred_lower", "pred_upper"] if replicates is not None else [])
    rows = [{c: (int(r[c]) if c == "step" else float(r[c])) for c in columns} for _, r in frame.iterrows()]
    if replicates is None:
        interval = "none (point prediction; save the fit after --bootstrap N for intervals)"
    else:
        n_rep = int(np.shape(getattr(replicates, law.coefficient_names()[0]))[0])
        interval = (
            f"{level:g} bootstrap interval of the law over {n_rep} replicates (lower/upper) and predictive "
            "interval of a new checkpoint's loss (pred_lower/pred_upper)"
        )
    if as_json:
        print_json({"schedule": kind, "rows": rows, "interval": interval})
    else:
        click.echo(f"{'step':>8} {'lr':>12} {'loss':>10}" + ("".join(f" {c:>10}" for c in columns[3:])))
        for row in rows:
            click.echo(f"{row['step']:>8d} {row['lr']:>12.4g} {row['loss']:>10.5f}"
                       + "".join(f" {row[c]:>10.5f}" for c in columns[3:]))
        click.echo(f"interval: {interval}")


@curves_group.command("schedule")
@click.option("--fit", "fit_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="A curve fit from `curves fit --out`.")
@click.option("--peak", type=float, required=True, help="Peak learning rate.")
@click.option("--steps", "total_steps", type=int, required=True, help="Total step budget.")
@click.option("--warmup", type=int, default=0, show_default=True, help="Linear warmup steps.")
@click.option("--final", type=float, default=0.0, show_default=True, help="Final learning rate.")
@click.option("--decay-shape", type=click.Choice(["linear", "cosine"]), default="linear", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def schedule_command(fit_path, peak, total_steps, warmup, final, decay_shape, as_json):
    """The WSD decay start and length that minimise the predicted final loss for a step budget."""
    from scalinglaws.curves import optimize_decay

    law, lam = _load_fit(fit_path)
    out = optimize_decay(law, total_steps=total_steps, peak=peak, warmup=warmup, final=final,
                         decay_shape=decay_shape, lam=lam)
    grid = out.pop("grid")
    if as_json:
        out["tradeoff"] = grid.to_dict(orient="list")
        print_json(out)
    else:
        click.echo(
            f"decay the last {out['decay_steps']} of {total_steps} steps (fraction {out['decay_fraction']:.4f}, "
            f"start after step {out['decay_start']}); predicted final loss {out['final_loss']:.5f}"
        )


def register(group: click.Group) -> None:
    group.add_command(curves_group)
