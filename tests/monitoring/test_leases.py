"""Monitor leases: one monitor per model across processes and machines over one store,
taken over when its holder releases it, dies, or stops renewing it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from modelward.errors import Forbidden
from modelward.monitoring.leases import LeaseHolder, MonitorLeaseRepository
from modelward.monitoring.remote import RemoteMonitorLeases
from modelward.store.workspace import Workspace, open_workspace
from tests.server.support import READER, WRITER, TeamServer


def test_one_holder_at_a_time_and_the_next_takes_over_on_release(workspace: Workspace) -> None:
    leases = MonitorLeaseRepository(workspace.db)
    first, second = LeaseHolder.this_process(), LeaseHolder.this_process()
    assert leases.acquire("churn", first, 30) is None
    assert leases.acquire("churn", first, 30) is None  # renewed
    assert leases.acquire("churn", second, 30) == first
    assert leases.acquire("other-model", second, 30) is None  # one lease per model
    leases.release("churn", second)  # not its lease: nothing happens
    assert leases.acquire("churn", second, 30) == first
    leases.release("churn", first)
    assert leases.acquire("churn", second, 30) is None
    assert leases.acquire("churn", first, 30) == second


def test_a_lease_of_another_machine_is_taken_over_once_it_lapses(workspace: Workspace) -> None:
    leases = MonitorLeaseRepository(workspace.db)
    elsewhere = LeaseHolder("replica-2.internal", 4242, 1, "abc")
    here = LeaseHolder.this_process()
    assert leases.acquire("churn", elsewhere, 0.5) is None
    assert leases.acquire("churn", here, 30) == elsewhere  # still valid: not ours
    time.sleep(0.7)
    assert leases.acquire("churn", here, 30) is None  # it lapsed: taken over


def test_a_holder_of_this_host_that_died_is_taken_over_at_once(workspace: Workspace) -> None:
    code = (
        "from modelward.monitoring.leases import LeaseHolder, MonitorLeaseRepository\n"
        "from modelward.store.workspace import open_workspace\n"
        "assert MonitorLeaseRepository(open_workspace().db)"
        ".acquire('churn', LeaseHolder.this_process(), 3600) is None\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    leases = MonitorLeaseRepository(workspace.db)
    assert leases.acquire("churn", LeaseHolder.this_process(), 30) is None


def test_replicas_of_a_team_server_share_the_servers_leases(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    team = TeamServer.start(open_workspace())
    first, second = LeaseHolder.this_process(), LeaseHolder("replica-2", 7, 1, "def")
    remote = RemoteMonitorLeases(team.client(WRITER))
    assert remote.acquire("churn", first, 30) is None
    assert remote.acquire("churn", second, 30) == first
    assert MonitorLeaseRepository(team.workspace.db).acquire("churn", second, 30) == first
    with pytest.raises(Forbidden):
        RemoteMonitorLeases(team.client(READER)).acquire("churn", second, 30)
    remote.release("churn", first)
    assert remote.acquire("churn", second, 30) is None
    bad = team.http(WRITER).put(
        "/api/v1/monitor-leases/churn",
        json={"holder": {"host": "h", "pid": 0, "parent_pid": 1, "token": "x"}, "ttl_seconds": 1e9},
    )
    assert bad.status_code == 400 and "error" in bad.json()
