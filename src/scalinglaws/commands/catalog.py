"""`scalinglaws datasets` and `scalinglaws laws`: what is built in."""

from __future__ import annotations

import click


@click.command("datasets")
def datasets_command():
    """List the built-in datasets."""
    from scalinglaws.datasets import dataset_info, list_datasets

    for name in list_datasets():
        info = dataset_info(name)
        click.echo(f"{name:<18} {info.rows:>5} rows  {info.description}")
        click.echo(f"{'':<18}        source: {info.citation}")


@click.command("laws")
def laws_command():
    """List the built-in laws with their formulas and papers."""
    from scalinglaws.laws import get_law, law_names

    for name in law_names():
        law = get_law(name)
        click.echo(f"{name:<18} {law.formula}")
        click.echo(
            f"{'':<18} inputs: {', '.join(law.inputs)}; coefficients: "
            f"{', '.join(law.coefficient_names())}; {law.citation}"
        )


def register(group: click.Group) -> None:
    group.add_command(datasets_command)
    group.add_command(laws_command)
