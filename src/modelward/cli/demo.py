"""`mw demo`: the whole loop on a dataset bundled with scikit-learn (no network)."""

from __future__ import annotations

import click

from modelward.cli.output import json_option, print_json, progress


@click.command()
@click.option(
    "--no-dashboard",
    is_flag=True,
    help="Do not leave a server running for the dashboard at the end.",
)
@json_option
def demo(no_dashboard: bool, as_json: bool) -> None:
    """Run the model loop end to end on scikit-learn's bundled breast-cancer data.

    At the end a team server over the demo's home keeps running on 127.0.0.1, and a
    one-time link signs a browser in to its dashboard.
    """
    from modelward.demo import run_demo

    with progress(as_json) as stage:
        report = run_demo(
            progress=stage, echo=None if as_json else click.echo, dashboard=not no_dashboard
        )
    if as_json:
        print_json(report)
