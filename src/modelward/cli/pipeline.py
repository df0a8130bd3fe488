"""`mw pipeline run | show`: a declared pipeline, its cached steps and its history."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from modelward.cli.output import (
    console,
    error_line,
    json_option,
    print_json,
    safe_markup,
    safe_text,
)


@click.group()
def pipeline() -> None:
    """Run a pipeline file (data -> transform -> train -> register -> promote), cached."""


@pipeline.command("run")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--cluster", default=None, metavar="tcp://HOST:PORT", help="Train candidates on a Dask cluster."
)
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=None,
    help="Local worker processes for the candidates (default: as many as cores).",
)
@click.option("--force", is_flag=True, help="Run every step, cached or not.")
@click.option(
    "--trigger", default="manual", hidden=True, help="Why it runs (the monitor names its alert)."
)
@json_option
def run(
    file: Path, cluster: str | None, workers: int | None, force: bool, trigger: str, as_json: bool
) -> None:
    """Run FILE's steps in order; unchanged steps are reused from the cache."""
    from modelward.cli.main import exit_code
    from modelward.pipelines.runner import run_pipeline
    from modelward.pipelines.spec import load_pipeline
    from modelward.store.workspace import open_workspace

    spec = load_pipeline(file, checked=_checked_cache())  # every check, before any work
    executor = None
    if cluster is not None:
        from modelward.pipelines.candidates import executor_for

        executor = executor_for(cluster, workers)  # unreachable: fails before any step
    show = (lambda _text: None) if as_json else _printer()
    try:
        outcome = run_pipeline(
            open_workspace(),
            spec,
            force=force,
            trigger=trigger[:500],
            cluster=cluster,
            workers=workers,
            progress=show,
            executor=executor,
        )
    finally:
        if executor is not None and hasattr(executor, "close"):
            executor.close()  # the Dask client, disconnected now rather than when collected
    described = outcome.to_dict()
    if as_json:
        print_json(described)
    else:
        steps = described["steps"]
        counts = {
            status: sum(1 for s in steps if s["status"] == status) for status in ("ran", "cached")
        }
        console().print(
            f"pipeline {safe_markup(spec.name)} {safe_markup(described['status'])} "
            f"(run {safe_markup(described['run_id'][:8])}): {counts['ran']} step(s) ran, "
            f"{counts['cached']} cached"
        )
    if outcome.error is not None:
        click.echo(error_line("mw pipeline run", outcome.error.message), err=True)
        raise click.exceptions.Exit(exit_code(outcome.error))


def _checked_cache() -> Path:
    from modelward.config import load_settings

    return load_settings().home / "cache" / "checked-candidates.json"


def _printer() -> Callable[[str], None]:
    def show(text: str) -> None:
        click.echo(safe_text(text))

    return show


@pipeline.command("show")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--history",
    "limit",
    default=10,
    show_default=True,
    type=click.IntRange(0, 1000),
    help="How many recorded runs of the pipeline to list.",
)
@json_option
def show(file: Path, limit: int, as_json: bool) -> None:
    """FILE's steps, their cache keys and whether they are cached, and its recent runs."""
    from modelward.pipelines.ports import pipeline_history
    from modelward.pipelines.runner import plan_pipeline
    from modelward.pipelines.spec import load_pipeline
    from modelward.store.workspace import open_workspace

    spec = load_pipeline(file, checked=_checked_cache())
    workspace = open_workspace()
    planned = plan_pipeline(workspace, spec)
    runs = pipeline_history(workspace).runs(spec.name, limit=limit) if limit else []
    if as_json:
        print_json(
            {
                "pipeline": spec.name,
                "file": str(spec.path),
                "steps": [step.to_dict() for step in planned],
                "runs": [_run_summary(run) for run in runs],
            }
        )
        return
    from rich.table import Table

    out = console()
    table = Table(title=f"pipeline {safe_markup(spec.name)}", title_justify="left")
    for column in ("step", "key", "cached", "outputs / note"):
        table.add_column(column)
    for step in planned:
        outputs = ", ".join(f"{k} {v}" for k, v in step.outputs.items() if k in _SHOWN)
        table.add_row(
            step.name,
            safe_markup(step.key[:12]) if step.key else "-",
            "yes" if step.cached else "no",
            safe_markup(outputs or step.note or ""),
        )
    out.print(table)
    if runs:
        history = Table(title="recent runs", title_justify="left")
        for column in ("run", "status", "trigger", "by", "started", "steps ran / cached"):
            history.add_column(column)
        for run in runs:
            summary = _run_summary(run)
            history.add_row(
                safe_markup(run.id[:8]),
                safe_markup(run.status),
                safe_markup(run.trigger),
                safe_markup(run.started_by),
                run.started_at.strftime("%Y-%m-%d %H:%M:%S"),
                f"{summary['ran']} / {summary['cached']}",
            )
        out.print(history)


_SHOWN = ("dataset", "fit", "holdout", "best_candidate", "model", "alias", "to")


def _run_summary(run: object) -> dict[str, object]:
    from modelward.pipelines.run_records import PipelineRun

    assert isinstance(run, PipelineRun)
    return {
        "run_id": run.id,
        "status": run.status,
        "trigger": run.trigger,
        "started_by": run.started_by,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "error": run.error,
        "ran": sum(1 for s in run.steps if s.status == "ran"),
        "cached": sum(1 for s in run.steps if s.status == "cached"),
        "steps": [{"step": s.name, "key": s.key, "status": s.status} for s in run.steps],
    }
