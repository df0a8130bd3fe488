"""Monitoring tests reuse the served model of the serving tests, and run `mw` in-process."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from modelward.monitoring.predictions import PredictionLogRepository
from modelward.monitoring.segment_log import SegmentPredictionLog
from modelward.store.object_folders import LocalObjectFolder
from modelward.store.workspace import close_workspaces, open_workspace
from tests.helpers import Result, mw_in_process

__all__ = ["CliResult", "mw_cli", "mw_in_process"]


CliResult = Result  # the name these tests use for `mw`'s exit code, stdout and stderr


@pytest.fixture
def mw_cli() -> Callable[..., CliResult]:
    """`mw_in_process`, as a fixture."""
    return mw_in_process


@pytest.fixture
def both(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterable[tuple[Any, Any]]:
    """The database's prediction log (the reference) and a segment log in local folders."""
    monkeypatch.setenv("MODELWARD_HOME", str(tmp_path / "home"))
    for variable in ("MODELWARD_DB", "MODELWARD_ARTIFACTS", "MODELWARD_PREDICTION_LOG"):
        monkeypatch.delenv(variable, raising=False)
    close_workspaces()
    reference = PredictionLogRepository(open_workspace().db)
    segments = SegmentPredictionLog(
        LocalObjectFolder(tmp_path / "log"), LocalObjectFolder(tmp_path / "feedback")
    )
    yield reference, segments
    close_workspaces()
