"""The model server in-process: answers, request ids, errors, routes."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import numpy as np
import pytest
from starlette.applications import Starlette

from modelward.serving.app import create_app
from tests.serving.support import FEATURES, Served, client, serving_for

pytestmark = pytest.mark.anyio


def _model_predictions(served: Served, rows: slice) -> list[int]:
    import modelward as mw

    loaded = mw.models.load("bc-clf@1")
    return [int(v) for v in loaded.model.predict(served.prepared.iloc[rows])]


def _bodies(served: Served, count: int) -> list[dict[str, Any]]:
    """The same rows in every JSON format of PRODUCT.md and MLflow's scoring protocol."""
    rows = served.raw.iloc[:count]
    reverse = list(reversed(FEATURES))
    return [
        {"instances": rows.to_numpy().tolist()},
        {"instances": rows.to_dict(orient="records")},
        {"inputs": rows.to_numpy().tolist()},
        {"inputs": rows.to_dict(orient="list")},
        {"dataframe_records": rows.to_dict(orient="records")},
        {"dataframe_split": {"columns": reverse, "data": rows[reverse].to_numpy().tolist()}},
        {"dataframe_split": rows.to_dict(orient="split")},  # with its index, as MLflow sends
    ]


async def test_every_body_format_agrees_with_the_model(
    served: Served, production_app: Starlette
) -> None:
    expected = _model_predictions(served, slice(0, 25))
    async with client(production_app) as http:
        for route in ("/predict", "/invocations"):
            for body in _bodies(served, 25):
                answer = await http.post(route, json=body)
                assert answer.status_code == 200, (route, body.keys(), answer.text)
                payload = answer.json()
                assert payload["predictions"] == expected
                assert payload["model"] == {"name": "bc-clf", "version": 1}
                assert payload["request_id"] == answer.headers["x-request-id"]
                assert "warnings" not in payload


async def test_one_row_as_a_dict_of_scalars(served: Served, production_app: Starlette) -> None:
    row = {k: float(v) for k, v in served.raw.iloc[3].items()}
    async with client(production_app) as http:
        answer = await http.post("/invocations", json={"inputs": row})
    assert answer.json()["predictions"] == _model_predictions(served, slice(3, 4))


async def test_a_request_id_given_by_the_client_is_kept(
    production_app: Starlette, served: Served
) -> None:
    body = {"instances": served.raw.iloc[:1].to_numpy().tolist()}
    async with client(production_app) as http:
        kept = await http.post("/predict", json=body, headers={"X-Request-ID": "abc-123"})
        made = await http.post("/predict", json=body, headers={"X-Request-ID": "no spaces"})
    assert kept.json()["request_id"] == "abc-123" == kept.headers["x-request-id"]
    assert made.json()["request_id"] != "no spaces" and len(made.json()["request_id"]) == 32


def _row(served: Served) -> dict[str, float]:
    return {str(k): float(v) for k, v in served.raw.iloc[0].items()}


def _deep(levels: int) -> bytes:
    return b'{"instances": ' + b"[" * levels + b"]" * levels + b"}"


