"""`scalinglaws fit`: fit a law to runs."""

from __future__ import annotations

import click

from ._common import (
    checked,
    column_option,
    drop_none,
    parse_assignments,
    parse_columns,
    print_json,
    progress_printer,
    warn_once,
)


@click.command("fit")
@click.argument("data")
@click.option("--law", "law_name", required=True, multiple=True,
              help="Law name (see `scalinglaws laws`) or module:Class; repeat it to fit several laws (with --by: "
                   "every group x every law).")
@click.option("--by", default=None, help="Fit every group of this column separately, in one batched call.")
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
@click.option("--group", default=None, help="Column identifying the run of each row (checkpoints).")
@click.option("--max-steps", type=click.IntRange(min=1), default=1000, show_default=True,
              help="BFGS steps per refined start.")
@click.option("--max-rounds", type=click.IntRange(min=1), default=3, show_default=True,
              help="Rounds of refinement (each refines the next-best screened starts).")
@column_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--out", default=None, type=click.Path(dir_okay=False), help="Write the fit here (atomically).")
@click.option("--quiet", is_flag=True, help="No progress messages on stderr.")
def fit_command(
    data, law_name, query, target, loss, delta, starts, seed, weights, fix, tie, holdout_above, as_json, out, quiet,
    max_steps, max_rounds, column_map, group, by,
):
    """Fit a law to the runs in DATA (a CSV path or a built-in dataset name).

    Example: scalinglaws fit chinchilla --law chinchilla --query "epoch_default_included == 1"

    Your own column names: --column params=N --column tokens=D --column final_loss=loss.
    """
    import scalinglaws as sl
    from scalinglaws.io import fit_to_dict, save_fit
    from scalinglaws.output import check_writable

    if out:
        check_writable(out, "--out")  # before the fit, not after it

    fixed = parse_assignments(fix, "--fix", numeric=True)
    tied = parse_assignments(tie, "--tie", numeric=False)
    if starts != "grid":
        try:
            starts = int(starts)
        except ValueError:
            raise click.BadParameter(f"expected 'grid' or an integer, got {starts!r}", param_hint="--starts") from None
        if starts < 1:
            raise click.BadParameter(f"expected 'grid' or a positive integer, got {starts}", param_hint="--starts")
    if not (0 < delta < float("inf")):
        raise click.BadParameter(f"the Huber threshold must be a positive number, got {delta}", param_hint="--delta")
    kwargs = dict(
        target=target, loss=loss, delta=delta, starts=starts, seed=seed, weights=weights,
        fix=fixed, tie=tied, progress=progress_printer(not quiet),
        max_steps=max_steps, max_rounds=max_rounds, columns=parse_columns(column_map), group=group,
    )
    if by is not None or len(law_name) > 1:  # a sweep: every group x every law
        from scalinglaws.fit import sweep

        from ._sweep import sweep_output

        if holdout_above is not None or out:
            raise click.UsageError("--holdout-above and --out take one law and no --by; for a sweep of "
                                   "held-out checks use `scalinglaws holdout --per COLUMN`.")
        sweep_output(sweep(list(law_name), data, by=by, query=query, **kwargs), as_json)
        return
    law_name = law_name[0]
    report = None
    if holdout_above is not None:
        # The same code as `scalinglaws holdout`, without intervals (errors only, as before).
        report = sl.holdout(law_name, data, query=query, above=holdout_above, interval="none", **kwargs)
        result = report.fit
    else:
        result = sl.fit(law_name, data, query=query, **kwargs)
    # Refuse NaN/inf before anything is written or printed.
    document = fit_to_dict(result)
    if report is not None:
        document["holdout"] = report.as_dict()
    document = drop_none(checked(document))  # settings that do not apply are left out, not null
    if out:
        save_fit(result, out, data=str(data), query=query)
    if as_json:
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
        warn_once(result.message)  # once: the fitter's ConvergenceWarning has the same text


def register(group: click.Group) -> None:
    group.add_command(fit_command)
