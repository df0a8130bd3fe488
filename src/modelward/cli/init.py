"""`mw init`: create the store in MODELWARD_HOME."""

from __future__ import annotations

import click

from modelward.cli.output import json_option, print_json, safe_text


@click.command()
@json_option
def init(as_json: bool) -> None:
    """Create (or upgrade) the store: metadata database and artifact folder."""
    from modelward.store.database import redact_url
    from modelward.store.workspace import open_workspace

    workspace = open_workspace()
    from modelward.store.artifacts import LocalArtifactStore
    from modelward.store.s3_artifacts import S3ArtifactStore

    if isinstance(workspace.artifacts, LocalArtifactStore | S3ArtifactStore):
        workspace.artifacts.create()  # the folder, or a check that the S3 bucket is there
    info = {
        "home": str(workspace.settings.home),
        "database": redact_url(workspace.settings.db_url),
        "artifacts": workspace.settings.artifacts,
        "schema_revision": workspace.db.current_revision(),
    }
    if as_json:
        print_json(info)
        return
    click.echo(f"modelward store ready in {safe_text(info['home'])}")
    click.echo(f"  database   {safe_text(info['database'])} (schema {info['schema_revision']})")
    click.echo(f"  artifacts  {safe_text(info['artifacts'])}")
    click.echo("next: mw data add FILE --name NAME, or mw demo")
