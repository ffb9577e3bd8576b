"""`scalinglaws infer`, `scalinglaws bootstrap`, `scalinglaws forecast`: uncertainty."""

from __future__ import annotations

import click
import numpy as np

from ._common import (
    POSITIVE,
    checked,
    column_option,
    drop_none,
    parse_assignments,
    parse_columns,
    print_json,
    progress_printer,
    warn_once,
)


@click.command("infer")
@click.argument("data")
@click.option("--law", "law_name", required=True, help="Law name (see `scalinglaws laws`) or module:Class.")
@click.option("--query", default=None, help='Row filter, pandas syntax, e.g. "C < 1e21".')
@click.option("--target", default=None, help="Column to fit (default: the law's target, usually loss).")
@click.option("--method", type=click.Choice(["nuts", "laplace"]), default="nuts", show_default=True)
@click.option("--chains", type=int, default=4, show_default=True)
@click.option("--warmup", type=int, default=300, show_default=True,
              help="NUTS warm-up steps per chain (infer's default, DEFAULT_WARMUP).")
@click.option("--samples", type=int, default=1000, show_default=True, help="Draws per chain.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--likelihood", type=click.Choice(["student_t", "normal"]), default="student_t", show_default=True)
@click.option("--weights", default=None, help="Column of per-run weights.")
@click.option("--group", default=None,
              help="Column of run ids: checkpoints of one run share an offset (default: by N when a step column exists).")
@click.option("--discrepancy", default="auto", show_default=True,
              help="Slope of the extrapolation term per decade of compute beyond the data: 'auto' "
              "(leave-largest-out) or a number (0: off).")
@click.option("--fix", multiple=True, metavar="NAME=VALUE", help="Hold a coefficient fixed (repeatable).")
@click.option("--tie", multiple=True, metavar="NAME=NAME", help="Tie a coefficient to another, e.g. beta=alpha.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--out", default=None, type=click.Path(dir_okay=False), help="Write the posterior here (atomically).")
@click.option("--quiet", is_flag=True, help="No progress bar or messages on stderr.")
@column_option
def infer_command(
    data, law_name, query, target, method, chains, warmup, samples, seed, likelihood, weights, group, discrepancy,
    fix, tie, as_json, out, quiet, column_map,
):
    """Posterior over a law's coefficients (NumPyro NUTS) given the runs in DATA.

    Example: scalinglaws infer chinchilla --law chinchilla --query "epoch_default_included == 1" --out post.json
    """
    import warnings

    from scalinglaws.bayes import infer
    from scalinglaws.output import check_writable

    if out:
        check_writable(out, "--out")  # before sampling, not after it

    fixed = parse_assignments(fix, "--fix", numeric=True)
    tied = parse_assignments(tie, "--tie", numeric=False)
    if discrepancy != "auto":
        try:
            discrepancy = float(discrepancy)
        except ValueError:
            raise click.BadParameter(f"expected 'auto' or a number, got {discrepancy!r}", param_hint="--discrepancy") from None
    data = _with_columns(data, column_map)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # problems are reported below, once
        post = infer(
            law_name, data, query=query, target=target, method=method, chains=chains, warmup=warmup,
            samples=samples, seed=seed, likelihood=likelihood, weights=weights, fix=fixed, tie=tied,
            group=group, discrepancy=discrepancy, progress=not quiet,
        )
    # NaN/inf is an error before the file is written; r_hat and ESS are undefined for a
    # single chain (Vehtari et al. 2021) and are then left out, as are settings that do not apply.
    document = drop_none(checked(post.as_dict(), nullable=_UNDEFINED_FOR_ONE_CHAIN))
    if out:
        post.save(out)
    if as_json:
        if out:
            document["out"] = out
        print_json(document)
    else:
        click.echo(post.summary_table())
        if out:
            click.echo(f"\nwrote {out}")
    for problem in post.problems():
        warn_once(problem)  # once, on stderr


