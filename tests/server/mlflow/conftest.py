"""Fixtures of the MLflow-compatibility tests: one live server per module and backend."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from modelward.config import Settings, load_settings
from modelward.server.tokens import WRITER
from modelward.store.workspace import Workspace, open_workspace
from tests.server.mlflow.support import LiveServer


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def live_workspace(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Workspace]:
    """A store for this module's server: SQLite, or a fresh database of the real PostgreSQL."""
    import sqlalchemy as sa

    home = tmp_path_factory.mktemp("mlflow-home")
    base = load_settings({"MODELWARD_HOME": str(home)})
    if request.param == "sqlite":
        settings = base
        yield open_workspace(settings)
        return
    server: str = request.getfixturevalue("postgres_server")
    name = f"mw_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    settings = Settings(home=base.home, db_url=f"{server}/{name}", artifacts=base.artifacts)
    workspace = open_workspace(settings)
    try:
        yield workspace
    finally:
        workspace.db.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="module")
def live(live_workspace: Workspace) -> Iterator[LiveServer]:
    """`mw server` over the module's store, on a loopback port, a token per role."""
    with LiveServer.running(live_workspace) as server:
        yield server


@pytest.fixture
def mlflow_client(live: LiveServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveServer]:
    """The unmodified MLflow client pointed at `live` as a writer, with no state left over."""
    import mlflow
    import mlflow.tracking.fluent

    live.use(monkeypatch, WRITER)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_ID", "")
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID")  # set_experiment writes it: undone after the test
    monkeypatch.setattr(mlflow.tracking.fluent, "_active_experiment_id", None)
    yield live
    while mlflow.active_run() is not None:
        mlflow.end_run()
