"""A real `mw server` on 127.0.0.1 (uvicorn in a thread) for the unmodified MLflow client.

The MLflow client speaks real HTTP, so these tests cannot use an in-process transport:

    with LiveServer.running(workspace) as live:
        live.use(monkeypatch, "writer")    # MLFLOW_TRACKING_URI / _TOKEN for this test
        mlflow.start_run() ...
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount

from modelward.server.app import create_app
from modelward.server.tokens import ROLES, TokenRepository
from modelward.store.workspace import Workspace

# the MLflow client retries 5xx and 429 with backoff for minutes by default
CLIENT_ENV = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "60",
    "MLFLOW_ENABLE_ASYNC_LOGGING": "false",
}


@dataclass
class LiveServer:
    """The team server over `workspace`, served by uvicorn on a free loopback port."""

    workspace: Workspace
    url: str
    app: Starlette
    secrets: dict[str, str] = field(default_factory=dict)

    @classmethod
    @contextmanager
    def running(cls, workspace: Workspace, **app_options: Any) -> Iterator[LiveServer]:
        """Serve `workspace` until the block ends; a token per role, named after it."""
        tokens = TokenRepository(workspace.db)
        secrets = {role: tokens.create(role, role)[1] for role in ROLES}
        workspace.local_artifacts.create()
        app = create_app(workspace, **app_options)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        try:
            yield cls(workspace, f"http://127.0.0.1:{port}", app, secrets)
        finally:
            server.should_exit = True
            thread.join(timeout=15)
            sock.close()

    def use(self, monkeypatch: pytest.MonkeyPatch, role: str | None) -> None:
        """Point this process's MLflow client at the server, with the token of `role`."""
        monkeypatch.setenv("MLFLOW_TRACKING_URI", self.url)
        if role is None:
            monkeypatch.delenv("MLFLOW_TRACKING_TOKEN", raising=False)
        else:
            monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", self.secrets[role])
        for name, value in CLIENT_ENV.items():
            monkeypatch.setenv(name, value)

    def http(self, role: str | None = "writer") -> httpx.Client:
        """A plain HTTP client of the server (for what the MLflow client would not send)."""
        headers = {"Authorization": f"Bearer {self.secrets[role]}"} if role else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


def unique(prefix: str) -> str:
    """A name no other test of the module uses (the server lives for the whole module)."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def mlflow_app(app: Starlette) -> Starlette:
    """The MLflow sub-app mounted at /api/2.0 of a team server's app."""
    for route in app.routes:
        if isinstance(route, Mount) and route.path == "/api/2.0":
            mounted: Starlette = route.app  # type: ignore[assignment]
            return mounted
    raise LookupError("no MLflow API mounted at /api/2.0")
