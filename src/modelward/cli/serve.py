"""`mw serve`: the REST model server for a model reference."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import click

from modelward.cli.output import safe_text

if TYPE_CHECKING:
    from modelward.serving.server import ServeOptions


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
@click.option(
    "--log-sample",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Share of requests recorded in the prediction log.",
)
@click.option(
    "--monitor-interval",
    default=10.0,
    show_default=True,
    type=click.FloatRange(0),
    help="Seconds between monitor rounds (live quality, drift, alerts); 0: off.",
)
@click.option(
    "--batch-rows",
    default=256,
    show_default=True,
    type=click.IntRange(0),
    help="Rows of requests arriving together predicted in one model call (0 or 1: one call "
    "per request).",
)
@click.option(
    "--alerts",
    "alerts_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Alert rules (YAML) evaluated by the monitor.",
)
def serve(
    model: str,
    host: str,
    port: int,
    workers: int,
    poll_interval: float,
    max_body_mb: float,
    trust: bool,
    log_sample: float,
    monitor_interval: float,
    batch_rows: int,
    alerts_path: Path | None,
) -> None:
    """Serve MODEL@ref over HTTP: /predict, /invocations, /health, /ready, /metrics, /docs.

    When the reference is an alias (or latest), the server follows it: a new
    version is loaded and verified, then swapped in without failing a request.
    """
    # prometheus_client picks its storage when first imported: workers share
    # their values through files in this folder (multiprocess mode).
    own_dir = "PROMETHEUS_MULTIPROC_DIR" not in os.environ
    if own_dir:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="mw-metrics-")
    try:
        from modelward.serving.server import ServeOptions

        if alerts_path is not None:
            from modelward.monitoring.alerts import load_rules
            from modelward.pipelines.loop import check_reactions

            # a malformed rule file, or a pipeline a rule starts, stops here with its error
            check_reactions(load_rules(alerts_path), model)
        _run(
            ServeOptions(
                ref=model,
                host=host,
                port=port,
                workers=workers,
                trust=trust,
                poll_interval=poll_interval,
                max_body_bytes=int(max_body_mb * 1024 * 1024),
                log_sample=log_sample,
                monitor_interval=monitor_interval,
                batch_rows=batch_rows,
                alerts=str(alerts_path.absolute()) if alerts_path else None,
            )
        )
    finally:
        if own_dir:
            shutil.rmtree(os.environ.pop("PROMETHEUS_MULTIPROC_DIR"), ignore_errors=True)


def _run(options: ServeOptions) -> None:
    from modelward.serving.processes import bind
    from modelward.serving.server import build_app, preload
    from modelward.serving.server import serve as run_server

    sock = bind(options.host, options.port)  # a port in use fails here, before any work
    try:
        app = loaded = None
        # Loaded and verified now, so a bad reference fails here with its message.
        if options.workers == 1:
            app = build_app(options)
            version = app.state.serving.holder.current.version
        else:
            loaded = preload(options)  # once, for the workers forked from this process
            version = loaded.version
        host, port = sock.getsockname()[:2]
        address = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
        click.echo(
            safe_text(
                f"serving {version.ref} ({options.ref}) on {address} with {options.workers} "
                f"worker(s); docs at {address}/docs"
            ),
            err=True,
        )
        run_server(options, sock, app, loaded)
    finally:
        sock.close()
