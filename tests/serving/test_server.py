"""The model server against a real `mw serve` on 127.0.0.1: answers, errors, routes."""

from __future__ import annotations

import json
import math

import httpx
import numpy as np
import pytest

from tests.serving.conftest import FEATURES, Served, Server


def _model_predictions(served: Served, rows: slice) -> list[int]:
    import modelward as mw

    loaded = mw.models.load("bc-clf@1")
    return [int(v) for v in loaded.model.predict(served.prepared.iloc[rows])]


def test_the_three_body_formats_agree_with_the_model(
    served: Served, production_server: Server
) -> None:
    rows = served.raw.iloc[:25]
    expected = _model_predictions(served, slice(0, 25))
    bodies = [
        {"instances": rows.to_numpy().tolist()},
        {"instances": rows.to_dict(orient="records")},
        {
            "dataframe_split": {
                "columns": list(reversed(FEATURES)),
                "data": rows[list(reversed(FEATURES))].to_numpy().tolist(),
            }
        },
    ]
    for route in ("/predict", "/invocations"):
        for body in bodies:
            answer = httpx.post(production_server.url + route, json=body, timeout=10)
            assert answer.status_code == 200, answer.text
            payload = answer.json()
            assert payload["predictions"] == expected
            assert payload["model"] == {"name": "bc-clf", "version": 1}
            assert payload["request_id"] == answer.headers["x-request-id"]


def test_a_request_id_given_by_the_client_is_kept(
    production_server: Server, served: Served
) -> None:
    body = {"instances": served.raw.iloc[:1].to_numpy().tolist()}
    answer = httpx.post(
        production_server.url + "/predict", json=body, headers={"X-Request-ID": "abc-123"}
    )
    assert answer.json()["request_id"] == "abc-123"


def _row(served: Served) -> dict[str, float]:
    return {k: float(v) for k, v in served.raw.iloc[0].items()}


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
        (lambda s: b'{"instances": [[NaN, 1, 2, 3]]}', 422, "mean radius", "missing value"),
        (lambda s: b'{"instances": [[Infinity, 1, 2, 3]]}', 422, "mean radius", "finite"),
    ],
)
def test_bad_input_is_a_4xx_naming_the_problem(
    served: Served,
    production_server: Server,
    make_body: object,
    status: int,
    field: str | None,
    fragment: str,
) -> None:
    body = make_body(served)  # type: ignore[operator]
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    answer = httpx.post(
        production_server.url + "/predict",
        content=content,
        headers={"content-type": "application/json"},
    )
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["field"] == field
    assert fragment in error["message"]
    # and the server keeps serving
    good = httpx.post(
        production_server.url + "/predict",
        json={"instances": served.raw.iloc[:1].to_numpy().tolist()},
    )
    assert good.status_code == 200


def test_a_ten_megabyte_body_is_413(production_server: Server) -> None:
    answer = httpx.post(
        production_server.url + "/predict",
        content=b" " * (10 * 1024 * 1024),
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert answer.status_code == 413
    assert answer.json()["error"]["type"] == "too_large"
    assert httpx.get(production_server.url + "/health").status_code == 200


def test_unknown_routes_and_methods_are_json_4xx(production_server: Server) -> None:
    missing = httpx.get(production_server.url + "/nowhere")
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found"
    wrong = httpx.get(production_server.url + "/predict")
    assert wrong.status_code == 405 and wrong.json()["error"]["type"] == "method_not_allowed"
    delete = httpx.delete(production_server.url + "/health")
    assert delete.status_code == 405


def test_health_ready_metrics_and_docs(production_server: Server) -> None:
    url = production_server.url
    assert httpx.get(url + "/health").json() == {"status": "ok"}
    assert httpx.get(url + "/ping").status_code == 200
    ready = httpx.get(url + "/ready").json()
    assert ready["ready"] is True and ready["model"]["name"] == "bc-clf"
    metrics = httpx.get(url + "/metrics")
    assert "modelward_requests_total" in metrics.text
    assert "modelward_model_info{" in metrics.text
    schema = httpx.get(url + "/openapi.json").json()
    assert {"/predict", "/invocations", "/health", "/ready"} <= set(schema["paths"])
    assert "swagger" in httpx.get(url + "/docs").text.lower()


def test_a_batch_is_answered_in_order(served: Served, production_server: Server) -> None:
    rows = served.raw.iloc[:500]
    answer = httpx.post(
        production_server.url + "/predict", json={"instances": rows.to_numpy().tolist()}, timeout=30
    )
    assert answer.json()["predictions"] == _model_predictions(served, slice(0, 500))
    assert not any(isinstance(p, float) and math.isnan(p) for p in answer.json()["predictions"])
    assert np.mean(np.array(answer.json()["predictions"]) == 1) > 0.3
