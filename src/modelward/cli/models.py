"""`mw models ...`: the registry: list, show, register, alias (with gates), audit."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from modelward.cli.output import (
    console,
    fmt_number,
    json_option,
    print_json,
    safe_markup,
    safe_text,
)

if TYPE_CHECKING:
    from modelward.registry.ports import Registry

HEADLINE_METRICS = ("f1", "accuracy", "roc_auc", "r2", "rmse")


def _registry() -> Registry:
    from modelward.registry.ports import model_registry
    from modelward.store.workspace import open_workspace

    return model_registry(open_workspace())


@click.group()
def models() -> None:
    """Registered models: versions, aliases (with promotion gates) and their audit log."""


@models.command("list")
@json_option
def list_(as_json: bool) -> None:
    """List registered models with their latest version and aliases."""
    found = _registry().models()
    if as_json:
        print_json([model.to_dict() for model in found])
        return
    if not found:
        click.echo("no models yet: mw train ... --register NAME")
        return
    from rich.table import Table

    table = Table("model", "versions", "latest", "aliases", "created")
    for model in found:
        aliases = ", ".join(f"{alias} -> {v}" for alias, v in model.aliases.items())
        table.add_row(
            safe_markup(model.name),
            str(model.n_versions),
            str(model.latest_version or ""),
            safe_markup(aliases),
            f"{model.created_at:%Y-%m-%d %H:%M}",
        )
    console().print(table)


@models.command("show")
@click.argument("model")
@json_option
def show(model: str, as_json: bool) -> None:
    """Show a model's versions, aliases and alias history (MODEL@ref: one version)."""
    registry = _registry()
    if "@" in model:
        version = registry.get(model)
        if as_json:
            print_json(version.to_dict())
            return
        out = console()
        out.print(
            f"[bold]{safe_markup(version.ref)}[/bold]  {safe_markup(', '.join(version.aliases))}"
        )
        out.print(
            f"  class      {safe_markup(version.class_name)} "
            f"({safe_markup(version.flavor)}, {safe_markup(version.format)})"
        )
        out.print(f"  sha256     {safe_markup(version.digest)}")
        out.print(
            f"  task       {safe_markup(version.task)}, "
            f"target {safe_markup(version.signature.get('target'))}"
        )
        out.print(f"  trained    run {safe_markup(version.run_id)} on {safe_markup(version.data)}")
        inputs = ", ".join(str(c["name"]) for c in version.signature["inputs"])
        out.print(f"  inputs     {safe_markup(inputs)}")
        if version.transform is not None:
            out.print("  transform  stored (applied to requests before predicting)")
        metrics = "  ".join(f"{k} {fmt_number(v)}" for k, v in version.metrics.items())
        out.print(f"  metrics    {safe_markup(metrics)}")
        return
    versions = registry.versions(model)
    audit = registry.audit(model)
    if as_json:
        print_json(
            {
                "name": model,
                "versions": [v.to_dict() for v in versions],
                "audit": [change.to_dict() for change in audit],
            }
        )
        return
    from rich.table import Table

    keys = [k for k in HEADLINE_METRICS if any(k in v.metrics for v in versions)]
    table = Table(
        "version", "aliases", "class", "data", "run", *keys, "created", title=safe_markup(model)
    )
    for v in versions:
        table.add_row(
            str(v.version),
            safe_markup(", ".join(v.aliases)),
            safe_markup(v.class_name.rsplit(".", 1)[-1]),
            safe_markup(v.data or ""),
            safe_markup((v.run_id or "")[:8]),
            *(fmt_number(v.metrics.get(k)) for k in keys),
            f"{v.created_at:%Y-%m-%d %H:%M}",
        )
    out = console()
    out.print(table)
    if audit:
        out.print("[bold]alias history[/bold]")
        for change in audit:
            moved = f"{change.from_version or '-'} -> {change.to_version or '-'}"
            why = f": {change.reason}" if change.reason else ""
            out.print(
                f"  {change.at:%Y-%m-%d %H:%M:%S}  {safe_markup(f'{change.alias:<12}')} "
                f"{moved:<10} by {safe_markup(change.actor)}{safe_markup(why)}"
            )
            if change.gate:
                out.print(f"      gate: {safe_markup(change.gate)}")


@models.command("register")
@click.argument("run_id")
@click.option("--name", required=True, help="Registered model name.")
@click.option("--description", default=None)
@json_option
def register(run_id: str, name: str, description: str | None, as_json: bool) -> None:
    """Register the model a run stored as the next version of NAME."""
    version = _registry().register_run(run_id, name, description=description)
    if as_json:
        print_json(version.to_dict())
        return
    click.echo(
        f"registered {safe_text(version.ref)} from run {safe_text((version.run_id or '')[:8])}"
    )


@models.command("alias")
@click.argument("model")
@click.argument("version", type=int)
@click.argument("alias")
@click.option(
    "--require",
    default=None,
    help='Gate that must hold, e.g. "f1 >= production.f1 + 0.01".',
)
@click.option("--reason", default=None, help="Why (kept in the audit log).")
@click.option(
    "--evaluated-on",
    default=None,
    metavar="DATA@V",
    help="Judge the gate by each version's evaluation on this dataset version "
    "(mw evaluate ... --data DATA@V) instead of its training metrics.",
)
@json_option
def alias(
    model: str,
    version: int,
    alias: str,
    require: str | None,
    reason: str | None,
    evaluated_on: str | None,
    as_json: bool,
) -> None:
    """Point ALIAS of MODEL at VERSION (atomic and audited), if the gate holds."""
    previous, current, checks = _registry().set_alias(
        model, version, alias, require=require, reason=reason, evaluated_on=evaluated_on
    )
    if as_json:
        print_json(
            {
                "model": model,
                "alias": alias,
                "from_version": previous.version if previous else None,
                "to_version": current.version,
                "checks": [check.to_dict() for check in checks],
            }
        )
        return
    for check in checks:
        click.echo(f"  gate {safe_text(check.describe())}")
    before = f"from version {previous.version}" if previous else "newly set"
    click.echo(f"{safe_text(model)}@{safe_text(alias)} -> version {current.version} ({before})")
