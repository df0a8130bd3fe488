"""The server monitor in-process: alert state across restarts, one monitoring process per model."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest

from modelward.monitoring.alert_store import AlertRepository
from modelward.monitoring.drift_rounds import (
    ChildProcessDrift,
    DriftRunner,
    DriftWindow,
    InProcessDrift,
)
from modelward.monitoring.monitor import ServerMonitor
from modelward.registry.service import ModelRegistry
from modelward.serving.holder import ModelHolder
from modelward.store.workspace import open_workspace
from tests.serving.support import Served


def _rules(path: Path, rule: str, above: float = 0.5) -> Path:
    path.write_text(
        "rules:\n"
        f"  - name: {rule}\n    metric: request_rate\n    threshold: {{above: {above}}}\n"
        "    window: 1\n    for: 0s\n"
    )
    return path


def _monitor(rules: Path | None, drift: DriftRunner | None = None) -> ServerMonitor:
    holder = ModelHolder(ModelRegistry(open_workspace()), "bc-clf@1", poll_interval=0)
    return ServerMonitor(
        open_workspace(),
        holder,
        interval=0,
        alerts_path=str(rules) if rules else None,
        drift=drift,
    )


def _stored(rule: str, state: str) -> int:
    found = AlertRepository(open_workspace().db).list(model="bc-clf", state=state, limit=1000)
    return sum(1 for alert in found if alert.rule == rule)


def test_a_firing_alert_does_not_fire_again_when_the_server_restarts(
    served: Served, tmp_path: Path
) -> None:
    rules = _rules(tmp_path / "rules.yaml", "restart-busy")
    first = _monitor(rules)
    assert first.lead()
    now = 2_000_000.0
    first._add("request_rate", now, 40.0)
    assert [e.state for e in first._evaluate("bc-clf", now)] == ["firing"]
    first.stop()  # the server stops; its series are gone with it

    restarted = _monitor(rules)
    assert restarted.lead()
    assert restarted._evaluator.firing == ("restart-busy",)
    restarted._add("request_rate", now + 10, 40.0)
    assert restarted._evaluate("bc-clf", now + 10) == []  # still firing: nothing new
    assert _stored("restart-busy", "firing") == 1
    restarted._add("request_rate", now + 20, 0.1)
    (resolved,) = restarted._evaluate("bc-clf", now + 20)
    assert (resolved.state, resolved.fired_at) == ("resolved", now)
    restarted.stop()

    again = _monitor(rules)  # resolved is a state too: a third start is quiet
    assert again.lead() and again._evaluator.firing == ()
    again.stop()


def test_an_edited_rule_starts_from_scratch_after_a_restart(served: Served, tmp_path: Path) -> None:
    first = _monitor(_rules(tmp_path / "rules.yaml", "edited-busy", above=0.5))
    assert first.lead()
    first._add("request_rate", 3_000_000.0, 40.0)
    assert [e.state for e in first._evaluate("bc-clf", 3_000_000.0)] == ["firing"]
    first.stop()
    edited = _monitor(_rules(tmp_path / "edited.yaml", "edited-busy", above=10.0))
    assert edited.lead() and edited._evaluator.firing == ()  # another rule now
    edited._add("request_rate", 3_000_010.0, 40.0)
    assert [e.state for e in edited._evaluate("bc-clf", 3_000_010.0)] == ["firing"]
    edited.stop()


def test_a_second_monitor_of_the_same_model_says_who_monitors_and_takes_over_later(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    first, second = _monitor(None), _monitor(None)
    caplog.set_level(logging.INFO, logger="modelward.monitoring")
    assert first.lead() and first.leading
    assert not second.lead() and not second.leading
    assert not second.lead()  # said once, not every round
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert (
        f"another process (pid {os.getpid()}) runs the monitor of model 'bc-clf'" in (warnings[0])
    )
    assert second.other_monitor_pid == os.getpid()
    first.stop()
    assert second.lead() and second.other_monitor_pid is None
    assert "now runs the monitor of model 'bc-clf'" in caplog.records[-1].getMessage()
    second.stop()


@pytest.mark.parametrize("where", ["thread", "child process"])
def test_a_drift_alert_carries_its_round_and_the_report_on_those_rows_agrees(
    served: Served, tmp_path: Path, where: str
) -> None:
    # `mw serve` runs drift rounds in a child process (ChildProcessDrift): its round
    # must be the one the monitor's own thread would find.

    from modelward.monitoring.drift.check import DriftRequest, run_drift_check
    from modelward.monitoring.predictions import PredictionLogRepository, PredictionRecord
    from modelward.monitoring.writer import PredictionLogWriter

    mw_home_model = "bc-clf"
    rules = tmp_path / "rules.yaml"
    rule = f"round-drift-{where.split()[0]}"  # one rule per case: the home is shared
    rules.write_text(
        f"rules:\n  - name: {rule}\n    metric: drift_share\n"
        "    threshold: {above: 0.1}\n    window: 1\n"
    )
    drift = ChildProcessDrift(open_workspace().settings) if where == "child process" else None
    monitor = _monitor(rules, drift)
    monitor.window_seconds = 60.0
    writer = PredictionLogWriter(PredictionLogRepository(open_workspace().db))
    shifted = served.raw.iloc[:300].assign(
        **{"mean area": served.raw["mean area"].iloc[:300] * 1.5}
    )
    now_ms = int(time.time() * 1000)
    for i, start in enumerate(range(0, 300, 50)):
        rows = shifted.iloc[start : start + 50]
        writer.record(
            PredictionRecord(
                f"round-{now_ms}-{i}", mw_home_model, 1, now_ms, 200, 1.0, len(rows),
                {name: rows[name].tolist() for name in rows.columns}, [0] * len(rows),
            )
        )  # fmt: skip
    writer.flush()
    events = monitor.tick(now=time.time())
    (event,) = [e for e in events if e.rule == rule]
    seen = monitor.last_drift
    assert seen is not None and seen["n_rows"] >= 300 and "mean area" in seen["drifted_features"]
    (stored,) = [
        a
        for a in AlertRepository(open_workspace().db).list(model="bc-clf", state="firing")
        if a.rule == rule
    ]
    assert stored.details["drift"] == seen and stored.value == pytest.approx(seen["share"])
    writer.record(  # rows logged after the round do not change what it judged
        PredictionRecord(f"late-{now_ms}", mw_home_model, 1, now_ms, 200, 1.0, 50,
                         {name: served.raw[name].iloc[:50].tolist() for name in served.raw.columns},
                         [0] * 50)
    )  # fmt: skip
    writer.flush()
    again = run_drift_check(
        open_workspace(),
        DriftRequest(
            model="bc-clf@1", since_ms=seen["since_ms"], until_id=seen["until_id"],
            rows=seen["limit"],
        ),
    )  # fmt: skip
    assert again["dataset"]["share"] == pytest.approx(event.value)
    assert again["dataset"]["drifted_features"] == seen["drifted_features"]
    assert again["n_current"] == seen["n_rows"]
    child = drift.pid if drift is not None else None
    monitor.stop()
    if child is not None:  # the child ends with the monitor (a killed server's closes its
        _wait_gone(child)  # stdin alike)


def _wait_gone(pid: int, timeout: float = 30.0) -> None:
    import psutil

    deadline = time.monotonic() + timeout
    while psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, f"drift process {pid} still runs"
        time.sleep(0.05)


def test_the_servers_drift_runner_answers_later_with_the_round_the_thread_would_find(
    served: Served,
) -> None:
    from modelward.monitoring.predictions import PredictionLogRepository, PredictionRecord

    now_ms = int(time.time() * 1000)
    rows = served.raw.iloc[:150]
    PredictionLogRepository(open_workspace().db).add_records(
        [
            PredictionRecord(
                f"later-{now_ms}", "bc-clf", 1, now_ms, 200, 1.0, len(rows),
                {name: rows[name].tolist() for name in rows.columns}, [0] * len(rows),
            )
        ]
    )  # fmt: skip
    version = ModelRegistry(open_workspace()).get("bc-clf@1")
    window = DriftWindow(since_ms=now_ms, limit=5000, min_rows=100)
    expected = InProcessDrift(open_workspace()).run(version, window)
    drift = ChildProcessDrift(open_workspace().settings, wait=0)  # as `mw serve` runs it
    try:
        assert drift.run(version, window) is None  # started, not waited for
        deadline = time.monotonic() + 60
        found = None
        while found is None and time.monotonic() < deadline:
            time.sleep(0.2)
            found = drift.run(version, DriftWindow(since_ms=0, limit=1, min_rows=1))
    finally:
        drift.close()
    assert expected is not None and expected.report is not None
    assert found == expected  # the pending round's own window, rows and report


def test_a_monitor_that_leads_prepares_its_drift_child_before_the_first_round(
    served: Served,
) -> None:
    # The child's imports and the reference statistics cost a second or two of CPU:
    # paid as the server starts, not in its first round, during traffic.
    import sqlalchemy as sa

    from modelward.store.tables import drift_references

    workspace = open_workspace()
    with workspace.db.write() as conn:  # a cache: forgotten, it is computed again
        conn.execute(sa.delete(drift_references))
    holder = ModelHolder(ModelRegistry(workspace), "bc-clf@1", poll_interval=0)
    drift = ChildProcessDrift(workspace.settings, wait=0)
    monitor = ServerMonitor(workspace, holder, interval=3600.0, drift=drift)
    try:
        monitor.start()  # its first round is an hour away
        deadline = time.monotonic() + 60
        while True:
            with workspace.db.read() as conn:
                cached = conn.execute(sa.select(sa.func.count()).select_from(drift_references))
                if cached.scalar_one():
                    break
            assert time.monotonic() < deadline, "the reference was not prepared"
            time.sleep(0.1)
        assert drift.pid is not None
        assert monitor.series == {}  # no round has run
    finally:
        monitor.stop()
