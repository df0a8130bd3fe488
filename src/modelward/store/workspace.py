"""A workspace: what the settings point at, a local store or a team server.

Locally (the default) it is the metadata database and the artifact store under
MODELWARD_HOME, or with MODELWARD_ARTIFACTS=s3://bucket/prefix an S3 bucket
(`S3ArtifactStore`, which writes nothing to the home). With MODELWARD_URI set it
is a `ServerClient` for that server and no database at all: each aggregate's
port (`data`, `tracking`, `registry`, `monitoring`) picks its remote adapter
from `workspace.remote`, once, where the workspace is opened, and everything
above the ports works unchanged.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from modelward.config import Settings, load_settings
from modelward.errors import InvalidInput
from modelward.store.artifacts import DIR_MODE, ArtifactStore, LocalArtifactStore
from modelward.store.database import Database

if TYPE_CHECKING:
    from modelward.store.remote import ServerClient
    from modelward.store.s3_artifacts import S3ArtifactStore

    # the stores a process owns (and a team server serves): not a team server's
    OwnedArtifacts = LocalArtifactStore | S3ArtifactStore


@dataclass(frozen=True)
class Workspace:
    """Everything modelward persists, for one MODELWARD_HOME / MODELWARD_DB / MODELWARD_URI."""

    settings: Settings
    artifacts: ArtifactStore
    database: Database | None = None
    remote: ServerClient | None = None

    @property
    def db(self) -> Database:
        """The local metadata database (a remote workspace has none)."""
        if self.database is None:
            raise InvalidInput(
                f"this needs a local store, but MODELWARD_URI={self.settings.uri} names a "
                "team server: unset MODELWARD_URI, or run it on the server"
            )
        return self.database

    @property
    def owned_artifacts(self) -> OwnedArtifacts:
        """The artifact store this process owns: a local one or an S3 bucket (what a team
        server serves); a remote workspace has none."""
        if self.remote is not None or not hasattr(self.artifacts, "incoming_dir"):
            raise InvalidInput(
                f"this needs an artifact store of its own, but MODELWARD_URI={self.settings.uri} "
                "names a team server: unset MODELWARD_URI, or run it on the server"
            )
        return self.artifacts  # type: ignore[return-value]

    @property
    def local_artifacts(self) -> LocalArtifactStore:
        """The local artifact store (a remote workspace has none)."""
        if not isinstance(self.artifacts, LocalArtifactStore):
            where = (
                f"MODELWARD_URI={self.settings.uri} names a team server"
                if self.settings.uri
                else f"MODELWARD_ARTIFACTS={self.settings.artifacts} names an S3 bucket"
            )
            raise InvalidInput(f"this needs a local artifact store, but {where}")
        return self.artifacts


_open: dict[Settings, Workspace] = {}
_lock = threading.Lock()


def open_workspace(settings: Settings | None = None) -> Workspace:
    """Open (once per process and settings) the workspace, migrating its schema if needed."""
    settings = settings or load_settings()
    with _lock:
        workspace = _open.get(settings)
        if workspace is None:
            workspace = _remote(settings) if settings.uri else _local(settings)
            _open[settings] = workspace
        return workspace


def _local(settings: Settings) -> Workspace:
    if not settings.home.exists():
        # Private like the artifact store: the database in it holds every record.
        settings.home.mkdir(parents=True, mode=DIR_MODE, exist_ok=True)
    return Workspace(
        settings=settings,
        database=Database(settings.db_url),
        artifacts=_artifact_store(settings),
    )


def _artifact_store(settings: Settings) -> ArtifactStore:
    """The store MODELWARD_ARTIFACTS names: a local folder, or an S3 bucket."""
    location = settings.s3_artifacts
    if location is None:
        return LocalArtifactStore(settings.artifact_root)
    from modelward.store.s3_artifacts import S3ArtifactStore

    return S3ArtifactStore(location)


def _remote(settings: Settings) -> Workspace:
    from modelward.store.remote import ServerClient
    from modelward.store.remote_artifacts import RemoteArtifactStore

    assert settings.uri is not None
    client = ServerClient(settings.uri, settings.token)
    cache = LocalArtifactStore(settings.home / "cache")
    return Workspace(settings=settings, artifacts=RemoteArtifactStore(client, cache), remote=client)


def remote_workspace(client: ServerClient, settings: Settings | None = None) -> Workspace:
    """A workspace over an already built client (tests hand in an in-process transport)."""
    from modelward.store.remote_artifacts import RemoteArtifactStore

    settings = settings or load_settings()
    cache = LocalArtifactStore(settings.home / "cache")  # the cache of these settings' home
    return Workspace(settings=settings, artifacts=RemoteArtifactStore(client, cache), remote=client)


def register_workspace(workspace: Workspace) -> Workspace:
    """Make `open_workspace()` answer `workspace` for its settings (an in-process server)."""
    with _lock:
        _open[workspace.settings] = workspace
    return workspace


def close_workspaces() -> None:
    """Dispose every open workspace (tests use it between homes)."""
    with _lock:
        for workspace in _open.values():
            if workspace.database is not None:
                workspace.database.dispose()
            if workspace.remote is not None:
                workspace.remote.close()
        _open.clear()
