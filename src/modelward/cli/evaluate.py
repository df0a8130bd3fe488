"""`mw evaluate`: score a trained model on a dataset version."""

from __future__ import annotations

from pathlib import Path

import click

from modelward.cli.output import (
    console,
    fmt_number,
    json_option,
    print_json,
    progress,
    safe_markup,
)


@click.command()
@click.argument("model")
@click.option("--data", required=True, help="Dataset version to score on, e.g. churn@4.")
@click.option("--target", default=None, help="Target column (default: the training target).")
@click.option(
    "--plots",
    "plots_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Also write the PNG plots into this folder.",
)
@click.option("--trust", is_flag=True, help="Allow loading a pickled model (runs its code).")
@json_option
def evaluate(
    model: str,
    data: str,
    target: str | None,
    plots_dir: Path | None,
    trust: bool,
    as_json: bool,
) -> None:
    """Score MODEL (a run id) on a dataset version; store metrics and plots."""
    from modelward.evaluation.evaluate import evaluate_run_model
    from modelward.store.workspace import open_workspace

    with progress(as_json) as stage:
        record = evaluate_run_model(
            open_workspace(),
            model,
            data,
            target=target,
            trust=trust,
            plots_dir=plots_dir,
            progress=stage,
        )
    if as_json:
        print_json(record.to_dict())
        return
    out = console()
    out.print(
        f"[bold]evaluation {safe_markup(record.id)}[/bold]: run "
        f"{safe_markup((record.run_id or '')[:8])} on {safe_markup(record.data)} "
        f"({record.n_rows:,} rows, target {safe_markup(record.target)})"
    )
    metrics = "  ".join(f"{k} {fmt_number(v)}" for k, v in record.metrics.items())
    out.print("  " + safe_markup(metrics))
    out.print(f"  plots: {safe_markup(', '.join(sorted(record.plots)))}")
    if plots_dir is not None:
        out.print(f"  written to {safe_markup(plots_dir)}")