@pytest.mark.parametrize(
    ("make_body", "status", "field", "fragment"),
    [
        (lambda s: b"{not json", 400, None, "not valid JSON"),
        (lambda s: b"[1, 2]", 400, None, "JSON object"),
        (lambda s: {"rows": []}, 400, None, "instances"),
        (lambda s: {"instances": {"a": 1}}, 400, "instances", "list of rows"),
        (lambda s: {"instances": []}, 422, "instances", "empty"),
        (lambda s: {"instances": [[1.0, 2.0]]}, 422, "instances", "has 2 values"),
        (
            lambda s: {"instances": [{**_row(s), "mean area": "big"}]},
            422,
            "mean area",
            "expected a number",
        ),
        (
            lambda s: {"instances": [{**_row(s), "mean area": None}]},
            422,
            "mean area",
            "missing value",
        ),
        (
            lambda s: {"instances": [{k: v for k, v in _row(s).items() if k != "mean texture"}]},
            422,
            "mean texture",
            "lacks column",
        ),
        (lambda s: {"instances": [{**_row(s), "colour": 1}]}, 422, "colour", "unknown column"),
        (lambda s: {"instances": [[True, 1.0, 2.0, 3.0]]}, 422, "mean radius", "number"),
        (lambda s: {"dataframe_split": {"columns": FEATURES}}, 400, "dataframe_split", "data"),
        (lambda s: {"dataframe_split": {"columns": ["x"], "data": [[1]]}}, 422, "x", "unknown"),
        (
            lambda s: {"dataframe_split": {"columns": FEATURES, "data": [[1, 2, 3, 4]], "x": 1}},
            400,
            "dataframe_split",
            "unknown key 'x'",
        ),
        (lambda s: {"dataframe_records": [[1, 2, 3, 4]]}, 400, "dataframe_records", "objects"),
        (lambda s: {"inputs": {"mean radius": [1.0]}}, 422, "mean texture", "missing column"),
        (
            lambda s: {"inputs": {**{f: [1.0, 2.0] for f in FEATURES}, "mean area": [1.0]}},
            422,
            "inputs",
            "different lengths",
        ),
        (
            lambda s: {"instances": [_row(s)], "dataframe_records": [_row(s)]},
            400,
            None,
            "exactly one",
        ),
        (lambda s: {"instances": [_row(s)], "extra": 1}, 400, "extra", "unknown key 'extra'"),
        (lambda s: {"instances": [_row(s)], "params": {"k": 1}}, 422, "params", "no inference"),
        (lambda s: b'{"instances": [[NaN, 1, 2, 3]]}', 422, "mean radius", "missing value"),
        (lambda s: b'{"instances": [[Infinity, 1, 2, 3]]}', 422, "mean radius", "finite"),
        (lambda s: b'{"instances": [[1, -Infinity, 2, 3]]}', 422, "mean texture", "finite"),
        # beyond a double: a 400-digit integer, 1e400 (strict JSON, and with a NaN elsewhere)
        (lambda s: b'{"instances": [[1, ' + b"9" * 400 + b", 2, 3]]}", 400, None, "infinity"),
        (lambda s: b'{"instances": [[1, 2, 1e400, 3]]}', 400, None, "infinity"),
        (lambda s: b'{"instances": [[NaN, ' + b"9" * 400 + b", 2, 3]]}", 422, "mean texture", ""),
        (lambda s: b'{"instances": [[NaN, 1, 1e400, 3]]}', 422, "mean area", "finite"),
        # nested past any sense: refused by the parser, never a RecursionError
        (lambda s: _deep(1_000), 422, "instances", "row 0 has 1 values"),
        (lambda s: _deep(5_000), 400, None, "depth"),
        (lambda s: _deep(100_000), 400, None, "depth"),
        (
            lambda s: b'{"instances": [[NaN, ' + b"[" * 5000 + b"]" * 5000 + b", 2, 3]]}",
            400,
            None,
            "nested too deeply",
        ),
        (
            lambda s: b'{"instances": [[' + b"[" * 1000 + b"]" * 1000 + b", 1, 2, 3]]}",
            422,
            "mean radius",
            "expected a number, got [[[[[[[...]]]]]]]",
        ),
        (lambda s: b'{"instances": [["\xff", 1, 2, 3]]}', 400, None, "UTF-8"),
    ],
)
async def test_bad_input_is_a_4xx_naming_the_problem(
    served: Served,
    production_app: Starlette,
    make_body: Any,
    status: int,
    field: str | None,
    fragment: str,
) -> None:
    body = make_body(served)
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with client(production_app) as http:
        answer = await http.post(
            "/predict", content=content, headers={"content-type": "application/json"}
        )
        assert answer.status_code == status, answer.text
        error = answer.json()["error"]
        assert set(error) == {"type", "message", "field"}
        assert error["field"] == field
        assert fragment in error["message"]
        assert len(error["message"]) < 400
        # and the server keeps serving
        good = await http.post(
            "/predict", json={"instances": served.raw.iloc[:1].to_numpy().tolist()}
        )
        assert good.status_code == 200


async def test_a_body_over_the_limit_is_413(served: Served) -> None:
    app = create_app(serving_for("bc-clf@1"), max_body_bytes=1024)
    async with client(app) as http:
        declared = await http.post(
            "/predict", content=b" " * 2048, headers={"content-type": "application/json"}
        )

        async def chunks() -> Any:  # no Content-Length: the limit counts what arrives
            for _ in range(4):
                yield b" " * 512

        streamed = await http.post("/predict", content=chunks())
        feedback = await http.post("/feedback", content=b" " * 2048)
        ok = await http.post("/predict", json={"instances": served.raw.iloc[:2].values.tolist()})
    for answer in (declared, streamed, feedback):
        assert answer.status_code == 413, answer.text
        assert answer.json()["error"]["type"] == "too_large"
        assert "1,024-byte limit" in answer.json()["error"]["message"]
        assert answer.headers["connection"] == "close"
    assert ok.status_code == 200


