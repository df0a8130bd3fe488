"""The server's monitoring paths in-process: the app (through httpx.ASGITransport), its
prediction log writer and the monitor, without a server process or a sleep."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sklearn.metrics import accuracy_score, f1_score

import modelward as mw
from modelward.monitoring.monitor import ServerMonitor
from modelward.monitoring.predictions import PredictionLogRepository
from modelward.monitoring.writer import PredictionLogWriter
from modelward.registry.service import ModelRegistry
from modelward.serving.app import create_app
from modelward.serving.endpoints import Serving
from modelward.serving.holder import ModelHolder
from modelward.store.workspace import open_workspace
from tests.serving.support import Served


class AppClient:
    """Synchronous calls to an ASGI app in this process, on one event loop."""

    def __init__(self, app: Any) -> None:
        self._loop = asyncio.new_event_loop()
        transport = httpx.ASGITransport(app=app)
        self._client = httpx.AsyncClient(transport=transport, base_url="http://mw")

    def get(self, url: str) -> httpx.Response:
        return self._loop.run_until_complete(self._client.get(url))

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self._loop.run_until_complete(self._client.post(url, **kwargs))

    def close(self) -> None:
        self._loop.run_until_complete(self._client.aclose())
        self._loop.close()


MODEL = "bc-mon"


@dataclass
class Monitored:
    http: AppClient
    writer: PredictionLogWriter
    monitor: ServerMonitor
    log: PredictionLogRepository


@pytest.fixture
def monitored(served: Served) -> Iterator[Monitored]:
    """`mw serve bc-mon@monitored` put together in this process: bc-clf's first model
    under a name of its own, so other tests' traffic to bc-clf is not in its log."""
    if not any(model.name == MODEL for model in mw.models.list()):
        mw.models.register(mw.models.get("bc-clf@1").run_id or "", MODEL)
    mw.models.set_alias(MODEL, 1, "monitored")
    workspace = open_workspace()
    holder = ModelHolder(ModelRegistry(workspace), f"{MODEL}@monitored", poll_interval=0)
    # not started: flushed when the test says
    writer = PredictionLogWriter(PredictionLogRepository(workspace.db))
    monitor = ServerMonitor(workspace, holder, interval=0)
    http = AppClient(create_app(Serving.of(holder, prediction_log=writer)))
    yield Monitored(http, writer, monitor, PredictionLogRepository(workspace.db))
    http.close()
    writer.close()


def _scraped(http: AppClient, metric: str) -> float | None:
    prefix = f'modelward_live_metric{{metric="{metric}",model="{MODEL}"}}'
    for line in http.get("/metrics").text.splitlines():
        if line.startswith(prefix):
            return float(line.split()[-1])
    return None


def test_requests_are_logged_and_feedback_drives_live_accuracy(
    served: Served, monitored: Monitored
) -> None:
    http, log = monitored.http, monitored.log
    truth = mw.data.load("bc")["target"]
    ids, rows = [], []
    for start in range(0, 60, 3):
        batch = served.raw.iloc[start : start + 3]
        answer = http.post("/predict", json={"instances": batch.to_numpy().tolist()}).json()
        ids.append(answer["request_id"])
        rows.append((start, answer["predictions"]))
    assert http.post("/predict", json={"instances": [[1.0]]}).status_code == 422
    monitored.writer.flush()  # what the writer thread does every half second
    assert set(ids) <= log.request_ids(MODEL)
    record = next(r for r in log.records(MODEL, limit=5000) if r.request_id == ids[0])
    assert record.model_version == 1 and record.n_rows == 3 and record.latency_ms > 0
    assert isinstance(record.inputs, dict)  # as stored and read back
    assert record.inputs["mean area"] == served.raw["mean area"].iloc[:3].tolist()
    assert record.outputs == rows[0][1]
    failed = log.records(MODEL, status=422, limit=10)
    assert failed and "row 0 has 1 values" in (failed[0].error or "")

    labels_sent, predicted = [], []
    for request_id, (start, predictions) in zip(ids[:10], rows[:10], strict=True):
        labels = truth.iloc[start : start + 3].tolist()
        answer = http.post("/feedback", json={"request_id": request_id, "label": labels})
        assert answer.status_code == 200, answer.text
        labels_sent += labels
        predicted += predictions
    wrong = http.post("/feedback", json={"request_id": ids[11], "label": [1]})
    assert wrong.status_code == 422 and wrong.json()["error"]["field"] == "label"
    assert http.post("/feedback", json={"request_id": "no-such-id", "label": 1}).status_code == 404

    monitored.monitor.tick()  # one monitor round
    assert _scraped(http, "accuracy") == pytest.approx(accuracy_score(labels_sent, predicted))
    assert _scraped(http, "f1") == pytest.approx(f1_score(labels_sent, predicted))


def test_feedback_that_arrives_before_its_prediction_is_written_still_counts(
    served: Served, monitored: Monitored
) -> None:
    http = monitored.http
    answer = http.post("/predict", json={"instances": served.raw.iloc[:1].to_numpy().tolist()})
    request_id = answer.json()["request_id"]
    assert monitored.writer.pending >= 1  # still queued: the feedback route must flush it
    label = answer.json()["predictions"][0]
    assert (
        http.post("/feedback", json={"request_id": request_id, "label": label}).status_code == 200
    )
    labeled = {item.request_id for item in monitored.log.labeled(MODEL, last=5000)}
    assert request_id in labeled
