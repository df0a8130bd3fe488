"""/feedback in-process: labels that fit the answered request and the model, or a 4xx."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from modelward.monitoring.predictions import PredictionLogRepository
from modelward.serving.app import create_app
from modelward.store.workspace import open_workspace
from tests.serving.support import Penguins, Served, client, serving_for

pytestmark = pytest.mark.anyio


async def _answered(http: httpx.AsyncClient, rows: list[list[float]]) -> str:
    request_id = f"fb-{uuid.uuid4().hex[:12]}"
    answer = await http.post(
        "/predict", json={"instances": rows}, headers={"x-request-id": request_id}
    )
    assert answer.status_code == 200, answer.text
    return request_id


def _label_of(request_id: str, model: str = "bc-clf") -> Any:
    labeled = PredictionLogRepository(open_workspace().db).labeled(model, last=100_000)
    return next((item.label for item in labeled if item.request_id == request_id), None)


async def test_labels_one_per_row_are_stored(served: Served, production_app: Starlette) -> None:
    rows = served.raw.iloc[:3].to_numpy().tolist()
    async with client(production_app) as http:
        one = await _answered(http, rows[:1])
        three = await _answered(http, rows)
        for request_id, label in ((one, 1), (three, [0, 1, 1.0])):
            answer = await http.post("/feedback", json={"request_id": request_id, "label": label})
            assert answer.status_code == 200, answer.text
            assert answer.json() == {"request_id": request_id, "accepted": True}
        listed = await _answered(http, rows[:1])
        assert (await http.post("/feedback", json={"request_id": listed, "label": [0]})).is_success
    assert _label_of(one) == 1 and _label_of(three) == [0, 1, 1.0] and _label_of(listed) == [0]


@pytest.mark.parametrize(
    ("rows", "label", "fragment"),
    [
        (3, 1, "3 row(s) but 1 label(s)"),  # one label for a 3-row request
        (3, [0, 1], "3 row(s) but 2 label(s)"),
        (1, [0, 1], "1 row(s) but 2 label(s)"),
        (1, 7, "label 7 is not a class of bc-clf@1: its classes are 0, 1"),
        (1, "1", "label '1' is not a class"),
        (1, True, "label True is not a class"),
        (3, [0, 1, 2], "label 2 is not a class"),
    ],
)
async def test_labels_that_do_not_fit_are_422(
    served: Served, production_app: Starlette, rows: int, label: Any, fragment: str
) -> None:
    async with client(production_app) as http:
        request_id = await _answered(http, served.raw.iloc[:rows].to_numpy().tolist())
        answer = await http.post("/feedback", json={"request_id": request_id, "label": label})
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["field"] == "label"
    assert fragment in answer.json()["error"]["message"]
    assert _label_of(request_id) is None  # nothing stored


@pytest.mark.parametrize(
    ("body", "field", "fragment"),
    [
        (b'{"request_id": "%s", "label": Infinity}', None, "not valid JSON"),
        (b'{"request_id": "%s", "label": -Infinity}', None, "not valid JSON"),
        (b'{"request_id": "%s", "label": NaN}', None, "not valid JSON"),
        (b'{"request_id": "%s", "label": 1e400}', None, "infinity"),
        (b'{"request_id": "%s", "label": ' + b"9" * 400 + b"}", None, "infinity"),
        (b'{"request_id": "%s", "label": [1, 1e999]}', None, "infinity"),
        (b'{"request_id": "%s", "label": 1, "extra": 2}', "extra", "unknown key 'extra'"),
        (b'{"request_id": "%s", "label": 1, "note": "x"}', "note", "only 'request_id' and 'label'"),
        (b'{"request_id": "%s"}', "label", "lacks 'label'"),
        (b'{"request_id": "%s", "label": []}', "label", "empty list"),
        (b'{"request_id": "%s", "label": {"a": 1}}', "label", "a number, text or true/false"),
        (b'{"request_id": "%s", "label": [[1]]}', "label", "a number, text or true/false"),
        (b'{"request_id": "%s", "label": ' + b"[" * 1000 + b"]" * 1000 + b"}", "label", ""),
        (b'{"request_id": "%s", "label": ' + b"[" * 5000 + b"]" * 5000 + b"}", None, "depth"),
        (b'{"request_id": "%s\\n", "label": 1}', "request_id", "the id a prediction"),
        (b'{"request_id": 5, "label": 1}', "request_id", "the id a prediction"),
        (b'["%s", 1]', None, "JSON object"),
    ],
)
async def test_malformed_feedback_is_400(
    served: Served, production_app: Starlette, body: bytes, field: str | None, fragment: str
) -> None:
    async with client(production_app) as http:
        request_id = await _answered(http, served.raw.iloc[:1].to_numpy().tolist())
        content = body.replace(b"%s", request_id.encode())
        answer = await http.post(
            "/feedback", content=content, headers={"content-type": "application/json"}
        )
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["field"] == field
    assert fragment in answer.json()["error"]["message"]
    assert _label_of(request_id) is None


async def test_an_unknown_request_or_a_body_of_another_type_is_refused(
    served: Served, production_app: Starlette
) -> None:
    async with client(production_app) as http:
        unknown = await http.post("/feedback", json={"request_id": "never-asked", "label": 1})
        request_id = await _answered(http, served.raw.iloc[:1].to_numpy().tolist())
        csv = await http.post(
            "/feedback",
            content=f"request_id,label\n{request_id},1\n".encode(),
            headers={"content-type": "text/csv"},
        )
    assert unknown.status_code == 404 and unknown.json()["error"]["field"] == "request_id"
    assert csv.status_code == 415 and "application/json" in csv.json()["error"]["message"]
    assert _label_of(request_id) is None


async def test_a_regression_model_takes_finite_numbers(penguins: Penguins) -> None:
    app = create_app(serving_for("peng-reg@1", log=True))
    async with client(app) as http:
        request_id = f"reg-{uuid.uuid4().hex[:8]}"
        answer = await http.post(
            "/predict", json={"instances": [[44.5]]}, headers={"x-request-id": request_id}
        )
        assert answer.status_code == 200, answer.text
        word = await http.post("/feedback", json={"request_id": request_id, "label": "tall"})
        flag = await http.post("/feedback", json={"request_id": request_id, "label": True})
        number = await http.post("/feedback", json={"request_id": request_id, "label": 201.5})
    assert word.status_code == 422 and "regression" in word.json()["error"]["message"]
    assert flag.status_code == 422
    assert number.status_code == 200
    assert _label_of(request_id, "peng-reg") == 201.5
