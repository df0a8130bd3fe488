"""`mw token create | list | revoke`: API tokens of the team server, on its store."""

from __future__ import annotations

from typing import Any

import click

from modelward.cli.output import print_json, safe_text


def _tokens() -> Any:
    from modelward.server.running import server_workspace
    from modelward.server.tokens import TokenRepository

    return TokenRepository(server_workspace().db)


@click.group()
def token() -> None:
    """API tokens of the team server (run on the server's store; MODELWARD_URI is ignored)."""


@token.command("create")
@click.argument("name")
@click.option(
    "--role",
    required=True,
    type=click.Choice(["reader", "writer", "admin"]),
    help="What it may do.",
)
@click.option("--expires", default=None, help="Lifetime, e.g. 90m, 12h, 30d, 2w (default: none).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def create(name: str, role: str, expires: str | None, as_json: bool) -> None:
    """Create token NAME; its secret is printed once and never stored."""
    info, secret = _tokens().create(name, role, expires=expires)
    payload = {**info.to_dict(), "token": secret}
    if as_json:
        print_json(payload)
    else:
        click.echo(safe_text(f"created {info.role} token {info.name!r} (shown only now):"))
        click.echo(secret)


@token.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_tokens(as_json: bool) -> None:
    """Every token: name, role, state, expiry (never a secret)."""
    tokens = [t.to_dict() for t in _tokens().list()]
    lines = [
        f"{t['name']:<24} {t['role']:<7} {t['state']:<8} expires {t['expires_at'] or 'never'}"
        for t in tokens
    ]
    if as_json:
        print_json({"tokens": tokens})
    else:
        click.echo("\n".join(safe_text(line) for line in lines) or "no tokens")


@token.command("revoke")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def revoke(name: str, as_json: bool) -> None:
    """Revoke token NAME at once (it keeps its place in the audit log)."""
    info = _tokens().revoke(name)
    if as_json:
        print_json(info.to_dict())
    else:
        click.echo(safe_text(f"revoked token {info.name!r}"))
