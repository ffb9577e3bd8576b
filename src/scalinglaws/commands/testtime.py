"""`scalinglaws testtime`: pass@k, coverage laws in k, and test-time budget plans."""

from __future__ import annotations

import click

from ._common import (
    NON_NEGATIVE,
    POSITIVE,
    checked,
    column_option,
    drop_none,
    parse_columns,
    print_json,
    warn_once,
)


@click.group("testtime")
def testtime_group():
    """Test-time compute: pass@k, coverage laws and budget plans.

    ATTEMPTS is a CSV with columns problem, n, c (samples drawn and correct per problem)
    and optionally model.
    """


@testtime_group.command("passk")
@click.argument("attempts")
@click.option("--k", "ks", type=click.IntRange(min=1), multiple=True, required=True, help="Samples k (repeatable).")
@click.option("--model", default=None, help="Only this model's rows.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@column_option
def passk_command(attempts, ks, model, as_json, column_map):
    """Unbiased pass@k (Chen et al. 2021), averaged over problems.

    Example: scalinglaws testtime passk attempts.csv --k 1 --k 10 --json
    """
    from scalinglaws.testtime import load_attempts, mean_pass_at_k

    table = load_attempts(attempts, argument="ATTEMPTS", columns=parse_columns(column_map))
    models = [model] if model is not None else table.models
    rows, problems = [], set()
    for name in models:
        subset = table.for_model(name) if name is not None else table
        problems.update(subset.frame["problem"].tolist())
        values = mean_pass_at_k(subset, list(ks))
        for k, value in zip(ks, values):
            entry = {"k": int(k), "value": float(value), "n_problems": len(subset)}
            if name is not None:
                entry["model"] = str(name)
            rows.append(entry)
    # Distinct problems, not rows: three models on the same 1,000 problems are 1,000
    # problems (each row says how many problems its average is over).
    document = checked({"pass_at_k": rows, "n_problems": len(problems)})
    if as_json:
        print_json(document)
    else:
        for entry in rows:
            prefix = f"{entry['model']}: " if "model" in entry else ""
            click.echo(f"{prefix}pass@{entry['k']} = {entry['value']:.6f}")


@testtime_group.command("fit")
@click.argument("attempts")
@click.option(
    "--law",
    "law_name",
    type=click.Choice(["exp-power", "beta"]),
    required=True,
    help="exp-power: exp(a k^b) (Brown et al. 2024); beta: beta-binomial difficulty model.",
)
@click.option(
    "--out", required=True, type=click.Path(dir_okay=False), help="Write the law here (atomically)."
)
@click.option("--model", default=None, help="Only this model's rows.")
@click.option(
    "--unsolvable", is_flag=True, help="beta: also fit a share pi0 of unsolvable problems."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@column_option
def fit_command(attempts, law_name, out, model, unsolvable, as_json, column_map):
    """Fit a coverage law in k to ATTEMPTS and write it to --out.

    Example: scalinglaws testtime fit attempts.csv --law beta --out law.json
    """
    from scalinglaws.output import check_writable
    from scalinglaws.testtime import fit_beta, fit_exp_power, load_attempts, save_coverage_law

    check_writable(out, "--out")  # before the fit, not after it

    if unsolvable and law_name != "beta":
        raise click.BadParameter("--unsolvable applies to --law beta only", param_hint="--unsolvable")
    table = load_attempts(attempts, model=model, argument="ATTEMPTS", columns=parse_columns(column_map))
    if law_name == "beta":
        result = fit_beta(table, unsolvable=unsolvable)
        extra = {"log_likelihood": result.log_likelihood}
    else:
        if unsolvable:
            raise click.BadParameter(
                "--unsolvable applies to --law beta only", param_hint="--unsolvable"
            )
        result = fit_exp_power(table)
        extra = {"objective": float(result.objective)}
    law = result.law
    metadata = dict(
        law_name=law_name,
        data=str(attempts),
        model=model,
        n_problems=len(table),
        converged=bool(result.converged),
        message=result.message,
        **extra,
    )
    coefficients = {k: float(v) for k, v in law.coefficients.items()}
    checked(dict(metadata, coefficients=coefficients))  # NaN/inf is an error before the file is written
    save_coverage_law(law, out, **metadata)
    if as_json:
        print_json(dict(metadata, formula=law.formula, coefficients=coefficients, out=out))
    else:
        click.echo(
            f"{law.formula}\n" + "\n".join(f"  {k} = {v:.6g}" for k, v in coefficients.items())
        )
        if bool(result.converged):
            click.echo(result.message)
        click.echo(f"wrote {out}")
    if not bool(result.converged):
        warn_once(result.message)  # once, on stderr


@testtime_group.command("predict")
@click.argument("law_file")
@click.option("--k", "ks", type=float, multiple=True, required=True, help="Samples k (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--allow-import", is_flag=True, help="Let LAW_FILE name a module to import (trusted files only).")
def predict_command(law_file, ks, as_json, allow_import=False):
    """Coverage at k samples from a law written by `testtime fit`.

    Example: scalinglaws testtime predict law.json --k 100 --k 10000 --json
    """
    import numpy as np

    from scalinglaws.testtime import load_coverage_law

    bad = [k for k in ks if not (np.isfinite(k) and k > 0)]
    if bad:
        raise click.BadParameter(f"every k must be positive, got {bad}", param_hint="--k")
    law = load_coverage_law(law_file, allow_import=allow_import)
    values = np.asarray(law.predict({"k": np.asarray(ks, dtype=float)}))
    rows = [{"k": _number(k), "coverage": float(v)} for k, v in zip(ks, values)]
    rows = checked({"coverage": rows})["coverage"]
    if as_json:
        print_json({"coverage": rows})
    else:
        for row in rows:
            click.echo(f"coverage({row['k']}) = {row['coverage']:.6f}")


@testtime_group.command("plan")
@click.argument("models")
@click.option(
    "--budget", type=POSITIVE, required=True, help="Budget per query, in the unit of cost_per_token."
)
@click.option(
    "--tokens", type=POSITIVE, default=None, help="Generation length, if MODELS has no tokens column."
)
@click.option(
    "--queries", type=NON_NEGATIVE, default=None, help="Expected queries, for training + inference cost."
)
@click.option(
    "--training-cost", type=NON_NEGATIVE, default=None, help="Training cost (same unit as the budget)."
)
@click.option(
    "--selection",
    type=click.Choice(["coverage", "verifier", "majority"]),
    default="coverage",
    show_default=True,
    help="How one answer is chosen: a perfect verifier (coverage), an imperfect one "
    "(Stroebl et al. 2024; --fpr, --tpr) or a majority vote. verifier/majority need beta laws.",
)
@click.option("--fpr", type=click.FloatRange(0, 1), default=None, help="Verifier false-positive rate (--selection verifier).")
@click.option("--tpr", type=click.FloatRange(0, 1, min_open=True), default=None, help="Verifier true-positive rate (default 1).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@column_option
def plan_command(models, budget, tokens, queries, training_cost, selection, fpr, tpr, as_json, column_map):
    """Choose model, generation length and number of samples for a budget per query.

    MODELS is a CSV with columns model, cost_per_token, law (a file from `testtime fit`,
    relative to the CSV) and optionally size, tokens.

    Example: scalinglaws testtime plan models.csv --budget 1e6 --tokens 1000 --json
    """
    from scalinglaws.testtime import load_candidates, plan, total_cost

    if training_cost is not None and queries is None:  # never silently ignored (issue 12)
        raise click.UsageError("--training-cost goes with --queries (the total over that many queries)")
    if selection != "verifier" and (fpr is not None or tpr is not None):
        raise click.UsageError("--fpr/--tpr go with --selection verifier")
    rates = {} if selection != "verifier" else {"fpr": fpr or 0.0, "tpr": 1.0 if tpr is None else tpr}
    result = plan(
        load_candidates(models, tokens=tokens, columns=parse_columns(column_map)),
        budget,
        selection=selection,
        **rates,
    )
    document = result.as_dict()
    if queries is not None:
        document["total_cost"] = total_cost(result, queries=queries, training=training_cost)
    document = checked(drop_none(document))  # no size column: no "size": null
    if as_json:
        print_json(document)
    else:
        click.echo(
            f"model {result.model} (tokens {result.tokens}), k = {result.k} samples: "
            f"coverage {result.coverage:.4f} at cost {result.cost:.6g} of budget {result.budget:.6g}"
        )
        for option in result.options:
            click.echo(
                f"  {option['model']:<16} k = {option['k']:<8} coverage {option['coverage']:.4f}"
            )
        if "total_cost" in document:
            tc = document["total_cost"]
            click.echo(
                f"training {tc['training']:.6g} + inference {tc['inference']:.6g} = {tc['total']:.6g}"
            )


def _number(k: float):
    return int(k) if float(k).is_integer() else float(k)


def register(group: click.Group) -> None:
    group.add_command(testtime_group)
