"""`scalinglaws fit`: fit a law to runs."""

from __future__ import annotations

import click

from ._common import parse_assignments, print_json, progress_printer


@click.command("fit")
@click.argument("data")
@click.option("--law", "law_name", required=True, help="Law name (see `scalinglaws laws`) or module:Class.")
@click.option("--query", default=None, help='Row filter, pandas syntax, e.g. "C < 1e21".')
@click.option("--target", default=None, help="Column to fit (default: the law's target, usually loss).")
@click.option("--loss", type=click.Choice(["huber", "squared"]), default="huber", show_default=True)
@click.option("--delta", type=float, default=1e-3, show_default=True, help="Huber threshold on log residuals.")
@click.option("--starts", default="grid", show_default=True, help="'grid' or a number of random starts.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--weights", default=None, help="Column of per-run weights.")
@click.option("--fix", multiple=True, metavar="NAME=VALUE", help="Hold a coefficient fixed (repeatable).")
@click.option("--tie", multiple=True, metavar="NAME=NAME", help="Tie a coefficient to another, e.g. beta=alpha.")
@click.option("--holdout-above", type=float, default=None, help="Fit on runs with C <= this; report error above.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--out", default=None, type=click.Path(dir_okay=False), help="Write the fit here (atomically).")
@click.option("--quiet", is_flag=True, help="No progress messages on stderr.")
def fit_command(
    data, law_name, query, target, loss, delta, starts, seed, weights, fix, tie, holdout_above, as_json, out, quiet
):
    """Fit a law to the runs in DATA (a CSV path or a built-in dataset name).

    Example: scalinglaws fit chinchilla --law chinchilla --query "epoch_default_included == 1"
    """
    import scalinglaws as sl
    from scalinglaws.io import fit_to_dict, save_fit

    fixed = parse_assignments(fix, "--fix", numeric=True)
    tied = parse_assignments(tie, "--tie", numeric=False)
    if starts != "grid":
        try:
            starts = int(starts)
        except ValueError:
            raise click.BadParameter(f"expected 'grid' or an integer, got {starts!r}", param_hint="--starts") from None
    kwargs = dict(
        target=target, loss=loss, delta=delta, starts=starts, seed=seed, weights=weights,
        fix=fixed, tie=tied, progress=progress_printer(not quiet),
    )
    report = None
    if holdout_above is not None:
        report = sl.holdout(law_name, data, query=query, above=holdout_above, **kwargs)
        result = report.fit
    else:
        result = sl.fit(law_name, data, query=query, **kwargs)
    if out:
        save_fit(result, out, data=str(data), query=query)
    if as_json:
        document = fit_to_dict(result)
        if report is not None:
            document["holdout"] = report.as_dict()
        if out:
            document["out"] = out
        print_json(document)
    else:
        click.echo(result.summary())
        if report is not None:
            click.echo(
                f"\nheld out {report.n_test} runs with C > {report.threshold:.3g} "
                f"(fit on {report.n_train}): mean |rel. error| {report.mean_abs_rel_error:.4%}, "
                f"max {report.max_abs_rel_error:.4%}"
            )
        if out:
            click.echo(f"\nwrote {out}")
    if not bool(result.converged):
        click.echo(f"warning: {result.message}", err=True)


def register(group: click.Group) -> None:
    group.add_command(fit_command)
