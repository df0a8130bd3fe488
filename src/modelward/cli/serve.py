"""`mw serve`: the REST model server for a model reference."""

from __future__ import annotations

import click


@click.command()
@click.argument("model")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option(
    "--poll-interval",
    default=2.0,
    show_default=True,
    type=click.FloatRange(0),
    help="Seconds between checks of where the alias points (0: never).",
)
@click.option(
    "--max-body-mb", default=5.0, show_default=True, type=click.FloatRange(0.001), help="413 above."
)
@click.option("--trust", is_flag=True, help="Allow loading a pickled model (runs its code).")
def serve(
    model: str,
    host: str,
    port: int,
    workers: int,
    poll_interval: float,
    max_body_mb: float,
    trust: bool,
) -> None:
    """Serve MODEL@ref over HTTP: /predict, /invocations, /health, /ready, /metrics, /docs.

    When the reference is an alias (or latest), the server follows it: a new
    version is loaded and verified, then swapped in without failing a request.
    """
    from modelward.serving.server import ServeOptions, build_app
    from modelward.serving.server import serve as run_server

    options = ServeOptions(
        ref=model,
        host=host,
        port=port,
        workers=workers,
        trust=trust,
        poll_interval=poll_interval,
        max_body_bytes=int(max_body_mb * 1024 * 1024),
    )
    app = build_app(options)  # loads and verifies now: bad references fail before binding
    version = app.state.holder.current.version
    click.echo(
        f"serving {version.ref} ({model}) on http://{host}:{port} with {workers} worker(s); "
        f"docs at http://{host}:{port}/docs",
        err=True,
    )
    run_server(options, app if workers == 1 else None)
