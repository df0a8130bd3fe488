"""Monitoring's ports (prediction log, alerts, alert states, drift references), the same
assertions on the local adapters and on the remote ones over an in-process team server,
on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

import modelward as mw
from modelward.errors import InvalidInput, NotFound
from modelward.monitoring.alert_events import RuleState, RuleStatus
from modelward.monitoring.ports import (
    AlertStateStore,
    AlertStore,
    DriftReferences,
    PredictionLog,
    alert_state_store,
    alert_store,
    drift_reference_store,
    prediction_log_store,
)
from modelward.monitoring.predictions import PredictionRecord, pairs
from modelward.monitoring.writer import PredictionLogWriter
from modelward.store.workspace import Workspace
from tests.contract.conftest import SIDES
from tests.server.support import ADMIN, WRITER, TeamServer


@dataclass
class Side:
    """The stores of one side: the server's own workspace, or a remote one over it."""

    name: str
    workspace: Workspace
    admin: Workspace  # the same side with an admin's token (remote), for deletions

    @property
    def log(self) -> PredictionLog:
        return prediction_log_store(self.workspace)

    @property
    def alerts(self) -> AlertStore:
        return alert_store(self.workspace)

    @property
    def states(self) -> AlertStateStore:
        return alert_state_store(self.workspace)

    @property
    def drift(self) -> DriftReferences:
        return drift_reference_store(self.workspace)


@pytest.fixture(params=SIDES)
def side(
    request: pytest.FixtureRequest,
    workspace: Workspace,
    team: TeamServer,
    client_workspace: Callable[[str], Workspace],
) -> Side:
    if request.param == "local":
        return Side("local", workspace, workspace)
    return Side("remote", client_workspace(WRITER), client_workspace(ADMIN))


def record(
    request_id: str,
    *,
    model: str = "clf",
    at: int = 1_000,
    status: int = 200,
    latency: float = 5.0,
    rows: int = 1,
) -> PredictionRecord:
    ok = status == 200
    return PredictionRecord(
        request_id=request_id,
        model_name=model,
        model_version=1,
        created_ms=at,
        status=status,
        latency_ms=latency,
        n_rows=rows if ok else 0,
        inputs={"x": [float(i) for i in range(rows)], "city": ["Oslo"] * rows},
        outputs=[i % 2 for i in range(rows)] if ok else None,
        error=None if ok else "x: not a number",
    )


def test_records_come_back_newest_first_by_model_status_time_and_row(side: Side) -> None:
    log = side.log
    stored = log.add_records(
        [
            record("r1", at=1_000, latency=4.0),
            record("r2", at=2_000, latency=8.0, rows=3),
            record("r3", at=3_000, status=422),
            record("other", model="reg", at=2_500),
        ]
    )
    assert stored == 4
    found = log.records("clf")
    assert [r.request_id for r in found] == ["r2", "r1"]  # answered only, newest first
    assert found[0].inputs == {"x": [0.0, 1.0, 2.0], "city": ["Oslo"] * 3}
    assert found[0].outputs == [0, 1, 0] and found[0].n_rows == 3 and found[0].id is not None
    every = log.records("clf", status=None)
    assert [r.request_id for r in every] == ["r3", "r2", "r1"]
    assert every[0].error == "x: not a number" and every[0].outputs is None
    assert [r.request_id for r in log.records("clf", since_ms=1_500)] == ["r2"]
    assert [r.request_id for r in log.records("clf", limit=1)] == ["r2"]
    first_id = log.records("clf", status=None)[-1].id
    assert [r.request_id for r in log.records("clf", until_id=first_id)] == ["r1"]
    assert (log.count("clf"), log.count("reg"), log.count()) == (3, 1, 4)
    assert log.request_ids("clf") == {"r1", "r2", "r3"}
    summary = log.request_summary("clf", since_ms=0)
    assert (summary.total, summary.failed) == (3, 1)
    assert summary.latency_p95_ms == np.percentile([4.0, 8.0], 95)
    later = log.request_summary("clf", since_ms=2_500)  # one failed request, none answered
    assert (later.total, later.failed, later.latency_p95_ms) == (1, 1, None)


