"""/invocations speaks MLflow's scoring protocol: proven with MLflow's own client.

The app runs in this process, on a uvicorn thread, because MLflow's
`ScoringServerClient` talks HTTP through `requests`.
"""

from __future__ import annotations

import importlib
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from starlette.applications import Starlette

from modelward import __version__
from modelward.serving.app import create_app
from modelward.serving.processes import bind
from tests.serving.support import Penguins, Served, client, penguin_predictions, serving_for

# MLflow's own client (mlflow-skinny, a dev dependency; untyped, so reached as modules)
scoring = importlib.import_module("mlflow.pyfunc.scoring_server.client")
dump_input_data = importlib.import_module("mlflow.utils.proto_json_utils").dump_input_data


@pytest.fixture(scope="module")
def penguin_app(penguins: Penguins) -> Starlette:
    return create_app(serving_for("peng-clf@1"))


@pytest.fixture(scope="module")
def mlflow_client(penguin_app: Starlette) -> Iterator[Any]:
    import uvicorn

    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(penguin_app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    mlflow_client = scoring.ScoringServerClient("127.0.0.1", sock.getsockname()[1])
    mlflow_client.wait_server_ready(timeout=10)
    yield mlflow_client
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


def _rows(penguins: Penguins, count: int = 30) -> pd.DataFrame:
    return penguins.frame[penguins.features].iloc[:count].copy()


def test_mlflow_client_pings_and_reads_the_version(mlflow_client: Any) -> None:
    mlflow_client.ping()
    assert mlflow_client.get_version() == __version__


def test_a_dataframe_with_missing_text_is_answered(penguins: Penguins, mlflow_client: Any) -> None:
    rows = _rows(penguins)
    rows.loc[[2, 7], "island"] = np.nan  # a missing text value: MLflow's client sends NaN
    assert "NaN" in dump_input_data(rows)
    answer = mlflow_client.invoke(rows)
    predictions = answer.get_predictions(predictions_format="ndarray").tolist()
    assert predictions == penguin_predictions(penguins, rows)
    assert "warnings" not in answer  # missing is not unseen


def test_arrays_and_lists_are_answered(
    penguins: Penguins, served: Served, mlflow_client: Any
) -> None:
    rows = _rows(penguins, 10)
    expected = penguin_predictions(penguins, rows)
    for data in (rows.to_numpy(), rows.to_numpy().tolist()):  # sent as {"inputs": [[...]]}
        answer = mlflow_client.invoke(data)
        assert answer.get_predictions(predictions_format="ndarray").tolist() == expected


@pytest.mark.anyio
async def test_every_json_format_and_csv(penguins: Penguins, penguin_app: Starlette) -> None:
    rows = _rows(penguins, 12)
    rows.loc[3, "island"] = None
    expected = penguin_predictions(penguins, rows)
    records = rows.astype(object).where(rows.notna(), None).to_dict(orient="records")
    bodies: list[dict[str, Any]] = [
        {"dataframe_split": rows.to_dict(orient="split")},
        {"dataframe_records": records},
        {"instances": records},
        {"inputs": records},
        {"inputs": {c: [r[c] for r in records] for c in penguins.features}},
    ]
    async with client(penguin_app) as http:
        for body in bodies:
            content = json.dumps(body).encode()  # NaN for the missing island, as Python writes it
            answer = await http.post(
                "/invocations", content=content, headers={"content-type": "application/json"}
            )
            assert answer.status_code == 200, (body.keys(), answer.text)
            assert answer.json()["predictions"] == expected
        for text in (rows.to_csv(index=False), rows.to_csv(index=False, na_rep="NA")):
            answer = await http.post(
                "/invocations", content=text.encode(), headers={"content-type": "text/csv"}
            )
            assert answer.status_code == 200, answer.text
            assert answer.json()["predictions"] == expected


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("text", "status", "field", "fragment"),
    [
        ("island,bill_length\nDream,40\n", 422, "flipper", "missing column 'flipper'"),
        ("island,bill_length,flipper,x\nDream,40,190,1\n", 422, "x", "unknown column 'x'"),
        ("island,island,flipper\nDream,Dream,190\n", 422, "island", "named twice"),
        ("island,bill_length,flipper\nDream,long,190\n", 422, "bill_length", "invalid value"),
        ("island,bill_length,flipper\nDream,40\n", 400, None, "Expected 3 columns"),
        ("island,bill_length,flipper\n", 422, "rows", "empty"),
        ("", 400, None, "Empty CSV"),
        ("isl\udcffand,bill_length,flipper\nDream,40,190\n", 400, None, "not UTF-8"),
        ("island,bill_length,flipper\n\udcff,40,190\n", 400, None, "not UTF-8"),
    ],
)
async def test_bad_csv_is_a_4xx(
    penguin_app: Starlette, text: str, status: int, field: str | None, fragment: str
) -> None:
    async with client(penguin_app) as http:
        answer = await http.post(
            "/invocations",
            content=text.encode("utf-8", "surrogateescape"),  # \udcff: the byte 0xff
            headers={"content-type": "text/csv"},
        )
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["field"] == field
    assert fragment in answer.json()["error"]["message"]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("route", "content_type", "status"),
    [
        # MLflow's rules: only UTF-8, no parameter but charset, only the types read
        ("/invocations", "application/json", 200),
        ("/invocations", "application/json; charset=UTF-8", 200),
        ("/invocations", "text/csv; charset=utf-8", 200),
        ("/invocations", "application/json; charset=latin-1", 415),
        ("/invocations", "application/json; format=pandas-split", 415),
        ("/invocations", "application/x-pickle", 415),
        ("/invocations", "text/plain", 415),
        ("/invocations", "application/vnd.apache.parquet", 415),
        ("/predict", "application/json", 200),
        ("/predict", "application/x-pickle", 415),
        ("/predict", "text/csv", 415),  # /predict reads JSON (PRODUCT.md)
        ("/predict", "application/x-www-form-urlencoded", 415),
    ],
)
async def test_content_types_follow_mlflows_415_rules(
    served: Served, production_app: Starlette, route: str, content_type: str, status: int
) -> None:
    rows = served.raw.iloc[:2]
    if content_type.startswith("text/csv"):
        content = rows.to_csv(index=False).encode()
    else:  # JSON, whatever the header says: the type declared decides
        content = json.dumps({"instances": rows.to_numpy().tolist()}).encode()
    async with client(production_app) as http:
        answer = await http.post(route, content=content, headers={"content-type": content_type})
    assert answer.status_code == status, answer.text
    if status == 415:
        assert answer.json()["error"]["type"] == "unsupported_media_type"


@pytest.mark.anyio
async def test_a_one_column_model_takes_a_flat_array(penguins: Penguins) -> None:
    from sklearn.linear_model import LinearRegression

    values = np.array([38.5, 44.0, 51.2])
    body = dump_input_data(values)  # what MLflow's client sends for a 1-D array
    assert json.loads(body) == {"inputs": values.tolist()}
    reference = LinearRegression().fit(penguins.frame[["bill_length"]], penguins.frame["flipper"])
    expected = reference.predict(pd.DataFrame({"bill_length": values}))
    async with client(create_app(serving_for("peng-reg@1"))) as http:
        answer = await http.post(
            "/invocations", content=body, headers={"content-type": "application/json"}
        )
    assert answer.status_code == 200, answer.text
    assert np.allclose(answer.json()["predictions"], expected)