@click.command("bootstrap")
@click.argument("data")
@click.option("--law", "law_name", required=True, help="Law name (see `scalinglaws laws`) or module:Class.")
@click.option("--query", default=None, help='Row filter, pandas syntax, e.g. "C < 1e21".')
@click.option("--target", default=None, help="Column to fit (default: the law's target, usually loss).")
@click.option("--n", "n", type=int, default=4000, show_default=True, help="Number of bootstrap resamples.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--loss", type=click.Choice(["huber", "squared"]), default="huber", show_default=True)
@click.option("--delta", type=float, default=1e-3, show_default=True, help="Huber threshold on log residuals.")
@click.option("--fix", multiple=True, metavar="NAME=VALUE", help="Hold a coefficient fixed (repeatable).")
@click.option("--tie", multiple=True, metavar="NAME=NAME", help="Tie a coefficient to another, e.g. beta=alpha.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--quiet", is_flag=True, help="No progress messages on stderr.")
@click.option("--per", default=None, help="Bootstrap every group of this column separately (e.g. family).")
@column_option
def bootstrap_command(data, law_name, query, target, n, seed, loss, delta, fix, tie, as_json, quiet, column_map,
                      per=None):
    """Bootstrap standard errors: vectorised refits on resampled runs (Epoch AI's protocol).

    Example: scalinglaws bootstrap chinchilla --law chinchilla --query "epoch_default_included == 1" --json
    """
    from scalinglaws.bayes import bootstrap

    data = _with_columns(data, column_map)
    result = bootstrap(
        law_name, data, query=query, target=target, n=n, seed=seed, loss=loss, delta=delta,
        fix=parse_assignments(fix, "--fix", numeric=True), tie=parse_assignments(tie, "--tie", numeric=False),
        progress=progress_printer(not quiet), per=per,
    )
    if per is not None:  # {"per", "bootstraps": [{"group", ...one bootstrap's document}]}
        documents = [{"group": g.item() if hasattr(g, "item") else g, **r.as_dict()} for g, r in result.items()]
        document = drop_none(checked({"per": per, "bootstraps": documents}))
        if as_json:
            print_json(document)
        else:
            for g, r in result.items():
                click.echo(f"{per} = {g!r}\n{r.summary_table()}\n")
        return
    document = drop_none(checked(result.as_dict()))  # NaN/inf is an error, not a null
    if as_json:
        print_json(document)
    else:
        click.echo(result.summary_table())


_UNDEFINED_FOR_ONE_CHAIN = ("coefficients.*.r_hat", "coefficients.*.ess_bulk", "coefficients.*.ess_tail")


def _with_columns(data, column_map):
    """DATA with `--column` mappings applied (common spellings are recognised downstream)."""
    if not column_map:
        return data
    from scalinglaws.data import load_runs

    return load_runs(data, columns=parse_columns(column_map), argument="DATA")


@click.command("forecast")
@click.option("--posterior", "posterior_path", default=None, type=click.Path(dir_okay=False),
              help="A posterior file (scalinglaws infer --out): median and intervals.")
@click.option("--fit", "fit_path", default=None, type=click.Path(dir_okay=False),
              help="A fit file (scalinglaws fit --out): a point forecast.")
@click.option("--at", "at", multiple=True, metavar="NAME=VALUE",
              help="An input of the law (repeatable), e.g. --at N=7e10 --at D=1.4e12 --at U=1e11.")