def test_the_request_summary_is_numpys_percentile_and_counts(side: Side) -> None:
    rng = np.random.default_rng(7)
    n = 437
    latencies = rng.lognormal(1.0, 0.8, size=n).round(3)  # ties included
    statuses = rng.choice([200, 200, 200, 200, 422, 500], size=n)
    side.log.add_records(
        [
            record(f"s{i}", at=1_000 + i, status=int(status), latency=float(latency))
            for i, (latency, status) in enumerate(zip(latencies, statuses, strict=True))
        ]
    )
    for first in (n - 1, n - 2, n - 3, n - 10, n - 100, 117, 0):  # windows of 1, 2, 3, ... rows
        summary = side.log.request_summary("clf", since_ms=1_000 + first)
        answered = latencies[first:][statuses[first:] == 200]
        assert summary.total == n - first
        assert summary.failed == int((statuses[first:] != 200).sum())
        expected = np.percentile(answered, 95) if len(answered) else None
        assert summary.latency_p95_ms == expected
    nothing = side.log.request_summary("clf", since_ms=10_000)
    assert (nothing.total, nothing.failed, nothing.latency_p95_ms) == (0, 0, None)
    for size in (1, 2, 3, 4, 19, 20, 21, 41):  # the interpolation at every small size
        values = rng.uniform(0.1, 50.0, size=size)
        model = f"size-{size}"
        side.log.add_records(
            [record(f"{model}-{i}", model=model, latency=float(v)) for i, v in enumerate(values)]
        )
        assert side.log.request_summary(model, since_ms=0).latency_p95_ms == np.percentile(
            values, 95
        )


def test_a_batch_id_stored_before_stores_nothing_again(side: Side) -> None:
    log = side.log
    batch = [record("b1"), record("b2")]
    assert log.add_records(batch, batch_id="batch-1") == 2
    assert log.add_records(batch, batch_id="batch-1") == 0
    assert log.add_records(batch, batch_id="batch-2") == 2  # another batch: stored
    assert log.count("clf") == 4
    assert log.add_records([]) == 0


def test_missing_numbers_are_stored_as_nulls(side: Side) -> None:
    with_nan = PredictionRecord(
        "nan", "clf", 1, 1_000, 200, 1.0, 2, {"x": [1.5, math.nan]}, [0.5, math.inf]
    )
    side.log.add_records([with_nan])
    found = side.log.records("clf")[0]
    assert found.inputs == {"x": [1.5, None]} and found.outputs == [0.5, None]


def test_feedback_labels_logged_requests_row_by_row(side: Side) -> None:
    log = side.log
    log.add_records([record("one", at=1_000), record("three", at=2_000, rows=3)])
    assert log.add_feedback("nobody", 1) is False
    assert log.add_feedback("one", 1) is True
    assert log.add_feedback("three", [1, 1, 0]) is True
    with pytest.raises(InvalidInput, match="3 row"):
        log.add_feedback("three", [1, 0])
    assert log.add_feedback("one", 0) is True  # a corrected label replaces the first
    labeled = log.labeled("clf")
    assert [(item.request_id, item.label) for item in labeled] == [
        ("three", [1, 1, 0]),
        ("one", 0),
    ]
    truths, predictions = pairs(labeled)
    assert (truths, predictions) == ([1, 1, 0, 0], [0, 1, 0, 0])
    assert [item.request_id for item in log.labeled("clf", last=1)] == ["three"]