async def test_too_many_rows_is_413(served: Served) -> None:
    app = create_app(dataclasses.replace(serving_for("bc-clf@1"), max_rows=3))
    async with client(app) as http:
        answer = await http.post(
            "/predict", json={"instances": served.raw.iloc[:4].values.tolist()}
        )
    assert answer.status_code == 413 and "4 > 3" in answer.json()["error"]["message"]


async def test_unknown_routes_and_methods_are_json_4xx(production_app: Starlette) -> None:
    async with client(production_app) as http:
        missing = await http.get("/nowhere")
        wrong = await http.get("/predict")
        delete = await http.delete("/health")
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found"
    assert wrong.status_code == 405 and wrong.json()["error"]["type"] == "method_not_allowed"
    assert wrong.headers["allow"] == "POST"
    assert delete.status_code == 405 and delete.json()["error"]["field"] is None


async def test_health_ready_version_metrics_and_docs(production_app: Starlette) -> None:
    from modelward import __version__

    async with client(production_app) as http:
        assert (await http.get("/health")).json() == {"status": "ok"}
        assert (await http.get("/ping")).status_code == 200
        assert (await http.get("/version")).text == __version__
        ready = (await http.get("/ready")).json()
        metrics = await http.get("/metrics")
        schema = (await http.get("/openapi.json")).json()
        docs = await http.get("/docs")
    assert ready["ready"] is True and ready["model"]["name"] == "bc-clf"
    assert ready["model"]["version"] == 1 and ready["reference"] == "bc-clf@production"
    assert metrics.headers["content-type"].startswith("text/plain")
    assert "modelward_requests_total" in metrics.text
    assert 'modelward_model_info{digest="' in metrics.text
    expected = {"/predict", "/invocations", "/feedback", "/health", "/ping", "/version", "/ready"}
    assert expected <= set(schema["paths"])
    assert schema["info"]["title"] == "modelward: bc-clf"
    # the same document as a page that needs nothing from outside: no script, no CDN
    assert "POST /predict" in docs.text and "bc-clf" in docs.text
    assert "<script" not in docs.text and "http" not in docs.text.split("<body", 1)[1]
    assert "script-src" not in docs.headers["content-security-policy"]


async def test_a_batch_is_answered_in_order(served: Served, production_app: Starlette) -> None:
    rows = served.raw.iloc[:500]
    async with client(production_app) as http:
        answer = await http.post("/predict", json={"instances": rows.to_numpy().tolist()})
    predictions = answer.json()["predictions"]
    assert predictions == _model_predictions(served, slice(0, 500))
    assert not any(isinstance(p, float) and math.isnan(p) for p in predictions)
    assert np.mean(np.array(predictions) == 1) > 0.3


async def test_answers_and_errors_are_logged_and_counted(
    served: Served, production_app: Starlette
) -> None:
    from modelward.monitoring.predictions import PredictionLogRepository
    from modelward.store.workspace import open_workspace

    serving = production_app.state.serving
    serving.metrics.flush()  # counts reach prometheus_client in batches (and before /metrics)
    before = serving.metrics.requests.labels(route="/predict", status="422")._value.get()
    body = {"instances": served.raw.iloc[:2].to_numpy().tolist()}
    async with client(production_app) as http:
        good = await http.post("/predict", json=body, headers={"x-request-id": "logged-1"})
        bad = await http.post(
            "/predict", json={"instances": [[1]]}, headers={"x-request-id": "logged-2"}
        )
    assert (good.status_code, bad.status_code) == (200, 422)
    assert bad.headers["x-request-id"] == "logged-2"
    serving.prediction_log.flush()
    records = {
        r.request_id: r
        for r in PredictionLogRepository(open_workspace().db).records("bc-clf", status=None)
    }
    assert records["logged-1"].status == 200 and records["logged-1"].n_rows == 2
    assert records["logged-1"].outputs == good.json()["predictions"]
    assert records["logged-1"].inputs == {f: served.raw[f].iloc[:2].tolist() for f in FEATURES}
    assert records["logged-2"].status == 422
    assert "has 1 values" in str(records["logged-2"].error)
    serving.metrics.flush()
    after = serving.metrics.requests.labels(route="/predict", status="422")._value.get()
    assert after == before + 1
