"""`mw predict`: batch predictions for a dataset version or a file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from modelward.cli.output import json_option, print_json, safe_text


@click.command()
@click.argument("model")
@click.option("--data", "source", required=True, help="Dataset version (churn@4) or a file.")
@click.option("--out", required=True, type=click.Path(path_type=Path), help=".csv or .parquet")
@click.option("--chunk-rows", default=50_000, show_default=True, type=click.IntRange(1))
@click.option(
    "--cluster",
    metavar="tcp://HOST:PORT",
    help="Predict on this Dask cluster: its workers read the data from the store.",
)
@click.option("--trust", is_flag=True, help="Allow loading a pickled model (runs its code).")
@json_option
def predict(
    model: str,
    source: str,
    out: Path,
    chunk_rows: int,
    cluster: str | None,
    trust: bool,
    as_json: bool,
) -> None:
    """Predict with MODEL@ref for every row, in chunks; the output names the model version."""
    from functools import partial

    from modelward.store.workspace import open_workspace

    run: Any
    if cluster is None:
        from modelward.serving.batch import predict_batch

        run = predict_batch
    else:
        from modelward.serving.cluster_batch import predict_on_cluster

        run = partial(predict_on_cluster, cluster=cluster)
    workspace = open_workspace()
    if as_json or not sys.stderr.isatty():
        result = run(workspace, model, source, out, chunk_rows=chunk_rows, trust=trust)
    else:
        from rich.progress import Progress

        with Progress(transient=True) as bar:
            task = bar.add_task("predicting", total=None)

            def advance(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            result = run(
                workspace, model, source, out, chunk_rows=chunk_rows, trust=trust, progress=advance
            )
    if as_json:
        print_json(result.to_dict())
        return
    click.echo(
        f"wrote {result.rows:,} predictions of {safe_text(result.model)} for "
        f"{safe_text(result.source)} to {safe_text(result.out)} in {result.seconds:.2f} s"
    )
