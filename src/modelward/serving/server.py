"""Running the model server with uvicorn, in one process or several workers.

This is the server's composition root: it wires the model holder, the app,
the prediction log and the monitor together.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from fastapi import FastAPI

from modelward.registry.service import ModelRegistry
from modelward.serving.app import DEFAULT_MAX_BODY_BYTES, create_app
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


def build_app(options: ServeOptions) -> FastAPI:
    """Load (and verify) the model, start following its alias, build the app."""
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
    app = create_app(holder, prediction_log=writer, max_body_bytes=options.max_body_bytes)

    @app.on_event("startup")
    async def start_background_work() -> None:
        holder.start()
        writer.start()
        monitor.start()

    @app.on_event("shutdown")
    async def stop_background_work() -> None:
        # uvicorn runs this after in-flight requests are answered: every answered
        # request is in the writer's queue and is written here.
        monitor.stop()
        holder.stop()
        writer.close()

    app.state.monitor = monitor
    return app


def app_from_environment() -> FastAPI:
    """uvicorn factory for worker processes: options come from the environment."""
    return build_app(ServeOptions.from_environment())


def serve(options: ServeOptions, app: FastAPI | None = None) -> None:
    """Run until SIGINT/SIGTERM; in-flight requests finish before the server stops."""
    import uvicorn

    common = {
        "host": options.host,
        "port": options.port,
        "log_level": "warning",
        "access_log": False,
        "timeout_graceful_shutdown": 10,
    }
    if options.workers <= 1:
        uvicorn.run(app or build_app(options), **common)  # type: ignore[arg-type]
        return
    os.environ.update(options.to_environment())
    uvicorn.run(
        "modelward.serving.server:app_from_environment",
        factory=True,
        workers=options.workers,
        **common,  # type: ignore[arg-type]
    )