def test_alerts_are_listed_newest_first_with_their_webhook_status(side: Side) -> None:
    alerts = side.alerts
    first = alerts.add(
        rule="slow",
        metric="latency_p95_seconds",
        state="firing",
        value=1.5,
        model="clf",
        message="p95 latency 1.5 s is above 1 s",
        details={"threshold": {"above": 1.0}},
    )
    second = alerts.add(
        rule="slow",
        metric="latency_p95_seconds",
        state="resolved",
        value=0.2,
        model="clf",
        message="back under 1 s",
        details={},
    )
    alerts.add(
        rule="drift",
        metric="drift_share",
        state="firing",
        value=None,
        model="reg",
        message="drifted",
        details={"drift": {"share": 0.5, "features": ["x"]}},
    )
    assert second > first
    alerts.set_webhook_status(first, "ok 200")
    listed = alerts.list(model="clf")
    assert [(a.rule, a.state, a.value) for a in listed] == [
        ("slow", "resolved", 0.2),
        ("slow", "firing", 1.5),
    ]
    assert listed[1].webhook == "ok 200" and listed[1].details == {"threshold": {"above": 1.0}}
    assert listed[1].message == "p95 latency 1.5 s is above 1 s"
    assert [a.model for a in alerts.list()] == ["reg", "clf", "clf"]
    assert [a.state for a in alerts.list(state="firing")] == ["firing", "firing"]
    assert len(alerts.list(limit=1)) == 1
    with pytest.raises(NotFound):
        alerts.set_webhook_status(10_000, "ok 200")


def _status(rule: str, state: RuleState, value: float) -> RuleStatus:
    fired_at = 12.0 if state == "firing" else None
    return RuleStatus(rule, "", state, 10.0, fired_at, value, 2.5, 13.0)


def test_alert_states_come_back_for_rules_whose_digest_still_matches(side: Side) -> None:
    states = side.states
    digests = {name: hashlib.sha256(name.encode()).hexdigest() for name in ("slow", "errors")}
    states.save("clf", [(digests["slow"], _status("slow", "firing", 1.5))])
    states.save("clf", [(digests["errors"], _status("errors", "pending", 0.2))])
    loaded = {status.rule: status for status in states.load("clf", digests)}
    assert loaded["slow"] == RuleStatus("slow", "", "firing", 10.0, 12.0, 1.5, 2.5, 13.0)
    assert loaded["errors"].state == "pending" and loaded["errors"].fired_at is None
    edited = {**digests, "slow": hashlib.sha256(b"slow, edited").hexdigest()}
    assert [status.rule for status in states.load("clf", edited)] == ["errors"]
    assert states.load("reg", digests) == []
    states.save("clf", [(digests["slow"], _status("slow", "inactive", 0.1))])
    assert {s.rule: s.state for s in states.load("clf", digests)} == {
        "slow": "inactive",
        "errors": "pending",
    }
    alert_state_store(side.admin).clear("clf")
    assert states.load("clf", digests) == []


def test_drift_references_are_remembered_per_dataset_version_and_columns(
    side: Side, workspace: Workspace
) -> None:
    data = mw.data.add(pd.DataFrame({"x": np.arange(10.0)}), name="ref")
    columns = hashlib.sha256(b'["x"]').hexdigest()
    first, second = (workspace.artifacts.put_bytes(text) for text in (b"stats-1", b"stats-2"))
    drift = side.drift
    assert drift.find(data.id, columns) is None
    drift.put(data.id, columns, first)
    assert drift.find(data.id, columns) == first
    drift.put(data.id, columns, second)  # computed again: replaced
    assert drift.find(data.id, columns) == second
    assert drift.find(data.id, hashlib.sha256(b'["y"]').hexdigest()) is None
    with pytest.raises(NotFound, match="dataset version"):
        drift.put(data.id + 1_000, columns, first)


def test_the_writer_stores_every_record_once_in_batches(side: Side) -> None:
    writer = PredictionLogWriter(side.log, batch_size=400)
    for index in range(1_000):
        writer.record(record(f"w{index}", at=index))
    assert writer.pending == 1_000
    assert writer.flush() == 1_000
    assert writer.pending == 0 and writer.written == 1_000
    assert side.log.count("clf") == 1_000
    assert side.log.request_ids("clf") == {f"w{index}" for index in range(1_000)}
    assert writer.flush() == 0
