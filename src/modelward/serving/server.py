"""Running the model server with uvicorn, in one process or several workers.

This is the server's composition root: it wires the model holder, the app,
the prediction log and the monitor together.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

from starlette.applications import Starlette

from modelward.registry.loading import LoadedModel
from modelward.registry.ports import model_registry
from modelward.serving import processes
from modelward.serving.app import DEFAULT_MAX_BODY_BYTES, create_app
from modelward.serving.batching import DEFAULT_BATCH_ROWS
from modelward.serving.endpoints import Serving
from modelward.serving.holder import ModelHolder
from modelward.store.workspace import open_workspace

log = logging.getLogger("modelward.serving")


@dataclass(frozen=True)
class ServeOptions:
    """How `mw serve` runs."""

    ref: str
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    trust: bool = False
    poll_interval: float = 2.0
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    log_sample: float = 1.0
    monitor_interval: float = 10.0
    alerts: str | None = None
    batch_rows: int = DEFAULT_BATCH_ROWS


def build_app(options: ServeOptions, loaded: LoadedModel | None = None) -> Starlette:
    """Load (and verify) the model, build the app; its lifespan runs the background work.

    `loaded`: the model as this process (or the parent it was forked from) already
    loaded and verified it for `options.ref`, not loaded again.
    """
    from modelward.monitoring.background import (
        BackgroundProcess,
        ChildLogReads,
        child_compaction,
    )
    from modelward.monitoring.compaction import LogCompactor
    from modelward.monitoring.drift_rounds import ChildProcessDrift
    from modelward.monitoring.monitor import ServerMonitor
    from modelward.monitoring.ports import PredictionSink, prediction_log_store
    from modelward.monitoring.writer import PredictionLogWriter

    workspace = open_workspace()
    holder = ModelHolder(
        model_registry(workspace),
        options.ref,
        trust=options.trust,
        poll_interval=options.poll_interval,
        loaded=loaded,
    )
    sink: PredictionSink = prediction_log_store(workspace)
    uploader = None
    if workspace.remote is None and workspace.settings.log_segments:
        from modelward.monitoring.segment_log import SegmentPredictionLog
        from modelward.monitoring.segment_uploader import SegmentUploader

        assert isinstance(sink, SegmentPredictionLog)
        sink = uploader = SegmentUploader(sink)  # encoded and uploaded by a child
    sink.prepare()  # before `serve` freezes what start-up loaded
    writer = PredictionLogWriter(
        sink,
        sample=options.log_sample,
        flush_interval=sink.flush_interval,
        batch_size=sink.batch_size,
    )
    launcher = None
    if options.alerts:
        from modelward.pipelines.loop import PipelineLauncher

        launcher = PipelineLauncher(workspace, holder.current.version.name)
    # The monitor's reads, its drift rounds and the log's compaction run in a child
    # process: their object-store requests and Parquet work never take the GIL from
    # the requests, and a drift round holds up neither a request nor the other series.
    background = BackgroundProcess(workspace.settings)
    monitor = ServerMonitor(
        workspace,
        holder,
        interval=options.monitor_interval,
        alerts_path=options.alerts,
        drift=ChildProcessDrift(workspace.settings, wait=0, background=background),
        reads=ChildLogReads(background),
        on_fire=launcher.fire if launcher is not None else None,
    )
    # of log segments, by one process of the deployment
    compactor = LogCompactor(workspace, merge=child_compaction(background))
    serving = Serving.of(holder, prediction_log=writer, batch_rows=options.batch_rows)

    @contextlib.asynccontextmanager
    async def background_work(_app: Starlette) -> AsyncIterator[None]:
        holder.start()
        writer.start()
        serving.metrics.start()
        monitor.start()
        compactor.start()
        try:
            yield
        finally:
            compactor.stop()
            # uvicorn gets here after in-flight requests are answered: every answered
            # request is in the writer's queue and is written here.
            monitor.stop()
            background.close()
            holder.stop()
            serving.metrics.stop()
            writer.close()
            if uploader is not None:
                uploader.close()

    app = create_app(serving, max_body_bytes=options.max_body_bytes, lifespan=background_work)
    app.state.monitor = monitor
    app.state.pipelines = launcher
    return app


def serve(
    options: ServeOptions,
    sock: socket.socket,
    app: Starlette | None = None,
    loaded: LoadedModel | None = None,
) -> None:
    """Run on `sock` until SIGINT/SIGTERM; in-flight requests finish before the server stops.

    With several workers, this process loads everything a worker needs once (the
    imports, and the model, verified: `preload`, or `loaded` when the caller did),
    then forks the workers: each starts with those modules and that model in memory
    (shared until written) and only opens its own store connections.
    """
    import gc

    if options.workers <= 1:
        app = app or build_app(options, loaded)
        # What start-up loaded (modules, the model) lives as long as the process: out of
        # the collector's way, a full collection walks only what requests allocate.
        gc.freeze()
        processes.serve(sock, app, escalate=True)
        return
    model = loaded or preload(options)
    # Tells each worker's monitor that the process holding the monitor lock may be a
    # sibling worker (same parent): it says so in an info line, not a warning.
    os.environ["MODELWARD_SERVE_REF"] = options.ref

    def work() -> None:  # in each forked worker: its own store, the parent's model
        worker_app = build_app(options, model)
        gc.freeze()
        processes.serve(sock, worker_app, escalate=False)

    processes.Supervisor(options.workers, work).run()


def preload(options: ServeOptions) -> LoadedModel:
    """Import what a worker imports and load (and verify) the model once, before forking
    workers; returns the model.

    The store is closed again: a forked worker must not share the parent's
    database connections.
    """
    processes.preload()
    from modelward.monitoring.monitor import ServerMonitor  # noqa: F401
    from modelward.monitoring.writer import PredictionLogWriter  # noqa: F401
    from modelward.serving.predicting import prepare
    from modelward.store.workspace import close_workspaces

    try:
        loaded = model_registry(open_workspace()).load(options.ref, trust=options.trust)
        prepare(loaded)
    finally:
        close_workspaces()
    return loaded