@click.option("--N", "n_params", type=POSITIVE, default=None, help="Parameters (shorthand for --at N=...).")
@click.option("--D", "n_tokens", type=POSITIVE, default=None, help="Training tokens (shorthand for --at D=...).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for predictive noise draws.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--allow-import", is_flag=True, help="Let --fit/--posterior files name a module to import (trusted files only).")
def forecast_command(posterior_path, fit_path, at, n_params, n_tokens, seed, as_json, allow_import=False):
    """Forecast the target (usually the loss) of a run at the law's inputs.

    Give every input the law reads with --at NAME=VALUE (--N and --D are shorthands).

    Example: scalinglaws forecast --posterior post.json --N 7e10 --D 1.4e12

    Example: scalinglaws forecast --fit dc.json --at N=7e10 --at D=1.4e12 --at U=1e11 --json
    """
    if (posterior_path is None) == (fit_path is None):
        raise click.UsageError("give exactly one of --posterior FILE or --fit FILE.")
    x = _forecast_inputs(at, n_params, n_tokens)
    if fit_path is not None:
        from scalinglaws.io import load_fit

        from scalinglaws.results import extrapolation_factor, extrapolation_note

        saved = load_fit(fit_path, allow_import=allow_import)
        law = saved.law
        x = _complete(x, tuple(law.inputs), type(law).__name__)
        target = type(law).target
        # How far beyond the largest fitted compute (stored in fit files since issue 12.6).
        factor = extrapolation_factor(x, saved.metadata.get("fit", {}).get("max_compute"))
        document = checked({**x, target: float(np.asarray(law.predict(x)).ravel()[0]), "source": "fit",
                            **({"extrapolation_factor": factor} if factor is not None else {})})
        if as_json:
            print_json(document)
        else:
            click.echo(f"{_describe(x)}: {target} {document[target]:.5f} (point forecast)")
        note = extrapolation_note(factor)
        if note:
            warn_once(note)  # stderr, once; the JSON carries extrapolation_factor
        return
    from scalinglaws.bayes import load_posterior

    post = load_posterior(posterior_path, allow_import=allow_import)
    x = _complete(x, tuple(post.inputs), type(post.template).__name__)
    forecast = post.forecast(x, seed=seed)
    f = {k: float(np.asarray(v).ravel()[0]) for k, v in forecast.items() if not isinstance(v, str)}
    document = checked({**x, "source": "posterior", "loss": f})
    if as_json:
        print_json(document)
    else:
        click.echo(
            f"{_describe(x)}: loss median {f['median']:.5f}, 90% credible "
            f"[{f['q05']:.5f}, {f['q95']:.5f}], 90% predictive [{f['pred_q05']:.5f}, {f['pred_q95']:.5f}]"
        )


def _forecast_inputs(at, n_params, n_tokens) -> dict[str, float]:
    """`--at` and the `--N`/`--D` shorthands as one dict; each input given once."""
    from scalinglaws.data import POSITIVE_COLUMNS

    x = parse_assignments(at, "--at", numeric=True)
    for name, value in (("N", n_params), ("D", n_tokens)):
        if value is None:
            continue
        if name in x:
            raise click.UsageError(f"{name} is given twice: by --{name} and by --at {name}=...; give it once.")
        x[name] = value
    for name, value in x.items():
        if name in POSITIVE_COLUMNS and not value > 0:
            raise click.BadParameter(f"{name}={value!r} must be positive", param_hint="--at")
    return x


def _complete(x: dict[str, float], inputs: tuple[str, ...], law: str) -> dict[str, float]:
    """Check that `x` gives every input the law reads, and nothing else (never ignored)."""
    extra = [name for name in x if name not in inputs]
    if extra:
        raise click.UsageError(
            f"the law {law} reads {list(inputs)}, not {extra}; remove "
            + " ".join(f"--at {name}=..." for name in extra)
            + "."
        )
    missing = [name for name in inputs if name not in x]
    if missing:
        raise click.UsageError(
            f"the law {law} reads {list(inputs)}; give "
            + " ".join(f"--at {name}=VALUE" for name in missing)
            + "."
        )
    return {name: x[name] for name in inputs}


def _describe(x: dict[str, float]) -> str:
    return " ".join(f"{name}={value:.4g}" for name, value in x.items())


def register(group: click.Group) -> None:
    group.add_command(infer_command)
    group.add_command(bootstrap_command)
    group.add_command(forecast_command)
