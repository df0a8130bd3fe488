"""Fixtures of the store tests: a real S3-protocol server (see tests/s3.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from modelward.store.workspace import close_workspaces
from tests.s3 import s3_bucket, s3_server

__all__ = ["s3_bucket", "s3_home", "s3_server"]


@pytest.fixture
def s3_home(s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh MODELWARD_HOME (SQLite) whose artifacts live in the test's bucket."""
    path = tmp_path / "home"
    monkeypatch.setenv("MODELWARD_HOME", str(path))
    monkeypatch.delenv("MODELWARD_DB", raising=False)
    monkeypatch.setenv("MODELWARD_ARTIFACTS", s3_bucket)
    yield path
    close_workspaces()
