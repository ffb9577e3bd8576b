"""`scalinglaws holdout`: fit on the smaller runs, forecast the larger ones, score both."""

from __future__ import annotations

import click

from ._common import POSITIVE, column_option, parse_columns, print_json, progress_printer, warn_once


@click.command("holdout")
@click.argument("data")
@click.option("--law", "law_name", required=True, multiple=True,
              help="Law name (see `scalinglaws laws`) or module:Class; repeat it to check several laws.")
@click.option("--per", default=None,
              help="Check every group of this column separately (e.g. family), point fits in one batched call.")
@click.option("--query", default=None, help='Row filter applied first, pandas syntax, e.g. "C < 1e23".')
@click.option("--train", default=None, help="Row filter of the training runs (with --test).")
@click.option("--test", default=None, help="Row filter of the held-out runs (with --train).")
@click.option("--above", type=POSITIVE, default=None, help="Hold out runs whose largest --by value exceeds this.")
@click.option("--by", type=click.Choice(["C", "N", "D"]), default="C", show_default=True,
              help="The column that orders runs by scale.")
@click.option("--interval", type=click.Choice(["bootstrap", "laplace", "nuts", "none"]), default="bootstrap",
              show_default=True, help="How intervals are computed.")
@click.option("--kind", type=click.Choice(["predictive", "mean"]), default="predictive", show_default=True,
              help="predictive: for the observed loss of each held-out run; mean: for the law.")
@click.option("--level", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.9,
              show_default=True, help="Nominal coverage of the intervals.")
@click.option("--group", default=None, help="Column identifying the run of each row (checkpoints).")
@click.option("--n-boot", type=click.IntRange(min=2), default=200, show_default=True, help="Bootstrap replicates.")
@click.option("--seed", type=int, default=0, show_default=True)
@column_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--quiet", is_flag=True, help="No progress messages on stderr.")
def holdout_command(data, law_name, query, train, test, above, by, interval, kind, level, group, n_boot, seed,
                    column_map, as_json, quiet, per):
    """Fit LAW on the smaller runs in DATA and score its forecasts of the held-out larger
    runs: errors, and the coverage of predictive intervals (Choshen et al. 2024).

    Example: scalinglaws holdout chinchilla --law chinchilla --query "epoch_default_included == 1" --above 1e21
    """
    import scalinglaws as sl

    if (train is None) != (test is None):
        raise click.UsageError("give --train and --test together (or --above instead).")
    if (train is not None) == (above is not None):
        raise click.UsageError("give either --above X (with --by) or --train EXPR --test EXPR.")
    if per is not None or len(law_name) > 1:  # a sweep: every group x every law
        if per is None:
            raise click.UsageError("several --law: add --per COLUMN (every group x every law), or give one --law.")
        result = sl.holdout(
            list(law_name), data, query=query, above=above, train=train, test=test, by=by, interval=interval,
            kind=kind, level=level, group=group, n_boot=n_boot, seed=seed, columns=parse_columns(column_map),
            progress=progress_printer(not quiet), per=per,
        )
        if as_json:
            print_json(result.as_dict(), nullable=("reports*.coverage", "reports*.mean_log_width", "reports*.threshold",
                                                  "reports*.threshold_C", "reports*.points*.lo", "reports*.points*.hi"))
        else:
            click.echo(result.summary())
        for group_, law_, report_ in result:
            if not bool(report_.fit.converged):
                warn_once(f"{per}={group_!r} ({law_}): {report_.fit.message}")
        return
    law_name = law_name[0]
    report = sl.holdout(
        law_name, data, query=query, above=above, train=train, test=test, by=by, interval=interval, kind=kind,
        level=level, group=group, n_boot=n_boot, seed=seed, columns=parse_columns(column_map),
        progress=progress_printer(not quiet),
    )
    document = report.as_dict()
    if as_json:
        print_json(document, nullable=("coverage", "mean_log_width", "threshold", "threshold_C", "points*.lo",
                                       "points*.hi"))
    else:
        click.echo(report.fit.summary())
        click.echo("")
        click.echo(report.summary())
    if not bool(report.fit.converged):
        warn_once(report.fit.message)


def register(group: click.Group) -> None:
    group.add_command(holdout_command)
