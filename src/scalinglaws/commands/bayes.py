"""`scalinglaws infer`, `scalinglaws bootstrap`, `scalinglaws forecast`: uncertainty."""

from __future__ import annotations

import click

from ._common import parse_assignments, print_json, progress_printer


@click.command("infer")
@click.argument("data")
@click.option("--law", "law_name", required=True, help="Law name (see `scalinglaws laws`) or module:Class.")
@click.option("--query", default=None, help='Row filter, pandas syntax, e.g. "C < 1e21".')
@click.option("--target", default=None, help="Column to fit (default: the law's target, usually loss).")
@click.option("--method", type=click.Choice(["nuts", "laplace"]), default="nuts", show_default=True)
@click.option("--chains", type=int, default=4, show_default=True)
@click.option("--warmup", type=int, default=1000, show_default=True)
@click.option("--samples", type=int, default=1000, show_default=True, help="Draws per chain.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--likelihood", type=click.Choice(["student_t", "normal"]), default="student_t", show_default=True)
@click.option("--weights", default=None, help="Column of per-run weights.")
@click.option("--fix", multiple=True, metavar="NAME=VALUE", help="Hold a coefficient fixed (repeatable).")
@click.option("--tie", multiple=True, metavar="NAME=NAME", help="Tie a coefficient to another, e.g. beta=alpha.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--out", default=None, type=click.Path(dir_okay=False), help="Write the posterior here (atomically).")
@click.option("--quiet", is_flag=True, help="No progress bar or messages on stderr.")
def infer_command(
    data, law_name, query, target, method, chains, warmup, samples, seed, likelihood, weights, fix, tie, as_json,
    out, quiet,
):
    """Posterior over a law's coefficients (NumPyro NUTS) given the runs in DATA.

    Example: scalinglaws infer chinchilla --law chinchilla --query "epoch_default_included == 1" --out post.json
    """
    import warnings

    from scalinglaws.bayes import infer

    fixed = parse_assignments(fix, "--fix", numeric=True)
    tied = parse_assignments(tie, "--tie", numeric=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # problems are reported below, once
        post = infer(
            law_name, data, query=query, target=target, method=method, chains=chains, warmup=warmup,
            samples=samples, seed=seed, likelihood=likelihood, weights=weights, fix=fixed, tie=tied,
            progress=not quiet,
        )
    if out:
        post.save(out)
    if as_json:
        document = post.as_dict()
        if out:
            document["out"] = out
        print_json(document)
    else:
        click.echo(post.summary_table())
        if out:
            click.echo(f"\nwrote {out}")
    for problem in post.problems():
        click.echo(f"warning: {problem}", err=True)


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
def bootstrap_command(data, law_name, query, target, n, seed, loss, delta, fix, tie, as_json, quiet):
    """Bootstrap standard errors: vectorised refits on resampled runs (Epoch AI's protocol).

    Example: scalinglaws bootstrap chinchilla --law chinchilla --query "epoch_default_included == 1" --json
    """
    from scalinglaws.bayes import bootstrap

    result = bootstrap(
        law_name, data, query=query, target=target, n=n, seed=seed, loss=loss, delta=delta,
        fix=parse_assignments(fix, "--fix", numeric=True), tie=parse_assignments(tie, "--tie", numeric=False),
        progress=progress_printer(not quiet),
    )
    if as_json:
        print_json(result.as_dict())
    else:
        click.echo(result.summary_table())


@click.command("forecast")
@click.option("--posterior", "posterior_path", default=None, type=click.Path(dir_okay=False),
              help="A posterior file (scalinglaws infer --out): median and intervals.")
@click.option("--fit", "fit_path", default=None, type=click.Path(dir_okay=False),
              help="A fit file (scalinglaws fit --out): a point forecast.")
@click.option("--N", "n_params", type=float, required=True, help="Parameters.")
@click.option("--D", "n_tokens", type=float, required=True, help="Training tokens.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for predictive noise draws.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def forecast_command(posterior_path, fit_path, n_params, n_tokens, seed, as_json):
    """Forecast the loss of a run with N parameters trained on D tokens.

    Example: scalinglaws forecast --posterior post.json --N 7e10 --D 1.4e12
    """
    if (posterior_path is None) == (fit_path is None):
        raise click.UsageError("give exactly one of --posterior FILE or --fit FILE.")
    for name, value in (("--N", n_params), ("--D", n_tokens)):
        if not (value > 0 and value < float("inf")):
            raise click.BadParameter(f"must be positive and finite, got {value!r}", param_hint=name)
    x = {"N": n_params, "D": n_tokens}
    if fit_path is not None:
        from scalinglaws.io import load_fit

        law = load_fit(fit_path).law
        if set(law.inputs) != {"N", "D"}:
            raise ValueError(f"--fit {fit_path}: the law {type(law).__name__} reads {list(law.inputs)}, not N and D.")
        document = {"N": n_params, "D": n_tokens, "loss": float(law.predict(x)), "source": "fit"}
        if as_json:
            print_json(document)
        else:
            click.echo(f"N={n_params:.4g} D={n_tokens:.4g}: loss {document['loss']:.5f} (point forecast)")
        return
    from scalinglaws.bayes import load_posterior

    post = load_posterior(posterior_path)
    if set(post.inputs) != {"N", "D"}:
        raise ValueError(
            f"--posterior {posterior_path}: the law {type(post.template).__name__} reads {list(post.inputs)}, not N and D."
        )
    f = {k: float(v[0]) for k, v in post.forecast(x, seed=seed).items()}
    document = {"N": n_params, "D": n_tokens, "source": "posterior", "loss": f}
    if as_json:
        print_json(document)
    else:
        click.echo(
            f"N={n_params:.4g} D={n_tokens:.4g}: loss median {f['median']:.5f}, 90% credible "
            f"[{f['q05']:.5f}, {f['q95']:.5f}], 90% predictive [{f['pred_q05']:.5f}, {f['pred_q95']:.5f}]"
        )


def register(group: click.Group) -> None:
    group.add_command(infer_command)
    group.add_command(bootstrap_command)
    group.add_command(forecast_command)
