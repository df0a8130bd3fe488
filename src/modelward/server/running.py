"""Running `mw server`: the socket, the store, the first admin token, the workers.

    sock = bind(host, port)                 # a port in use fails here, before any work
    first = ensure_first_token(workspace)   # at most once per store, however many workers
    run(sock, workers)                      # until SIGTERM/SIGINT, then exit 0

The app is built once, here. One worker serves it in this process; with
`--workers N` this process closes the store's connections and forks N workers
(`serving.processes.Supervisor`): each opens its own connections as it needs them (never
shared across processes) and serves a moment later, where a freshly spawned
interpreter (uvicorn's own supervisor) would import and build everything again.
So `create_app` must start no thread: background work belongs in its lifespan,
which runs in each worker. SIGTERM and SIGINT let in-flight requests finish first.

Nothing here imports pandas, numpy or scikit-learn: a route module that needs
them imports them inside its handlers, so the server is ready in well under 2 s.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator
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
    workspace.owned_artifacts.create()  # the folder, or a check that the bucket is there
    return workspace


def ensure_first_token(workspace: Workspace) -> FirstToken | None:
    """With no token in the store, create the first admin token; None if any exists.

    Safe against other servers starting on the same store at the same moment:
    exactly one of them gets the token.
    """
    from modelward.identity import acting_as

    with acting_as("mw server (first start)"):
        made = TokenRepository(workspace.db).create_first(FIRST_TOKEN_NAME, ADMIN)
    return None if made is None else FirstToken(name=made[0].name, secret=made[1])


def app_from_env() -> Starlette:
    """The app over the store the environment names (what each worker serves); its
    lifespan compacts the prediction log's segments (one worker of the deployment)."""
    from modelward.server.app import create_app

    workspace = server_workspace()

    @contextlib.asynccontextmanager
    async def background_work(_app: Starlette) -> AsyncIterator[None]:
        from modelward.monitoring.background import BackgroundProcess, child_compaction
        from modelward.monitoring.compaction import LogCompactor

        # merged in a child process (started at the first round), off the requests' GIL
        background = BackgroundProcess(workspace.settings)
        compactor = LogCompactor(workspace, merge=child_compaction(background))
        compactor.start()
        try:
            yield
        finally:
            compactor.stop()
            background.close()

    return create_app(workspace, lifespan=background_work)


def run(sock: socket.socket, workers: int) -> None:
    """Serve on `sock` until SIGINT/SIGTERM; in-flight requests finish, then it returns."""
    import gc

    from modelward.serving import processes

    processes.preload()
    app = app_from_env()
    # What is loaded now lives as long as the server: kept out of the collector's way
    # (and its memory pages stay shared between forked workers).
    gc.freeze()
    gc.enable()  # `mw server` starts with it off: start-up makes no garbage
    if workers <= 1:
        processes.serve(sock, app, escalate=True)
        return
    # a forked worker must never use a connection its parent opened: close them (the
    # engine opens new ones in each worker as it needs them)
    app.state.workspace.db.dispose()
    supervisor = processes.Supervisor(workers, lambda: processes.serve(sock, app, escalate=False))
    supervisor.run()
