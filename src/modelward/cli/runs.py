"""`mw runs ...`: list, search, show and compare tracked runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from modelward.cli.output import console, fmt_number, json_option, print_json, safe_markup

if TYPE_CHECKING:
    from modelward.tracking.entities import Run


@click.group()
def runs() -> None:
    """List, search, show and compare tracked runs."""


@runs.command("list")
@click.option("--experiment", "-e", default=None, help="Only runs of this experiment.")
@click.option(
    "--filter",
    "filter_",
    default=None,
    help="e.g. \"metrics.f1 > 0.8 and params.optimizer = 'adam'\"",
)
@click.option(
    "--order-by",
    multiple=True,
    help="Sort key, e.g. -metrics.f1 or 'start_time asc' (repeatable).",
)
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 100_000))
@json_option
def list_(
    experiment: str | None,
    filter_: str | None,
    order_by: tuple[str, ...],
    limit: int,
    as_json: bool,
) -> None:
    """List runs, newest first, optionally filtered and sorted."""
    from modelward.tracking import search_runs

    found = search_runs(filter_, order_by=list(order_by), experiment=experiment, limit=limit)
    if as_json:
        print_json([run.to_dict() for run in found])
        return
    if not found:
        click.echo("no runs match" if filter_ or experiment else "no runs yet: mw train ...")
        return
    from rich.table import Table

    metric_keys = sorted({key for run in found for key in run.metrics})[:8]
    table = Table("run", "experiment", "name", "status", "started", *map(safe_markup, metric_keys))
    for run in found:
        table.add_row(
            safe_markup(run.id[:8]),
            safe_markup(run.experiment),
            safe_markup(run.name),
            _status(run.status),
            run.start_time.strftime("%Y-%m-%d %H:%M:%S"),
            *(fmt_number(run.metrics.get(key)) for key in metric_keys),
        )
    console().print(table)


def _status(status: str) -> str:
    colour = {"finished": "green", "failed": "red", "running": "yellow"}.get(status, "white")
    return f"[{colour}]{safe_markup(status)}[/{colour}]"


@runs.command("show")
@click.argument("run_id")
@json_option
def show(run_id: str, as_json: bool) -> None:
    """Show one run: status, provenance, params, metrics, inputs and artifacts."""
    from modelward.tracking import get_run

    run = get_run(run_id)
    if as_json:
        print_json(run.to_dict())
        return
    out = console()
    out.print(
        f"[bold]run {safe_markup(run.id)}[/bold]  {safe_markup(run.name)}  "
        f"({safe_markup(run.experiment)})  {_status(run.status)}"
    )
    duration = run.duration_seconds
    out.print(
        f"  started   {run.start_time:%Y-%m-%d %H:%M:%S} by {safe_markup(run.user)}"
        + (f", took {duration:.2f} s" if duration is not None else "")
    )
    if run.git_commit:
        dirty = " (uncommitted changes)" if run.git_dirty else ""
        out.print(f"  git       {safe_markup(run.git_commit[:12])}{dirty}")
    out.print(f"  source    {safe_markup(run.source)}")
    environment = run.environment or {}
    packages = ", ".join(f"{k} {v}" for k, v in environment.get("packages", {}).items())
    out.print(f"  python    {safe_markup(environment.get('python'))}; {safe_markup(packages)}")
    if run.seed is not None:
        out.print(f"  seed      {run.seed}")
    if run.error:
        out.print(f"  [red]error     {safe_markup(run.error)}[/red]")
    for ref in run.inputs:
        out.print(
            f"  input     {safe_markup(ref.role)}: {safe_markup(ref.ref)} "
            f"(sha256 {safe_markup(ref.digest[:12])})"
        )
    _print_mapping("params", run.params)
    _print_mapping("metrics", {k: fmt_number(v) for k, v in run.metrics.items()})
    _print_mapping("tags", run.tags)
    if run.artifacts:
        out.print("[bold]artifacts[/bold]")
        for artifact in run.artifacts:
            out.print(
                f"  {safe_markup(artifact.path)}  ({artifact.size_bytes:,} B, "
                f"sha256 {safe_markup(artifact.digest[:12])})"
            )


def _print_mapping(title: str, values: dict[str, Any]) -> None:
    if not values:
        return
    out = console()
    out.print(f"[bold]{safe_markup(title)}[/bold]")
    width = max(len(key) for key in values)
    for key in sorted(values):
        out.print(f"  {safe_markup(f'{key:<{width}}')}  {safe_markup(values[key])}")


@runs.command("compare")
@click.argument("run_ids", nargs=-1, required=True)
@json_option
def compare(run_ids: tuple[str, ...], as_json: bool) -> None:
    """Compare runs side by side; rows that differ are highlighted."""
    from modelward.errors import InvalidInput
    from modelward.tracking import get_run

    if len(run_ids) < 2:
        raise InvalidInput("give at least two run ids to compare")
    found = [get_run(run_id) for run_id in run_ids]
    rows = _comparison_rows(found)
    if as_json:
        print_json(
            {
                "runs": [run.id for run in found],
                "rows": [
                    {"section": s, "key": k, "values": v, "differs": len(set(map(str, v))) > 1}
                    for s, k, v in rows
                ],
            }
        )
        return
    from rich.table import Table

    table = Table(
        "", "key", *(f"{safe_markup(run.id[:8])}\n{safe_markup(run.name)}" for run in found)
    )
    for section, key, values in rows:
        differs = len({str(v) for v in values}) > 1
        cells = [safe_markup(fmt_number(v)) if v is not None else "-" for v in values]
        if differs:
            cells = [f"[bold yellow]{cell}[/bold yellow]" for cell in cells]
        table.add_row(section, safe_markup(key), *cells)
    console().print(table)


def _comparison_rows(found: list[Run]) -> list[tuple[str, str, list[Any]]]:
    rows: list[tuple[str, str, list[Any]]] = [
        ("run", "experiment", [r.experiment for r in found]),
        ("run", "status", [r.status for r in found]),
        ("run", "duration_s", [r.duration_seconds for r in found]),
        ("run", "git_commit", [(r.git_commit or "")[:12] or None for r in found]),
        ("run", "inputs", [", ".join(i.ref for i in r.inputs) or None for r in found]),
    ]
    for section, attribute in (("param", "params"), ("metric", "metrics"), ("tag", "tags")):
        keys = sorted({key for run in found for key in getattr(run, attribute)})
        rows.extend((section, key, [getattr(r, attribute).get(key) for r in found]) for key in keys)
    return rows
