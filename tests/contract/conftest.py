"""Fixtures of the contract tests: each port's local adapter and its remote adapter over an
in-process team server, on the same store (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from modelward.config import load_settings
from modelward.store.artifacts import LocalArtifactStore
from modelward.store.remote_artifacts import RemoteArtifactStore
from modelward.store.workspace import Workspace
from tests.server.support import BASE_URL, WRITER, TeamServer

SIDES = ["local", "remote"]


@pytest.fixture
def team(workspace: Workspace) -> TeamServer:
    """A team server over a fresh store (both backends), a token per role."""
    return TeamServer.start(workspace)


@pytest.fixture
def client_workspace(team: TeamServer, tmp_path: Path) -> Callable[[str], Workspace]:
    """A remote workspace over the in-process server, as `role`, with its own client home."""

    def make(role: str = WRITER) -> Workspace:
        home = tmp_path / f"client-{role}"
        settings = load_settings({"MODELWARD_HOME": str(home), "MODELWARD_URI": BASE_URL})
        client = team.client(role)
        cache = LocalArtifactStore(home / "cache")
        return Workspace(
            settings=settings, artifacts=RemoteArtifactStore(client, cache), remote=client
        )

    return make
