"""`scalinglaws allocate` and `scalinglaws isoflop`: plan compute with a fitted law."""

from __future__ import annotations

import click

from ._common import (
    NON_NEGATIVE, POSITIVE, checked, column_option, parse_assignments, parse_columns, print_json, warn_once,
)


def _law_from_options(fit_path, law_name, coef, allow_import=False):
    """The law from `--fit FILE` or from `--law NAME --coef NAME=VALUE ...` (all coefficients)."""
    if fit_path and law_name:
        raise click.UsageError("give --fit FILE or --law NAME, not both")
    if fit_path:
        if coef:
            raise click.UsageError("--coef goes with --law, not with --fit")
        from scalinglaws.io import load_fit

        return load_fit(fit_path, allow_import=allow_import).law
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
    from scalinglaws.laws import validate_coefficients

    return template.replace(**validate_coefficients(type(template), values, source="--coef"))


def _print_rows(rows, as_json):
    rows = checked({"allocations": rows})["allocations"]  # NaN/inf is an error, not a row
    if as_json:
        print_json({"allocations": rows})
        return
    if not rows:
        return
    from scalinglaws.results import format_table

    click.echo(format_table(rows))  # at most 100 columns: wide tables split into blocks keyed by C


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
    type=POSITIVE,
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
    type=NON_NEGATIVE,
    default=None,
    help="Tokens served at inference (Sardana et al. 2024).",
)
@click.option(
    "--target-loss",
    "target_losses",
    multiple=True,
    type=POSITIVE,
    metavar="L",
    help="Find the cheapest model reaching this loss instead of spending --budget (repeatable).",
)
@click.option(
    "--unique-tokens",
    type=POSITIVE,
    default=None,
    help="Unique training tokens available (data-constrained law).",
)
@click.option("--recipe", is_flag=True, help="Add learning rate and batch size (Li et al. 2025).")
@click.option(
    "--params",
    "params_convention",
    type=click.Choice(["total", "non-embedding"]),
    default="total",
    show_default=True,
    help="What the law's N counts (the recipe takes non-embedding N; --flops kaplan counts non-embedding N).",
)
@click.option("--json", "as_json", is_flag=True, help='Print {"allocations": [...]} as JSON.')
@click.option(
    "--plot",
    "plot_path",
    default=None,
    type=click.Path(dir_okay=False),
    help="Save the frontier and loss-vs-compute figure here.",
)
@click.option("--allow-import", is_flag=True, help="Let --fit/--posterior files name a module to import (trusted files only).")
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
    params_convention,
    as_json,
    plot_path,
    allow_import=False,
):
    """Compute-optimal parameters N and tokens D for FLOP budgets, with a fitted law.

    Example: scalinglaws allocate --law chinchilla --coef E=1.8172 --coef A=477.8 --coef B=2143.9
    --coef alpha=0.3473 --coef beta=0.3672 --budget 1e21 --budget 1e23
    """
    if plot_path:
        from scalinglaws.output import check_writable

        check_writable(plot_path, "--plot", figure=True)
    if budgets and target_losses:
        raise click.UsageError("give --budget or --target-loss, not both")
    if not budgets and not target_losses:
        raise click.UsageError("give at least one --budget C (or --target-loss L)")
    if posterior:
        if fit_path or law_name:
            raise click.UsageError("give --posterior or --fit/--law, not both")
        if target_losses:
            raise click.UsageError("--posterior supports --budget (not --target-loss)")
        from scalinglaws.allocate import check_param_convention, get_flops, recipe_params, resolve_recipe
        from scalinglaws.bayes import load_posterior, optimal_allocation_draws, risk_aware_allocation

        check_param_convention(params_convention, get_flops(flops).name)
        loaded = load_posterior(posterior, allow_import=allow_import)
        options = dict(flops=flops, unique_tokens=unique_tokens, inference_tokens=inference_tokens)
        rows = risk_aware_allocation(loaded, list(budgets), risk=risk, **options)
        rows = [
            {k: (float(v) if hasattr(v, "__float__") else v) for k, v in row.items()}
            for row in rows
        ]
        if recipe:  # Li et al. 2025's learning rate and batch size at the chosen N and D
            hyper = resolve_recipe(True)
            for row in rows:
                n_recipe = recipe_params(row["N"], params_convention)
                row["learning_rate"] = float(hyper.learning_rate(n_recipe, row["D"]))
                row["batch_size"] = float(hyper.batch_size(n_recipe, row["D"]))
        rows = checked({"allocations": rows})["allocations"]  # before any file is written
        if plot_path:
            import matplotlib

            matplotlib.use("Agg")
            from scalinglaws.allocate import plot_allocation_bands
            from scalinglaws.output import save_figure

            draws = optimal_allocation_draws(loaded, list(budgets), **options)
            save_figure(plot_allocation_bands(draws), plot_path, "--plot", dpi=120)
        _print_rows(rows, as_json)
        if plot_path and not as_json:
            click.echo(f"\nwrote {plot_path}")
        return

    from scalinglaws.allocate import compute_optimal, target_loss_allocation

    if risk != "mean":
        raise click.UsageError("--risk goes with --posterior (a point fit has no spread to be risk-aware about)")
    law = _law_from_options(fit_path, law_name, coef, allow_import)
    if target_losses:
        allocation = target_loss_allocation(
            law,
            list(target_losses),
            inference_tokens=0.0 if inference_tokens is None else inference_tokens,
            flops=flops,
            unique_tokens=unique_tokens,
            recipe=recipe,
            params=params_convention,
        )
    else:
        allocation = compute_optimal(
            law,
            list(budgets),
            flops=flops,
            inference_tokens=inference_tokens,
            unique_tokens=unique_tokens,
            recipe=recipe,
            params=params_convention,
        )
    rows = checked({"allocations": allocation.to_rows()})["allocations"]  # before any file is written
    notes = _extrapolation(rows, fit_path, allow_import) if fit_path else []
    if plot_path:
        import matplotlib

        matplotlib.use("Agg")
        from scalinglaws.allocate import plot_allocation
        from scalinglaws.output import save_figure

        save_figure(plot_allocation(allocation), plot_path, "--plot", dpi=120)
    _print_rows(rows, as_json)
    if plot_path and not as_json:
        click.echo(f"\nwrote {plot_path}")
    for note in notes:
        warn_once(note)  # stderr, once per budget; the JSON rows carry extrapolation_factor


