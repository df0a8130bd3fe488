"""`mw evaluate`: score a trained model on a dataset version."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from modelward.cli.output import (
    console,
    fmt_number,
    json_option,
    print_json,
    progress,
    safe_markup,
)

if TYPE_CHECKING:
    from modelward.store.workspace import Workspace


@click.command()
@click.argument("model", metavar="MODEL")
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
    """Score MODEL (a run id, or a registered MODEL@ref) on a dataset version; store
    metrics and plots."""
    from modelward.evaluation.evaluate import evaluate_run_model
    from modelward.store.workspace import open_workspace

    workspace = open_workspace()
    run_id, model_ref = _run_of(workspace, model)
    with progress(as_json) as stage:
        record = evaluate_run_model(
            workspace,
            run_id,
            data,
            target=target,
            trust=trust,
            plots_dir=plots_dir,
            progress=stage,
            model_ref=model_ref,
        )
    if as_json:
        print_json(record.to_dict())
        return
    out = console()
    shown = record.model_ref if model_ref else f"run {(record.run_id or '')[:8]}"
    out.print(
        f"[bold]evaluation {safe_markup(record.id)}[/bold]: {safe_markup(shown)} on "
        f"{safe_markup(record.data)} ({record.n_rows:,} rows, target {safe_markup(record.target)})"
    )
    metrics = "  ".join(f"{k} {fmt_number(v)}" for k, v in record.metrics.items())
    out.print("  " + safe_markup(metrics))
    out.print(f"  plots: {safe_markup(', '.join(sorted(record.plots)))}")
    if plots_dir is not None:
        out.print(f"  written to {safe_markup(plots_dir)}")


def _run_of(workspace: Workspace, model: str) -> tuple[str, str | None]:
    """(run id, model ref): MODEL@ref is a registered version, anything else a run id
    (or prefix); a bare name that is no run but a registered model means its latest."""
    from modelward.errors import NotFound
    from modelward.registry.ports import model_registry

    if "@" in model:
        version = model_registry(workspace).get(model)
    else:
        from modelward.tracking.ports import run_store

        try:
            return run_store(workspace).get(model).id, None
        except NotFound:
            try:
                version = model_registry(workspace).get(model)
            except NotFound:
                raise NotFound(
                    f"unknown run or model {model!r}: give a run id (mw runs list) "
                    "or a registered MODEL@ref (mw models list)"
                ) from None
    if version.run_id is None:
        raise NotFound(f"{version.ref} was not trained by a tracked run: nothing to evaluate")
    return version.run_id, version.ref
