"""`scalinglaws mix`: fit data-mixing laws, predict mixtures, optimise the mixture."""

from __future__ import annotations

import click

from ._common import POSITIVE, checked, column_option, parse_assignments, parse_columns, print_json, warn_once


@click.group("mix", short_help="Data-mixture laws: fit, predict and optimise mixtures.")
def mix_group():
    """Data-mixture laws (Ye et al. 2024) and the gradient mixture optimiser."""


@mix_group.command("fit")
@click.argument("data")
@click.option("--weights", default="w_*", show_default=True, help="Glob of the weight columns; '*' names the domain.")
@click.option("--losses", default="loss_*", show_default=True, help="Glob of the loss columns to fit.")
@click.option("--query", default=None, help="Row filter, pandas syntax.")
@click.option("--law", "law_name", default="sqrt", show_default=True,
              help="Mixing law: ye (Ye et al. 2024), sqrt (with sqrt terms), scaled, or module:Class.")
@click.option("--normalize", is_flag=True, help="Rescale weight rows that do not sum to 1.")
@click.option("--starts", type=int, default=256, show_default=True, help="Random starts per target.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Write the fit here (atomically).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@column_option
def fit_command(data, weights, losses, query, law_name, normalize, starts, seed, out, as_json, column_map):
    """Fit a mixing law to every loss column of DATA (CSV path or dataset name).

    Example: scalinglaws mix fit regmix --query "model_scale == '1M' and split == 'train'" --out mix.json
    """
    import numpy as np

    from scalinglaws.mixture import fit_mixture, save_mixture_fit
    from scalinglaws.output import check_writable

    check_writable(out, "--out")  # before the fit, not after it
    if starts < 1:
        raise click.BadParameter(f"need at least one start, got {starts}", param_hint="--starts")
    data = _with_columns(data, column_map)
    fit = fit_mixture(law_name, data, weights=weights, losses=losses, query=query, normalize=normalize,
                      starts=starts, seed=seed)
    document = checked({
        "law": type(fit.law).__name__,
        "domains": list(fit.domains),
        "targets": list(fit.targets),
        "objective": dict(zip(fit.targets, np.asarray(fit.objective).tolist())),
        "converged": dict(zip(fit.targets, np.asarray(fit.converged).tolist())),
        "coefficients": {k: np.asarray(v).tolist() for k, v in fit.law.coefficients.items()},
        "n_points": fit.n_points,
    })  # NaN/inf is an error before the file is written
    save_mixture_fit(fit, out, data=str(data), query=query, weights=weights, losses=losses)
    if as_json:
        document.pop("coefficients")
        print_json({**document, "out": out})
    else:
        click.echo(fit.summary())
        click.echo(f"\nwrote {out}")
    if not bool(fit.converged.all()):
        warn_once("some targets did not converge; try more --starts.")


@mix_group.command("predict")
@click.argument("fit_file", metavar="FILE")
@click.argument("data")
@click.option("--query", default=None, help="Row filter, pandas syntax.")
@click.option("--normalize", is_flag=True, help="Rescale weight rows that do not sum to 1.")
@click.option("--json", "as_json", is_flag=True, help='Print {"predictions": [{loss_column: value}, ...]}.')
@click.option("--plot", default=None, type=click.Path(dir_okay=False),
              help="Save predicted against actual (needs the loss columns in DATA).")
@column_option
@click.option("--allow-import", is_flag=True, help="Let FILE name a module to import (trusted files only).")
def predict_command(fit_file, data, query, normalize, as_json, plot, column_map, allow_import=False):
    """Predict every fitted loss column for the mixtures in DATA, in row order."""
    import numpy as np

    import scalinglaws as sl
    from scalinglaws.mixture import load_mixture_fit, spearman
    from scalinglaws.output import check_writable

    if plot:
        check_writable(plot, "--plot", figure=True)
    fit = load_mixture_fit(fit_file, allow_import=allow_import)
    runs = sl.load_runs(data, query=query, columns=parse_columns(column_map), argument="DATA")
    predicted = fit.predict(runs, normalize=normalize)
    rows = [{t: float(predicted[t][i]) for t in fit.targets} for i in range(len(runs))]
    document = {"predictions": rows}
    present = [t for t in fit.targets if t in runs.columns]
    if present:
        rho = {t: spearman(predicted[t], runs[t]) for t in present} if len(runs) >= 2 else {}
        undefined = [t for t in present if not np.isfinite(rho.get(t, np.nan))]
        if undefined:  # fewer than two rows, or constant values: no rank correlation to report
            warn_once(
                f"Spearman's rank correlation is undefined for {undefined} (it needs at least two rows "
                "with distinct values); it is left out."
            )
        if len(undefined) < len(present):
            document["spearman"] = {t: rho[t] for t in present if t not in undefined}
    document = checked(document)
    if plot:
        if not present:
            raise click.UsageError(f"--plot: DATA has none of the loss columns {list(fit.targets)} to compare with.")
        import matplotlib

        matplotlib.use("Agg")
        from scalinglaws.mixture import plot_predicted_vs_actual

        figure = plot_predicted_vs_actual({t: predicted[t] for t in present}, {t: runs[t] for t in present})
        from scalinglaws.output import save_figure

        save_figure(figure, plot, "--plot", dpi=120)
    if as_json:
        print_json(document)
    else:
        for t in fit.targets:
            line = f"{t:<28s} mean predicted {np.mean(predicted[t]):.4f}"
            if t in document.get("spearman", {}):
                line += f"   Spearman {document['spearman'][t]:.4f}"
            click.echo(line)


@mix_group.command("optimize")
@click.argument("fit_file", metavar="FILE")
@click.option("--target", default="mean", show_default=True, help="Loss column (or domain), 'mean' or 'max'.")
@click.option("--min", "minimum", multiple=True, metavar="DOMAIN=W", help="Minimum weight (repeatable).")
@click.option("--max", "maximum", multiple=True, metavar="DOMAIN=W", help="Maximum weight (repeatable).")
@click.option("--tokens", type=POSITIVE, default=None, help="Planned total training tokens.")
@click.option("--available", multiple=True, metavar="DOMAIN=U", help="Unique tokens of a domain (repeatable).")
@click.option("--max-epochs", type=POSITIVE, default=None, help="At most this many passes over a domain (default 4 with --tokens).")
@click.option("--at", "covariates", multiple=True, metavar="NAME=VALUE", help="Other inputs of the law, e.g. N=1e9.")
@click.option("--within-range", is_flag=True,
              help="Bound each domain by the largest weight it had in the fitted runs (no extrapolation).")
@click.option("--restarts", type=int, default=32, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help='Print {"weights": {...}, "predicted": {...}}.')
@click.option("--plot", default=None, type=click.Path(dir_okay=False), help="Save the weights as a bar chart.")
@click.option("--allow-import", is_flag=True, help="Let FILE name a module to import (trusted files only).")
def optimize_command(fit_file, target, minimum, maximum, tokens, available, max_epochs, covariates, within_range,
                     restarts, seed, as_json, plot, allow_import=False):
    """Find the mixture minimising the fitted law's predicted TARGET loss."""
    from scalinglaws.mixture import load_mixture_fit, optimize_mixture
    from scalinglaws.output import check_writable, save_figure

    if plot:
        check_writable(plot, "--plot", figure=True)
    fit = load_mixture_fit(fit_file, allow_import=allow_import)
    given = parse_assignments(covariates, "--at", numeric=True)
    unused = [name for name in given if name not in fit.extra_inputs]
    if unused:  # never silently ignored (issue 12)
        reads = list(fit.extra_inputs) or "no inputs besides the weights"
        raise click.UsageError(f"--at {', '.join(unused)}: the fitted law reads {reads}; remove it.")
    missing = [name for name in fit.extra_inputs if name not in given]
    if missing:
        raise click.UsageError(
            "the fitted law also reads " + ", ".join(missing) + "; give " + " ".join(f"--at {n}=VALUE" for n in missing)
        )
    if restarts < 1:
        raise click.BadParameter(f"need at least one restart, got {restarts}", param_hint="--restarts")
    kwargs = dict(
        minimum=parse_assignments(minimum, "--min", numeric=True),
        maximum=parse_assignments(maximum, "--max", numeric=True),
        tokens=tokens,
        available=parse_assignments(available, "--available", numeric=True) or None,
        covariates=parse_assignments(covariates, "--at", numeric=True) or None,
        within_range=within_range, restarts=restarts, seed=seed,
    )
    if max_epochs is not None:
        kwargs["max_epochs"] = max_epochs
    plan = optimize_mixture(fit, target, **kwargs)
    document = checked(plan.as_dict())
    if plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from scalinglaws.mixture import plot_weights

        ax = plot_weights(plan.weights, title=f"optimal mixture ({plan.target})")
        ax.figure.tight_layout()
        save_figure(ax.figure, plot, "--plot", dpi=120)
        plt.close(ax.figure)
    if as_json:
        print_json(document)
    else:
        click.echo(f"optimal mixture for {plan.target} (predicted {plan.objective:.5f}):")
        for d, w in sorted(plan.weights.items(), key=lambda kv: -kv[1]):
            click.echo(f"  {d:<24s} {w:.4f}")
        click.echo("predicted losses:")
        for t, v in plan.predicted.items():
            click.echo(f"  {t:<28s} {v:.4f}")


def _with_columns(data, column_map):
    if not column_map:
        return data
    from scalinglaws.data import load_runs

    return load_runs(data, columns=parse_columns(column_map), argument="DATA")


def register(group: click.Group) -> None:
    group.add_command(mix_group)
