"""The body of `scalinglaws isoflop --envelope` (Approach 1), kept out of allocate.py."""

from __future__ import annotations

import click

from ._common import print_json


def envelope_command_body(data, query, run, as_json, plot_path) -> None:
    from scalinglaws.curves import envelope_analysis
    from scalinglaws.output import check_writable, save_figure

    if plot_path:
        check_writable(plot_path, "--plot", figure=True)
    result = envelope_analysis(data, query=query, run=run)
    if plot_path:
        import matplotlib

        matplotlib.use("Agg")
        from scalinglaws.curves import plot_envelope

        ax = plot_envelope(data, result, run=run)
        save_figure(ax.figure, plot_path, "--plot", dpi=120)
    if as_json:
        print_json(result.to_dict())
    else:
        click.echo(result.summary())
        if plot_path:
            click.echo(f"\nwrote {plot_path}")
