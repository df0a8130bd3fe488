"""`mw server`: the team server (REST API, MLflow-compatible API) over this store."""

from __future__ import annotations

import click

from modelward.cli.output import safe_text


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
def server(host: str, port: int, workers: int) -> None:
    """Serve this store to a team: /api/v1 (see /api/v1/docs), behind API tokens.

    On the first start with no token in the store, one admin token is created
    and printed once; create more with `mw token create`.
    """
    import gc

    from modelward.server.running import ensure_first_token, run, server_workspace
    from modelward.serving.processes import bind

    sock = bind(host, port)  # a port in use fails here, before any work
    gc.disable()  # until `run` has built the app: start-up makes no garbage
    try:
        workspace = server_workspace()
        first = ensure_first_token(workspace)
        address = _address(sock.getsockname())
        if first is not None:
            click.echo(
                f"first start: created the admin token {first.name!r}; it is shown only now:\n"
                f"  {first.secret}\n"
                f"  export MODELWARD_URI={address} MODELWARD_TOKEN={first.secret}",
                err=True,
            )
        click.echo(
            safe_text(
                f"team server for {workspace.settings.home} on {address} with {workers} "
                f"worker(s); API docs at {address}/api/v1/docs"
            ),
            err=True,
        )
        run(sock, workers)
    finally:
        gc.enable()
        sock.close()


def _address(bound: tuple[str, int] | tuple[str, int, int, int]) -> str:
    host, port = bound[0], bound[1]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
