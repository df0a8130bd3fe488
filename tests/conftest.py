"""Shared fixtures: an isolated MODELWARD_HOME, and a real PostgreSQL server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelward.config import Settings, load_settings
from modelward.store.workspace import Workspace, close_workspaces, open_workspace

# The served models are one session-wide home for every test directory that uses them
# (a conftest per directory would make one per directory).
from tests.serving.support import (  # noqa: F401
    _in_served_home,
    anyio_backend,
    penguins,
    production_app,
    production_server,
    served,
    server_factory,
)

PG_BIN_GLOB = "/usr/lib/postgresql/*/bin"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh MODELWARD_HOME (SQLite) for one test."""
    path = tmp_path / "home"
    monkeypatch.setenv("MODELWARD_HOME", str(path))
    monkeypatch.delenv("MODELWARD_DB", raising=False)
    monkeypatch.delenv("MODELWARD_ARTIFACTS", raising=False)
    yield path
    close_workspaces()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pg_bin() -> Path | None:
    import glob

    found = sorted(glob.glob(PG_BIN_GLOB))
    return Path(found[-1]) if found else None


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A PostgreSQL server on 127.0.0.1 for the session; yields its base URL.

    MODELWARD_TEST_PG_URL points at an existing server instead. Without either,
    the PostgreSQL tests are skipped on a laptop but fail in CI.
    """
    external = os.environ.get("MODELWARD_TEST_PG_URL")
    if external:
        yield external.rstrip("/")
        return
    bin_dir = _pg_bin()
    if bin_dir is None or shutil.which("su") is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed: .ci/run should have installed it")
        pytest.skip("PostgreSQL binaries not found (apt-get install postgresql)")
    data_dir = Path(tempfile.mkdtemp(prefix="mw-pg-"))
    port = _free_port()
    as_root = os.geteuid() == 0

    def run(command: str) -> None:
        argv = ["su", "postgres", "-c", command] if as_root else ["bash", "-c", command]
        subprocess.run(argv, check=True, capture_output=True, timeout=60)

    if as_root:
        shutil.chown(data_dir, "postgres", "postgres")
    run(f"{bin_dir}/initdb -D {data_dir} -U postgres -A trust -E UTF8 --no-instructions")
    run(
        f"{bin_dir}/pg_ctl -D {data_dir} -l {data_dir}/server.log -w -t 30 "
        f"-o '-p {port} -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off' start"
    )
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}"
    finally:
        run(f"{bin_dir}/pg_ctl -D {data_dir} -m fast stop")
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A new, empty PostgreSQL database for one test."""
    import sqlalchemy as sa

    name = f"mw_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(f"{postgres_server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{postgres_server}/{name}"
    finally:
        close_workspaces()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend_home(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """A fresh home whose metadata lives in SQLite or in a real PostgreSQL database."""
    path = tmp_path / "home"
    monkeypatch.setenv("MODELWARD_HOME", str(path))
    monkeypatch.delenv("MODELWARD_ARTIFACTS", raising=False)
    if request.param == "postgresql":
        monkeypatch.setenv("MODELWARD_DB", request.getfixturevalue("postgres_url"))
    else:
        monkeypatch.delenv("MODELWARD_DB", raising=False)
    yield path
    close_workspaces()


@pytest.fixture
def workspace(backend_home: Path) -> Workspace:
    """The workspace of `backend_home` (both backends)."""
    return open_workspace()


@pytest.fixture
def settings(home: Path) -> Settings:
    """Settings of the SQLite `home`."""
    return load_settings()
