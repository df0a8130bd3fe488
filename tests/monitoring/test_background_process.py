"""The server's background process (`monitoring.background`): the monitor's reads and the
log's compaction done by the child answer as the same calls in this process; each kind
of request has a thread of its own there; a call that fails, times out or names no kind
gets a one-line error, and the next call is answered by a new child."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelward.config import load_settings
from modelward.monitoring.background import (
    BackgroundProcess,
    ChildLogReads,
    child_compaction,
    serve_requests,
)
from modelward.monitoring.compaction import LogCompactor
from modelward.monitoring.drift_rounds import settings_to_dict
from modelward.monitoring.log_segments import HOUR_MS
from modelward.monitoring.ports import prediction_log_store
from modelward.monitoring.predictions import PredictionRecord
from modelward.store.workspace import Workspace, close_workspaces, open_workspace

NOW_MS = int(time.time() * 1000)


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Workspace]:
    """A home whose prediction log is segments in a local folder."""
    monkeypatch.setenv("MODELWARD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MODELWARD_PREDICTION_LOG", "segments")
    monkeypatch.delenv("MODELWARD_ARTIFACTS", raising=False)
    monkeypatch.delenv("MODELWARD_DB", raising=False)
    close_workspaces()
    yield open_workspace()
    close_workspaces()


def _records(n: int, start_ms: int, step_ms: int) -> list[PredictionRecord]:
    rng = np.random.default_rng(7)
    return [
        PredictionRecord(
            request_id=f"req-{i}",
            model_name="m",
            model_version=1,
            created_ms=start_ms + i * step_ms,
            status=500 if i % 9 == 4 else 200,
            latency_ms=float(rng.gamma(2.0, 3.0)),
            n_rows=1,
            inputs={"x": [float(i)]},
            outputs=[i % 2] if i % 9 != 4 else None,
            error="boom" if i % 9 == 4 else None,
        )
        for i in range(n)
    ]


def test_the_childs_summary_and_labels_are_what_the_log_answers_here(
    workspace: Workspace,
) -> None:
    log = prediction_log_store(workspace)
    records = _records(90, NOW_MS - 89_000, 1000)
    for start in range(0, 90, 30):  # three segments
        log.add_records(records[start : start + 30])
    answered = [r for r in records if r.status == 200]
    for record in answered[:25]:
        assert log.add_feedback(record.request_id, 1 - record.outputs[0])  # type: ignore[index]
    background = BackgroundProcess(workspace.settings)
    try:
        reads = ChildLogReads(background)
        since = records[40].created_ms
        summary = reads.request_summary("m", since)
        assert summary == log.request_summary("m", since)
        recent = [r for r in records if r.created_ms >= since]
        latencies = [r.latency_ms for r in recent if r.status == 200]
        assert summary.total == len(recent) == 50
        assert summary.failed == sum(r.status != 200 for r in recent)
        assert summary.latency_p95_ms == pytest.approx(np.percentile(latencies, 95))
        labeled = reads.labeled("m", last=10)
        assert labeled == log.labeled("m", last=10)
        newest = sorted(answered[:25], key=lambda r: r.created_ms, reverse=True)[:10]
        assert [p.request_id for p in labeled] == [r.request_id for r in newest]
        assert all(p.label == 1 - p.outputs[0] for p in labeled)  # every one wrong
        assert background.pid is not None
    finally:
        background.close()
    assert background.pid is None


def test_the_childs_compaction_merges_closed_hours_and_changes_no_count(
    workspace: Workspace,
) -> None:
    log = prediction_log_store(workspace)
    start = (NOW_MS // HOUR_MS - 3) * HOUR_MS  # three whole hours ago
    records = _records(120, start, 60_000)  # two closed hours
    for first in range(0, 120, 10):
        log.add_records(records[first : first + 10])
    folder = workspace.settings.home / "prediction-log"
    before = len(list(folder.rglob("*.parquet")))
    background = BackgroundProcess(workspace.settings)
    try:
        merged = LogCompactor(workspace, merge=child_compaction(background)).run_once()
    finally:
        background.close()
    assert merged == before == 12
    partitions = {p.parent for p in folder.rglob("*.parquet")}
    assert len(partitions) == 2
    assert all(len(list(p.glob("*-compact-*.parquet"))) == 1 for p in partitions)
    assert log.count("m") == 120  # this process's reader skips what was replaced


def test_a_call_past_its_timeout_stops_the_child_and_the_next_call_gets_another(
    workspace: Workspace,
) -> None:
    prediction_log_store(workspace).add_records(_records(5, NOW_MS - 5000, 1000))
    background = BackgroundProcess(workspace.settings)
    try:
        with pytest.raises(RuntimeError, match=r"^the background summary took over 0 s$"):
            background.call("summary", {"model": "m", "since_ms": 0}, timeout=0.001)
        assert background.pid is None  # a child still importing is stopped
        assert ChildLogReads(background).request_summary("m", 0).total == 5
        first = background.pid
        with pytest.raises(RuntimeError, match=r"^not a background request: 'nope'$"):
            background.call("nope", {})
        with pytest.raises(RuntimeError, match=r"^KeyError: 'since_ms'$"):
            background.call("summary", {"model": "m"})
        assert background.pid == first  # refused requests leave the child serving
    finally:
        background.close()


def test_a_long_request_of_one_kind_does_not_hold_up_another_kind(tmp_path: Path) -> None:
    settings = settings_to_dict(load_settings({"MODELWARD_HOME": str(tmp_path / "home")}))
    release, quick_answered = threading.Event(), threading.Event()
    written: list[dict[str, Any]] = []

    def slow(_context: Any, request: dict[str, Any]) -> Any:
        assert release.wait(30)
        return "slow"

    def quick(_context: Any, request: dict[str, Any]) -> Any:
        return request["n"] * 2

    class Answers(io.RawIOBase):
        def write(self, data: Any) -> int:
            import json

            answer = json.loads(bytes(data))
            written.append(answer)
            if answer["id"] == 2:
                quick_answered.set()
            return len(data)

    def requests() -> Iterator[bytes]:
        import json

        yield json.dumps({"id": 1, "kind": "slow", "settings": settings}).encode()
        yield json.dumps({"id": 2, "kind": "quick", "settings": settings, "n": 21}).encode()
        yield b"{not json"
        assert quick_answered.wait(30)  # while the slow one still runs
        release.set()

    serve_requests(requests(), Answers(), {"slow": slow, "quick": quick})
    (refused,) = [a for a in written if a["id"] is None]
    assert refused["error"].startswith("not a background request: ")
    answers = [(a["id"], a.get("answer")) for a in written if a["id"] is not None]
    assert answers == [(2, 42), (1, "slow")]  # the quick one first


def test_a_drift_round_waits_for_the_preparation_asked_before_it(tmp_path: Path) -> None:
    import json

    settings = settings_to_dict(load_settings({"MODELWARD_HOME": str(tmp_path / "home")}))
    order: list[str] = []

    def prepare(_context: Any, request: dict[str, Any]) -> Any:
        time.sleep(0.3)  # the drift round, had it its own thread, would be done by now
        order.append("prepare")

    def drift(_context: Any, request: dict[str, Any]) -> Any:
        order.append("drift")

    class Answers(io.RawIOBase):
        def write(self, data: Any) -> int:
            return len(data)

    def requests() -> Iterator[bytes]:
        yield json.dumps({"id": 1, "kind": "prepare", "settings": settings}).encode()
        yield json.dumps({"id": 2, "kind": "drift", "settings": settings}).encode()
        deadline = time.monotonic() + 30
        while len(order) < 2 and time.monotonic() < deadline:  # else dropped at the end
            time.sleep(0.01)

    serve_requests(requests(), Answers(), {"prepare": prepare, "drift": drift})
    assert order == ["prepare", "drift"]
