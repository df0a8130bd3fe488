"""Running `mw server`: the store, the first admin token, uvicorn, graceful stop.

One worker runs the app in this process; `--workers N` hands the socket to
uvicorn's process manager, whose workers build the app with `app_from_env` (each
opens the store itself: connections are never shared across processes). SIGTERM
and SIGINT let in-flight requests finish, then the process exits 0.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, replace

from starlette.applications import Starlette

from modelward.config import Settings, load_settings
from modelward.server.tokens import ADMIN, TokenRepository
from modelward.store.workspace import Workspace, open_workspace

FIRST_TOKEN_NAME = "admin"


@dataclass(frozen=True)
class FirstToken:
    """The admin token made on a store's first start (its secret is shown once)."""

    name: str
    secret: str


def server_settings() -> Settings:
    """The settings of the store the server owns (MODELWARD_URI names clients' server)."""
    return replace(load_settings(), uri=None, token=None)


def server_workspace() -> Workspace:
    """The server's local workspace, created and migrated if needed."""
    workspace = open_workspace(server_settings())
    workspace.local_artifacts.create()
    return workspace


def ensure_first_token(workspace: Workspace) -> FirstToken | None:
    """With no token in the store, create the first admin token; None if tokens exist."""
    tokens = TokenRepository(workspace.db)
    if tokens.list():
        return None
    from modelward.identity import acting_as

    with acting_as("mw server (first start)"):
        info, secret = tokens.create(FIRST_TOKEN_NAME, ADMIN)
    return FirstToken(name=info.name, secret=secret)


def app_from_env() -> Starlette:
    """The app over the store the environment names (the factory each worker calls)."""
    from modelward.server.app import create_app

    return create_app(server_workspace())


def run(sock: socket.socket, workers: int) -> None:
    """Serve on `sock` until SIGINT/SIGTERM (in-flight requests finish first)."""
    import uvicorn

    common = {"log_level": "warning", "access_log": False, "timeout_graceful_shutdown": 10}
    if workers <= 1:
        config = uvicorn.Config(app_from_env(), **common)  # type: ignore[arg-type]
        uvicorn.Server(config).run(sockets=[sock])
        return
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(
        "modelward.server.running:app_from_env",
        factory=True,
        workers=workers,
        **common,  # type: ignore[arg-type]
    )
    Multiprocess(config, sockets=[sock]).run()
