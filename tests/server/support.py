"""A team server in-process, and clients of it, for the server's tests.

team = TeamServer.start(workspace)        # the server over a (local) workspace
team.http("reader").get("/api/v1/whoami")   # a TestClient with a reader's token
team.connect("writer", client_home)       # the Python API and the CLI now talk to it
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from modelward.config import load_settings
from modelward.server.app import create_app
from modelward.server.tokens import ADMIN, READER, ROLES, WRITER, TokenRepository
from modelward.store.remote import ServerClient
from modelward.store.workspace import Workspace, register_workspace, remote_workspace

BASE_URL = "http://testserver"


@dataclass
class TeamServer:
    """One app over one store, with a token of each role."""

    app: Starlette
    workspace: Workspace
    secrets: dict[str, str] = field(default_factory=dict)

    @classmethod
    def start(cls, workspace: Workspace) -> TeamServer:
        """The app over `workspace`, with tokens named after their roles."""
        tokens = TokenRepository(workspace.db)
        team = cls(app=create_app(workspace), workspace=workspace)
        for role in ROLES:
            team.secrets[role] = tokens.create(role, role)[1]
        return team

    def http(self, role: str | None = WRITER) -> TestClient:
        """A TestClient sending the token of `role` (none when None)."""
        client = TestClient(self.app, base_url=BASE_URL, raise_server_exceptions=False)
        if role is not None:
            client.headers["Authorization"] = f"Bearer {self.secrets[role]}"
        return client

    def client(self, role: str = WRITER) -> ServerClient:
        """modelward's ServerClient over the in-process app."""
        return ServerClient(BASE_URL, self.secrets[role], http=self.http(None), retry_for=0.5)

    def connect(
        self, monkeypatch: pytest.MonkeyPatch, client_home: Path, role: str = WRITER
    ) -> Workspace:
        """Point this process's `mw` (Python API and CLI) at the server, as `role`."""
        monkeypatch.setenv("MODELWARD_HOME", str(client_home))
        monkeypatch.setenv("MODELWARD_URI", BASE_URL)
        monkeypatch.setenv("MODELWARD_TOKEN", self.secrets[role])
        monkeypatch.delenv("MODELWARD_DB", raising=False)
        monkeypatch.delenv("MODELWARD_ARTIFACTS", raising=False)
        return register_workspace(remote_workspace(self.client(role), load_settings()))


__all__ = ["ADMIN", "READER", "WRITER", "TeamServer"]
