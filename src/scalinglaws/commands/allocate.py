"""`scalinglaws allocate` and `scalinglaws isoflop`: plan compute with a fitted law."""

from __future__ import annotations

import click

from ._common import parse_assignments, print_json


def _law_from_options(fit_path, law_name, coef):
    """The law from `--fit FILE` or from `--law NAME --coef NAME=VALUE ...` (all coefficients)."""
    if fit_path and law_name:
        raise click.UsageError("give --fit FILE or --law NAME, not both")
    if fit_path:
        if coef:
            raise click.UsageError("--coef goes with --law, not with --fit")
        from scalinglaws.io import load_fit

        return load_fit(fit_path).law
    if not law_name:
        raise click.UsageError(
            "give the law: --fit FILE (from `scalinglaws fit --out`) or --law NAME --coef ..."
        )
    from scalinglaws.laws import get_law

    template = get_law(law_name)
    values = parse_assignments(coef, "--coef", numeric=True)
    names = list(template.coefficient_names())
    unknown = [name for name in values if name not in names]
    if unknown:
        raise ValueError(
            f"--coef: unknown coefficient(s) {unknown} for law {law_name!r}; its coefficients are {names}"
        )
    missing = [name for name in names if name not in values]
    if missing:
        raise ValueError(
            f"--coef: missing coefficient(s) {missing} for law {law_name!r}; give all of {names} "
            "(or use --fit FILE)"
        )
    return template.replace(**values)


def _print_rows(rows, as_json):
    if as_json:
        print_json({"allocations": rows})
        return
    if not rows:
        return
    names = list(rows[0])
    click.echo("  ".join(f"{n:>16}" for n in names))
    for row in rows:
        click.echo(
            "  ".join(
                f"{row[n]:>16.6g}" if isinstance(row[n], float) else f"{row[n]!s:>16}"
                for n in names
            )
        )


