"""`scalinglaws select`: rank candidate laws by extrapolation error and PSIS-LOO, stack them."""

from __future__ import annotations

import click

from ._common import POSITIVE, column_option, parse_columns, print_json


@click.command("select")
@click.argument("data")
@click.option("--laws", "law_names", required=True, help="Comma-separated candidate laws, e.g. chinchilla,kaplan.")
@click.option("--query", default=None, help="Row filter, pandas syntax.")
@click.option("--above", type=POSITIVE, default=None,
              help="Hold out runs whose largest --by value exceeds this (default: the largest 20% of runs).")
@click.option("--by", type=click.Choice(["C", "N", "D"]), default="C", show_default=True)
@click.option("--group", default=None, help="Column identifying the run of each row (checkpoints).")
@click.option("--no-loo", is_flag=True, help="Skip PSIS-LOO (Laplace posteriors).")
@click.option("--n-boot", type=click.IntRange(min=2), default=200, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@column_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def select_command(data, law_names, query, above, by, group, no_loo, n_boot, seed, column_map, as_json):
    """Rank candidate LAWS on DATA by leave-largest-out extrapolation error (Choshen et al.
    2024) and PSIS-LOO, with stacking weights (Yao et al. 2018).

    Example: scalinglaws select chinchilla --laws chinchilla,kaplan --query "epoch_default_included == 1"
    """
    import scalinglaws as sl

    laws = [name.strip() for name in law_names.split(",") if name.strip()]
    if len(laws) < 2:
        raise click.BadParameter("give two or more laws, separated by commas", param_hint="--laws")
    selection = sl.select(
        laws, data, query=query, above=above, by=by, group=group, loo=not no_loo, n_boot=n_boot, seed=seed,
        columns=parse_columns(column_map), ensemble=False,
    )
    if as_json:
        print_json(selection.as_dict(), nullable=("laws*.elpd_loo", "laws*.loo_se", "laws*.coverage", "threshold"))
    else:
        click.echo(selection.table())


def register(group: click.Group) -> None:
    group.add_command(select_command)
