"""`mw data ...`: collect, version, profile, transform, export and compare datasets."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from modelward.cli.output import (
    console,
    fmt_number,
    human_size,
    json_option,
    print_json,
    progress,
    safe_markup,
    safe_text,
    sparkline,
)

if TYPE_CHECKING:
    from modelward.data.catalog import DatasetCatalog
    from modelward.data.entities import DatasetVersion


def _catalog() -> DatasetCatalog:
    from modelward.data.catalog import DatasetCatalog
    from modelward.store.workspace import open_workspace

    return DatasetCatalog(open_workspace())


@click.group()
def data() -> None:
    """Collect, version, profile, transform and compare datasets."""


def _report_added(version: DatasetVersion, created: bool, as_json: bool) -> None:
    if as_json:
        print_json({"created": created, **version.to_dict()})
        return
    state = "new version" if created else "unchanged: same content as the existing version"
    click.echo(
        f"{safe_text(version.ref)}  ({state})  {version.n_rows:,} rows x {len(version.schema)} "
        "columns, "
        f"{human_size(version.size_bytes)}, sha256 {version.digest[:12]}"
    )
    click.echo(f"next: mw data show {safe_text(version.ref)}")


@data.command("add")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--name", required=True, help="Dataset name (letters, digits, '.', '_', '-').")
@click.option("--description", default=None, help="A note stored with the version.")
@json_option
def add(path: Path, name: str, description: str | None, as_json: bool) -> None:
    """Add a CSV, Parquet or JSON lines file as a new version (only if its content changed)."""
    with progress(as_json) as stage:
        version, created = _catalog().add_file(path, name, description=description, progress=stage)
    _report_added(version, created, as_json)


@data.command("import-sql")
@click.option("--url", required=True, help="SQLAlchemy URL of the source database.")
@click.option("--query", required=True, help="The SELECT to run.")
@click.option("--name", required=True, help="Dataset name.")
@json_option
def import_sql(url: str, query: str, name: str, as_json: bool) -> None:
    """Run a query against any SQLAlchemy URL and add the result as a dataset version."""
    with progress(as_json) as stage:
        version, created = _catalog().import_sql(url, query, name, progress=stage)
    _report_added(version, created, as_json)


@data.command("list")
@json_option
def list_(as_json: bool) -> None:
    """List datasets with their newest version."""
    summaries = _catalog().summaries()
    if as_json:
        print_json([summary.to_dict() for summary in summaries])
        return
    if not summaries:
        click.echo("no datasets yet: mw data add FILE --name NAME")
        return
    from rich.table import Table

    table = Table("name", "latest", "versions", "rows", "columns", "format", "size", "created")
    for summary in summaries:
        latest = summary.latest
        table.add_row(
            safe_markup(summary.name),
            str(latest.version),
            str(summary.versions),
            f"{latest.n_rows:,}",
            str(len(latest.schema)),
            safe_markup(latest.format),
            human_size(latest.size_bytes),
            latest.created_at.strftime("%Y-%m-%d %H:%M"),
        )
    console().print(table)


@data.command("show")
@click.argument("ref")
@json_option
def show(ref: str, as_json: bool) -> None:
    """Show a version: source, lineage, schema and profile."""
    catalog = _catalog()
    version = catalog.get(ref)
    lineage = catalog.lineage(version)
    versions = catalog.versions(version.name)
    if as_json:
        print_json(
            {
                **version.to_dict(),
                "lineage": [parent.ref for parent in lineage],
                "versions": [v.version for v in versions],
            }
        )
        return
    _print_version(version, lineage, [v.version for v in versions])


def _print_version(
    version: DatasetVersion, lineage: list[DatasetVersion], numbers: list[int]
) -> None:
    from rich.table import Table

    out = console()
    out.print(
        f"[bold]{safe_markup(version.ref)}[/bold]  (versions: {', '.join(map(str, numbers))})"
    )
    out.print(f"  sha256     {safe_markup(version.digest)}")
    out.print(
        f"  data       {version.n_rows:,} rows x {len(version.schema)} columns, "
        f"{safe_markup(version.format)}, {human_size(version.size_bytes)}"
    )
    out.print(
        f"  created    {version.created_at:%Y-%m-%d %H:%M:%S %Z} by "
        f"{safe_markup(version.created_by)}"
    )
    out.print(f"  source     {safe_markup(_describe_source(version.source))}")
    if version.description:
        out.print(f"  note       {safe_markup(version.description)}")
    if lineage:
        chain = " <- ".join([version.ref, *(parent.ref for parent in lineage)])
        out.print(f"  lineage    {safe_markup(chain)}")
        out.print(f"  spec       sha256 {safe_markup(version.spec_digest)}")
    numeric = Table(
        "column",
        "dtype",
        "missing",
        "mean",
        "std",
        "min",
        "p50",
        "max",
        title="numeric columns",
        title_justify="left",
    )
    numeric.add_column("histogram", no_wrap=True)
    other = Table(
        "column",
        "dtype",
        "missing",
        "distinct",
        "top values",
        title="other columns",
        title_justify="left",
    )
    for column in version.profile.get("columns", []):
        stats = column.get("numeric")
        if stats is not None:
            quantiles = stats.get("quantiles") or {}
            numeric.add_row(
                safe_markup(column["name"]),
                safe_markup(column["dtype"]),
                fmt_number(column["missing"]),
                fmt_number(stats["mean"]),
                fmt_number(stats["std"]),
                fmt_number(stats["min"]),
                fmt_number(quantiles.get("p50")),
                fmt_number(stats["max"]),
                sparkline(stats["histogram"]["counts"]),
            )
            continue
        categorical = column.get("categorical")
        when = column.get("datetime")
        if categorical is not None:
            top = ", ".join(
                f"{safe_markup(value)} ({count:,})" for value, count in categorical["top"][:5]
            )
            other.add_row(
                safe_markup(column["name"]),
                safe_markup(column["dtype"]),
                fmt_number(column["missing"]),
                fmt_number(categorical["cardinality"]),
                top,
            )
        elif when is not None:
            other.add_row(
                safe_markup(column["name"]),
                safe_markup(column["dtype"]),
                fmt_number(column["missing"]),
                "",
                safe_markup(f"{when['min']} .. {when['max']}"),
            )
        else:
            other.add_row(
                safe_markup(column["name"]),
                safe_markup(column["dtype"]),
                fmt_number(column["missing"]),
                "",
                "",
            )
    if numeric.row_count:
        out.print(numeric)
    if other.row_count:
        out.print(other)


def _describe_source(source: dict[str, Any]) -> str:
    kind = source.get("kind")
    if kind == "file":
        return f"file {source.get('path')}"
    if kind == "sql":
        return f"SQL on {source.get('url')}: {source.get('query')}"
    if kind == "transform":
        return f"transform of {source.get('parent')}"
    return str(kind or "unknown")


@data.command("diff")
@click.argument("a")
@click.argument("b")
@json_option
def diff(a: str, b: str, as_json: bool) -> None:
    """Compare two versions: schema changes, row counts, shifts of the main statistics."""
    catalog = _catalog()
    first, second = catalog.get(a), catalog.get(b)
    result = catalog.diff(first.ref, second.ref)
    payload = {"a": first.ref, "b": second.ref, **result.to_dict()}
    if as_json:
        print_json(payload)
        return
    _print_diff(payload)


def _print_diff(payload: dict[str, Any]) -> None:
    from rich.table import Table

    out = console()
    rows = payload["rows"]
    out.print(
        f"[bold]{safe_markup(payload['a'])} -> {safe_markup(payload['b'])}[/bold]  "
        f"rows {rows['a']:,} -> {rows['b']:,} ({rows['delta']:+,})"
    )
    if not payload.get("has_changes"):
        out.print("no differences in schema or statistics")
        return
    for name in payload.get("added", []):
        out.print(f"  [green]+ column {safe_markup(name)}[/green]")
    for name in payload.get("removed", []):
        out.print(f"  [red]- column {safe_markup(name)}[/red]")
    for change in payload.get("dtype_changes", []):
        out.print(
            f"  ~ column {safe_markup(change['name'])}: {safe_markup(change['from'])} -> "
            f"{safe_markup(change['to'])}"
        )
    table = Table("column", "statistic", "a", "b", "delta", "relative")
    for column in payload.get("columns", []):
        for stat, values in column.get("stats", {}).items():
            if values.get("delta") in (None, 0) and values.get("a") == values.get("b"):
                continue
            relative = values.get("relative")
            table.add_row(
                safe_markup(column["name"]),
                safe_markup(stat),
                fmt_number(values.get("a")),
                fmt_number(values.get("b")),
                fmt_number(values.get("delta")),
                "" if relative is None else f"{relative:+.1%}",
            )
    if table.row_count:
        out.print(table)


@data.command("export")
@click.argument("ref")
@click.argument("path", type=click.Path(path_type=Path))
@json_option
def export(ref: str, path: Path, as_json: bool) -> None:
    """Write a version to PATH; the format follows the suffix (.csv, .parquet, .jsonl)."""
    with progress(as_json) as stage:
        stage("exporting")
        version, written = _catalog().export(ref, path)
    if as_json:
        print_json({"ref": version.ref, "path": str(written.absolute()), "rows": version.n_rows})
        return
    click.echo(f"wrote {version.ref} ({version.n_rows:,} rows) to {safe_text(written)}")


@data.command("transform")
@click.argument("ref")
@click.option(
    "--spec",
    "spec_path",
    required=True,
    type=click.Path(path_type=Path),
    help="YAML file with the steps.",
)
@click.option("--name", required=True, help="Name of the output dataset.")
@json_option
def transform(ref: str, spec_path: Path, name: str, as_json: bool) -> None:
    """Fit a preprocessing spec on a version and record the output with its lineage."""
    with progress(as_json) as stage:
        version, created = _catalog().transform(ref, spec_path, name, progress=stage)
    if as_json:
        print_json({"created": created, **version.to_dict()})
        return
    state = "new version" if created else "unchanged: same output as the existing version"
    click.echo(
        f"{safe_text(version.ref)}  ({state})  from {safe_text(version.parent_ref)}, "
        f"{version.n_rows:,} rows x "
        f"{len(version.schema)} columns, spec sha256 {(version.spec_digest or '')[:12]}"
    )
    click.echo(f"next: mw data show {safe_text(version.ref)}")