@click.command("allocate")
@click.option(
    "--fit",
    "fit_path",
    default=None,
    type=click.Path(dir_okay=False),
    help="A fit written by `scalinglaws fit --out FILE`.",
)
@click.option(
    "--law", "law_name", default=None, help="Law name; give every coefficient with --coef."
)
@click.option(
    "--coef", multiple=True, metavar="NAME=VALUE", help="A coefficient of --law (repeatable)."
)
@click.option(
    "--posterior",
    default=None,
    type=click.Path(dir_okay=False),
    help="A posterior file (scalinglaws.bayes): risk-aware allocation over its draws.",
)
@click.option(
    "--risk",
    type=click.Choice(["mean", "q90"]),
    default="mean",
    show_default=True,
    help="With --posterior: minimise the mean or the 90th percentile of the predicted loss.",
)
@click.option(
    "--budget",
    "budgets",
    multiple=True,
    type=float,
    metavar="C",
    help="Total FLOP budget (repeatable), e.g. 1e23.",
)
@click.option(
    "--flops",
    type=click.Choice(["6nd", "kaplan", "hoffmann"]),
    default="6nd",
    show_default=True,
    help="FLOP-counting convention.",
)
@click.option(
    "--inference-tokens",
    type=float,
    default=None,
    help="Tokens served at inference (Sardana et al. 2024).",
)
@click.option(
    "--target-loss",
    "target_losses",
    multiple=True,
    type=float,
    metavar="L",
    help="Find the cheapest model reaching this loss instead of spending --budget (repeatable).",
)
@click.option(
    "--unique-tokens",
    type=float,
    default=None,
    help="Unique training tokens available (data-constrained law).",
)
@click.option("--recipe", is_flag=True, help="Add learning rate and batch size (Li et al. 2025).")
@click.option("--json", "as_json", is_flag=True, help='Print {"allocations": [...]} as JSON.')
@click.option(
    "--plot",
    "plot_path",
    default=None,
    type=click.Path(dir_okay=False),
    help="Save the frontier and loss-vs-compute figure here.",
)
def allocate_command(
    fit_path,
    law_name,
    coef,
    posterior,
    risk,
    budgets,
    flops,
    inference_tokens,
    target_losses,
    unique_tokens,
    recipe,
    as_json,
    plot_path,
):
    """Compute-optimal parameters N and tokens D for FLOP budgets, with a fitted law.

    Example: scalinglaws allocate --law chinchilla --coef E=1.8172 --coef A=477.8 --coef B=2143.9
    --coef alpha=0.3473 --coef beta=0.3672 --budget 1e21 --budget 1e23
    """
    if budgets and target_losses:
        raise click.UsageError("give --budget or --target-loss, not both")
    if not budgets and not target_losses:
        raise click.UsageError("give at least one --budget C (or --target-loss L)")
    if posterior:
        if fit_path or law_name:
            raise click.UsageError("give --posterior or --fit/--law, not both")
        if target_losses or unique_tokens is not None or inference_tokens is not None:
            raise click.UsageError("--posterior supports --budget, --flops and --risk only")
        from scalinglaws.bayes import load_posterior, risk_aware_allocation

        rows = risk_aware_allocation(
            load_posterior(posterior), list(budgets), risk=risk, flops=flops
        )
        rows = [
            {k: (float(v) if hasattr(v, "__float__") else v) for k, v in row.items()}
            for row in rows
        ]
        _print_rows(rows, as_json)
        return

    from scalinglaws.allocate import compute_optimal, target_loss_allocation

    law = _law_from_options(fit_path, law_name, coef)
    if target_losses:
        allocation = target_loss_allocation(
            law,
            list(target_losses),
            inference_tokens=0.0 if inference_tokens is None else inference_tokens,
            flops=flops,
            unique_tokens=unique_tokens,
            recipe=recipe,
        )
    else:
        allocation = compute_optimal(
            law,
            list(budgets),
            flops=flops,
            inference_tokens=inference_tokens,
            unique_tokens=unique_tokens,
            recipe=recipe,
        )
    if plot_path:
        import matplotlib

        matplotlib.use("Agg")
        from scalinglaws.allocate import plot_allocation

        plot_allocation(allocation).savefig(plot_path, dpi=120)
    _print_rows(allocation.to_rows(), as_json)
    if plot_path and not as_json:
        click.echo(f"\nwrote {plot_path}")


@click.command("isoflop")
@click.argument("data")
@click.option(
    "--query",
    default=None,
    help="Row filter, e.g. \"config == 'rw|tuned|short|const|standard|val'\".",
)
@click.option("--group", default="C", show_default=True, help="The budget column.")
@click.option(
    "--window",
    default=7,
    show_default=True,
    type=int,
    help="Points per parabola, nearest the minimum (0: all points).",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print a, b, their standard errors and the optima as JSON.",
)
@click.option(
    "--plot",
    "plot_path",
    default=None,
    type=click.Path(dir_okay=False),
    help="Save the isoFLOP curves and the frontier here.",
)
def isoflop_command(data, query, group, window, as_json, plot_path):
    """IsoFLOP analysis: each budget's optimum, then N* ~ C^a and D* ~ C^b with standard errors.

    Hoffmann et al. 2022, Approach 2: a parabola in log N per budget.

    Example: scalinglaws isoflop porian-isoflop --query "config == 'rw|tuned|short|const|standard|val'"
    """
    from scalinglaws.allocate import isoflop_analysis

    result = isoflop_analysis(data, query=query, group=group, window=window or None)
    if plot_path:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from scalinglaws.allocate import plot_frontier, plot_isoflop

        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
        plot_isoflop(data, result, query=query, group=group, ax=left)
        plot_frontier(result, ax=right)
        fig.tight_layout()
        fig.savefig(plot_path, dpi=120)
    if as_json:
        print_json(result.to_dict())
    else:
        click.echo(result.summary())
        if plot_path:
            click.echo(f"\nwrote {plot_path}")


def register(group: click.Group) -> None:
    group.add_command(allocate_command)
    group.add_command(isoflop_command)