def _extrapolation(rows, fit_path, allow_import):
    """Add `extrapolation_factor` (training FLOPs / largest fitted C) to each row of an
    allocation from a fit file that stores its data's ranges; the notes for those > 100x."""
    from scalinglaws.io import load_fit
    from scalinglaws.results import extrapolation_factor, extrapolation_note

    max_compute = load_fit(fit_path, allow_import=allow_import).metadata.get("fit", {}).get("max_compute")
    notes = []
    for row in rows:
        factor = extrapolation_factor({"C": row.get("training_flops", row["C"])}, max_compute)
        if factor is not None:
            row["extrapolation_factor"] = factor
            note = extrapolation_note(factor, f"the allocation for C = {row['C']:.3g}")
            if note:
                notes.append(note)
    return notes


@click.command("isoflop")
@click.argument("data")
@click.option(
    "--query",
    default=None,
    help="Row filter, e.g. \"config == 'rw|tuned|short|const|standard|val'\".",
)
@click.option("--group", default="C", show_default=True, help="The budget column.")
@click.option("--target", default="loss", show_default=True, help="The loss column.")
@column_option
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
@click.option(
    "--envelope",
    is_flag=True,
    help="Approach 1 instead: the envelope of loss vs FLOPs over all checkpoints of all runs "
    "(Hoffmann et al. 2022, §3.1), with bootstrap-over-runs intervals; runs are named by --run.",
)
@click.option("--run", default="run", show_default=True, help="With --envelope: the run-id column.")
def isoflop_command(data, query, group, target, window, as_json, plot_path, column_map, envelope, run):
    """IsoFLOP analysis: each budget's optimum, then N* ~ C^a and D* ~ C^b with standard errors.

    Hoffmann et al. 2022, Approach 2: a parabola in log N per budget.

    Example: scalinglaws isoflop porian-isoflop --query "config == 'rw|tuned|short|const|standard|val'"
    """
    if envelope:
        from ._curves_envelope import envelope_command_body

        return envelope_command_body(data, query, run, as_json, plot_path)
    import scalinglaws as sl
    from scalinglaws.allocate import isoflop_analysis
    from scalinglaws.output import check_writable

    if plot_path:
        check_writable(plot_path, "--plot", figure=True)

    if window < 0 or window in (1, 2):
        raise click.BadParameter(f"expected 0 (all points) or at least 3 points, got {window}", param_hint="--window")
    data = sl.load_runs(data, columns=parse_columns(column_map), argument="DATA")
    result = isoflop_analysis(data, query=query, group=group, window=window or None, target=target)
    document = checked(result.to_dict())
    if plot_path:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from scalinglaws.allocate import plot_frontier, plot_isoflop

        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
        plot_isoflop(data, result, query=query, group=group, target=target, ax=left)
        plot_frontier(result, ax=right)
        fig.tight_layout()
        from scalinglaws.output import save_figure

        save_figure(fig, plot_path, "--plot", dpi=120)
    if as_json:
        print_json(document)
    else:
        click.echo(result.summary())
        if plot_path:
            click.echo(f"\nwrote {plot_path}")


def register(group: click.Group) -> None:
    group.add_command(allocate_command)
    group.add_command(isoflop_command)
