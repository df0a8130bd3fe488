"""A serving process's prediction log and alerts reach the team server once each, whatever
the network does: answers lost after the server stored a batch, a server briefly down,
a record the server refuses among good ones."""

from __future__ import annotations

import httpx
import pytest

from modelward.errors import Unavailable
from modelward.monitoring.predictions import PredictionLogRepository, PredictionRecord
from modelward.monitoring.remote import RemoteAlerts, RemotePredictionLog
from modelward.monitoring.writer import PredictionLogWriter
from modelward.store.remote import ServerClient
from tests.server.support import BASE_URL, WRITER, TeamServer


class Flaky(httpx.BaseTransport):
    """The in-process server behind a network that fails as the test says.

    `lose(path)`: the request reaches the server, its answer is lost;
    `down(path)`: the request never arrives (connection refused).
    """

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.failures: list[tuple[str, str]] = []  # (kind, path), consumed in order
        self.arrived: list[str] = []

    def lose(self, path: str, times: int = 1) -> None:
        self.failures += [("lose", path)] * times

    def down(self, path: str, times: int = 1) -> None:
        self.failures += [("down", path)] * times

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        failure = next((f for f in self.failures if request.url.path.endswith(f[1])), None)
        if failure is not None and failure[0] == "down":
            self.failures.remove(failure)
            raise httpx.ConnectError("connection refused", request=request)
        response = self.inner.handle_request(request)
        self.arrived.append(request.url.path)
        if failure is not None:
            self.failures.remove(failure)
            response.read()
            raise httpx.ReadError("connection reset before the answer", request=request)
        return response


@pytest.fixture
def flaky(team: TeamServer) -> Flaky:
    return Flaky(team.http(None)._transport)


@pytest.fixture
def client(team: TeamServer, flaky: Flaky) -> ServerClient:
    return ServerClient(
        BASE_URL, team.secrets[WRITER], http=httpx.Client(transport=flaky), retry_for=5.0
    )


def _records(n: int, model: str = "clf") -> list[PredictionRecord]:
    return [
        PredictionRecord(f"req-{i}", model, 1, 1_000 + i, 200, 1.0, 1, {"x": [float(i)]}, [i % 2])
        for i in range(n)
    ]


def _stored(team: TeamServer, model: str = "clf") -> list[str]:
    records = PredictionLogRepository(team.workspace.db).records(model, limit=100_000)
    return [record.request_id for record in reversed(records)]


def test_a_batch_whose_answer_was_lost_is_resent_and_stored_once(
    team: TeamServer, flaky: Flaky, client: ServerClient
) -> None:
    writer = PredictionLogWriter(RemotePredictionLog(client), batch_size=100)
    for record in _records(250):
        writer.record(record)
    flaky.lose("/api/v1/predictions", times=2)  # the first two batches' answers
    assert writer.flush() == 250
    assert flaky.arrived.count("/api/v1/predictions") == 5  # 3 batches, 2 of them twice
    assert _stored(team) == [f"req-{i}" for i in range(250)]


def test_records_wait_while_the_server_is_down_and_arrive_once_in_order(
    team: TeamServer, flaky: Flaky
) -> None:
    impatient = ServerClient(
        BASE_URL, team.secrets[WRITER], http=httpx.Client(transport=flaky), retry_for=0.0
    )
    writer = PredictionLogWriter(RemotePredictionLog(impatient), batch_size=100)
    records = _records(150)
    for record in records[:120]:
        writer.record(record)
    flaky.down("/api/v1/predictions", times=1)
    flaky.lose("/api/v1/predictions", times=1)
    with pytest.raises(Unavailable):
        writer.flush()  # refused: nothing sent
    assert writer.pending == 120
    with pytest.raises(Unavailable):
        writer.flush()  # stored by the server, but the answer was lost
    assert writer.pending == 120  # the writer cannot know: it keeps the batch and its id
    for record in records[120:]:
        writer.record(record)
    assert writer.flush() == 150
    assert writer.pending == 0
    assert _stored(team) == [f"req-{i}" for i in range(150)]


def test_a_record_the_server_refuses_is_dropped_alone(
    team: TeamServer, client: ServerClient, caplog: pytest.LogCaptureFixture
) -> None:
    writer = PredictionLogWriter(RemotePredictionLog(client), batch_size=10)
    records = _records(5)
    bad = PredictionRecord("bad", "clf", 1, 1_000, 200, float("inf"), 1, None, [0])
    for record in (*records[:2], bad, *records[2:]):
        writer.record(record)
    assert writer.flush() == 5
    assert writer.dropped == 1
    assert _stored(team) == [f"req-{i}" for i in range(5)]
    assert any("request bad of clf@1" in message for message in caplog.messages)


def test_large_batches_are_sent_in_parts_that_are_each_stored_once(
    team: TeamServer, flaky: Flaky, client: ServerClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import modelward.monitoring.remote as remote

    monkeypatch.setattr(remote, "MAX_BATCH_BYTES", 2_000)
    log = RemotePredictionLog(client)
    batch = _records(40)
    flaky.lose("/api/v1/predictions", times=1)
    # the part whose answer was lost is a duplicate when resent: not counted twice
    assert log.add_records(batch, batch_id="big") < 40
    assert flaky.arrived.count("/api/v1/predictions") > 3  # several parts, one sent twice
    assert log.add_records(batch, batch_id="big") == 0  # the same parts: all stored before
    assert _stored(team) == [f"req-{i}" for i in range(40)]


def test_an_alert_whose_answer_was_lost_is_stored_once(
    team: TeamServer, flaky: Flaky, client: ServerClient
) -> None:
    alerts = RemoteAlerts(client)
    flaky.lose("/api/v1/alerts")
    alert_id = alerts.add(
        rule="slow",
        metric="latency_p95_seconds",
        state="firing",
        value=2.0,
        model="clf",
        message="slow",
        details={},
    )
    assert flaky.arrived.count("/api/v1/alerts") == 2
    assert [alert.id for alert in alerts.list()] == [alert_id]
