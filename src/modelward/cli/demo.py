"""`mw demo`: the whole loop on a dataset bundled with scikit-learn (no network)."""

from __future__ import annotations

import click

from modelward.cli.output import json_option, print_json, progress


@click.command()
@json_option
def demo(as_json: bool) -> None:
    """Run the model loop end to end on scikit-learn's bundled breast-cancer data."""
    from modelward.demo import run_demo

    with progress(as_json) as stage:
        report = run_demo(progress=stage, echo=None if as_json else click.echo)
    if as_json:
        print_json(report)
