"""Running the model server with uvicorn, in one process or several workers.

This is the server's composition root: it wires the model holder, the app,
the prediction log and the monitor together.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette

from modelward.errors import InvalidInput
from modelward.registry.service import ModelRegistry
from modelward.serving.app import DEFAULT_MAX_BODY_BYTES, create_app
from modelward.serving.endpoints import Serving
from modelward.serving.holder import ModelHolder
from modelward.store.workspace import open_workspace

_ENV = "MODELWARD_SERVE_"


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

    def to_environment(self) -> dict[str, str]:
        """The options as environment variables, for worker processes."""
        return {
            f"{_ENV}REF": self.ref,
            f"{_ENV}TRUST": "1" if self.trust else "0",
            f"{_ENV}POLL": str(self.poll_interval),
            f"{_ENV}MAX_BODY": str(self.max_body_bytes),
            f"{_ENV}LOG_SAMPLE": str(self.log_sample),
            f"{_ENV}MONITOR_INTERVAL": str(self.monitor_interval),
            f"{_ENV}ALERTS": self.alerts or "",
        }

    @classmethod
    def from_environment(cls) -> ServeOptions:
        """The options a worker process was started with."""
        env = os.environ
        return cls(
            ref=env[f"{_ENV}REF"],
            trust=env.get(f"{_ENV}TRUST") == "1",
            poll_interval=float(env.get(f"{_ENV}POLL", "2.0")),
            max_body_bytes=int(env.get(f"{_ENV}MAX_BODY", str(DEFAULT_MAX_BODY_BYTES))),
            log_sample=float(env.get(f"{_ENV}LOG_SAMPLE", "1.0")),
            monitor_interval=float(env.get(f"{_ENV}MONITOR_INTERVAL", "10.0")),
            alerts=env.get(f"{_ENV}ALERTS") or None,
        )


def build_app(options: ServeOptions) -> Starlette:
    """Load (and verify) the model, build the app; its lifespan runs the background work."""
    from modelward.monitoring.monitor import ServerMonitor
    from modelward.monitoring.predictions import PredictionLogWriter

    workspace = open_workspace()
    holder = ModelHolder(
        ModelRegistry(workspace),
        options.ref,
        trust=options.trust,
        poll_interval=options.poll_interval,
    )
    writer = PredictionLogWriter(workspace.db, sample=options.log_sample)
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


def app_from_environment() -> Starlette:
    """uvicorn factory for worker processes: options come from the environment."""
    return build_app(ServeOptions.from_environment())


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
    sock.set_inheritable(True)  # the worker processes accept on it
    return sock


def serve(options: ServeOptions, sock: socket.socket, app: Starlette | None = None) -> None:
    """Run on `sock` until SIGINT/SIGTERM; in-flight requests finish before the server stops."""
    import uvicorn

    common: dict[str, Any] = {
        "log_level": "warning",
        "access_log": False,
        "timeout_graceful_shutdown": 10,
    }
    if options.workers <= 1:
        config = uvicorn.Config(app or build_app(options), **common)
        uvicorn.Server(config).run(sockets=[sock])
        return
    from uvicorn.supervisors import Multiprocess

    os.environ.update(options.to_environment())
    config = uvicorn.Config(
        "modelward.serving.server:app_from_environment",
        factory=True,
        workers=options.workers,
        **common,
    )
    Multiprocess(config, sockets=[sock]).run()
