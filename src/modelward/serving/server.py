"""Running the model server with uvicorn, in one process or several workers.

This is the server's composition root: it wires the model holder, the app,
the prediction log and the monitor together.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette

from modelward.errors import InvalidInput, ModelwardError
from modelward.registry.ports import model_registry
from modelward.serving.app import DEFAULT_MAX_BODY_BYTES, create_app
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


def build_app(options: ServeOptions) -> Starlette:
    """Load (and verify) the model, build the app; its lifespan runs the background work."""
    from modelward.monitoring.monitor import ServerMonitor
    from modelward.monitoring.ports import prediction_log_store
    from modelward.monitoring.writer import PredictionLogWriter

    workspace = open_workspace()
    holder = ModelHolder(
        model_registry(workspace),
        options.ref,
        trust=options.trust,
        poll_interval=options.poll_interval,
    )
    writer = PredictionLogWriter(prediction_log_store(workspace), sample=options.log_sample)
    monitor = ServerMonitor(
        workspace,
        holder,
        interval=options.monitor_interval,
        alerts_path=options.alerts,
    )

    serving = Serving.of(holder, prediction_log=writer)

    @contextlib.asynccontextmanager
    async def background_work(_app: Starlette) -> AsyncIterator[None]:
        holder.start()
        writer.start()
        serving.metrics.start()
        monitor.start()
        try:
            yield
        finally:
            # uvicorn gets here after in-flight requests are answered: every answered
            # request is in the writer's queue and is written here.
            monitor.stop()
            holder.stop()
            serving.metrics.stop()
            writer.close()

    app = create_app(serving, max_body_bytes=options.max_body_bytes, lifespan=background_work)
    app.state.monitor = monitor
    return app


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything is loaded; InvalidInput if it cannot be."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise InvalidInput(
                f"port {port} on {host} is already in use: stop what listens there "
                "or choose another --port"
            ) from None
        raise InvalidInput(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)  # forked worker processes accept on it
    return sock


def serve(options: ServeOptions, sock: socket.socket, app: Starlette | None = None) -> None:
    """Run on `sock` until SIGINT/SIGTERM; in-flight requests finish before the server stops.

    With several workers, this process loads everything a worker needs once (the
    imports, and the model, to check it), then forks the workers: each starts with
    those modules in memory and only opens the store and loads the model again.
    """
    if options.workers <= 1:
        _uvicorn(app or build_app(options), sock)
        return
    preload(options)
    Supervisor(options, sock).run()


def _uvicorn(app: Starlette, sock: socket.socket) -> None:
    import gc

    import uvicorn

    # What start-up loaded (modules, the model) lives as long as the process: out of the
    # collector's way, a full collection walks only what requests allocate.
    gc.freeze()

    config = uvicorn.Config(
        app, log_level="warning", access_log=False, timeout_graceful_shutdown=10
    )
    uvicorn.Server(config).run(sockets=[sock])


def preload(options: ServeOptions) -> None:
    """Import what a worker imports and load the model once, before forking workers.

    The store is closed again: a forked worker must not share the parent's
    database connections.
    """
    import uvicorn.lifespan.on
    import uvicorn.loops.auto
    import uvicorn.protocols.http.auto

    uvicorn.loops.auto.auto_loop_factory(use_subprocess=False)  # imports uvloop if present
    from modelward.monitoring.monitor import ServerMonitor  # noqa: F401
    from modelward.monitoring.writer import PredictionLogWriter  # noqa: F401
    from modelward.serving.predicting import prepare
    from modelward.store.workspace import close_workspaces

    try:
        loaded = model_registry(open_workspace()).load(options.ref, trust=options.trust)
        prepare(loaded)
    finally:
        close_workspaces()


class Supervisor:
    """Forks `options.workers` workers on one socket, restarts one that dies, and stops
    them all on SIGINT/SIGTERM (each finishes its in-flight requests first)."""

    RESTARTS = 10  # a worker that keeps dying is a bug: give up after this many

    def __init__(self, options: ServeOptions, sock: socket.socket) -> None:
        self.options = options
        self.sock = sock
        self.children: set[int] = set()
        self.stopping = False
        self.restarts = 0

    def run(self) -> None:
        """Start the workers and wait until they have all exited."""
        import signal

        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            for _ in range(self.options.workers):
                self._fork()
            while self.children:
                try:
                    pid, status = os.wait()
                except ChildProcessError:
                    break
                self.children.discard(pid)
                if self.stopping:
                    continue
                if self.restarts >= self.RESTARTS:
                    self._stop(signal.SIGTERM, None)
                    raise ModelwardError(
                        f"workers exited {self.restarts} times (last: {_exit_text(status)}); "
                        "stopping: see the log above"
                    )
                self.restarts += 1
                log.error("worker %d exited (%s); starting another", pid, _exit_text(status))
                self._fork()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _stop(self, signum: int, _frame: Any) -> None:
        import signal

        self.stopping = True
        for pid in list(self.children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM if signum == signal.SIGINT else signum)

    def _fork(self) -> None:
        import signal

        pid = os.fork()
        if pid:
            self.children.add(pid)
            return
        code = 0
        try:  # the worker: default signal handling (uvicorn installs its own), its own store
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, signal.SIG_DFL)
            _uvicorn(build_app(self.options), self.sock)
        except BaseException:
            log.exception("worker %d failed", os.getpid())
            code = 1
        finally:
            os._exit(code)


def _exit_text(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)}"
    return f"exit code {os.waitstatus_to_exitcode(status)}"
