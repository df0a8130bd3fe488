"""Fixtures of the team server's tests: the server over each backend's store."""

from __future__ import annotations

import pytest

from modelward.store.workspace import Workspace
from tests.server.support import TeamServer


@pytest.fixture
def team(workspace: Workspace) -> TeamServer:
    """A team server over a fresh store (SQLite and PostgreSQL), a token per role."""
    return TeamServer.start(workspace)
