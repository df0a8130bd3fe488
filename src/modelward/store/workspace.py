"""A workspace: the metadata database and artifact store that settings point at."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from modelward.config import Settings, load_settings
from modelward.store.artifacts import DIR_MODE, LocalArtifactStore
from modelward.store.database import Database


@dataclass(frozen=True)
class Workspace:
    """Everything modelward persists, for one MODELWARD_HOME / MODELWARD_DB."""

    settings: Settings
    db: Database
    artifacts: LocalArtifactStore


_open: dict[Settings, Workspace] = {}
_lock = threading.Lock()


def open_workspace(settings: Settings | None = None) -> Workspace:
    """Open (once per process and settings) the workspace, migrating its schema if needed."""
    settings = settings or load_settings()
    with _lock:
        workspace = _open.get(settings)
        if workspace is None:
            if not settings.home.exists():
                # Private like the artifact store: the database in it holds every record.
                settings.home.mkdir(parents=True, mode=DIR_MODE, exist_ok=True)
            workspace = Workspace(
                settings=settings,
                db=Database(settings.db_url),
                artifacts=LocalArtifactStore(settings.artifact_root),
            )
            _open[settings] = workspace
        return workspace


def close_workspaces() -> None:
    """Dispose every open workspace (tests use it between homes)."""
    with _lock:
        for workspace in _open.values():
            workspace.db.dispose()
        _open.clear()
