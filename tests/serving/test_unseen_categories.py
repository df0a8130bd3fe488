"""A category the model never saw is answered with a warning, and counted on /metrics."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette

from modelward.serving.app import create_app
from tests.serving.support import ISLANDS, Penguins, client, penguin_predictions, serving_for

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def penguin_app(penguins: Penguins) -> Starlette:
    return create_app(serving_for("peng-clf@1"))


def _unseen_count(exposition: str, column: str = "island") -> float:
    for family in text_string_to_metric_families(exposition):
        if family.name == "modelward_unseen_categories":
            for sample in family.samples:
                labels = {"model": "peng-clf", "version": "1", "column": column}
                if sample.name.endswith("_total") and sample.labels == labels:
                    return sample.value
    return 0.0


async def test_unseen_categories_are_warned_and_counted(
    penguins: Penguins, penguin_app: Starlette
) -> None:
    rows = penguins.frame[penguins.features].iloc[:8].copy()
    rows.loc[[1, 3], "island"] = "Atlantis"
    rows.loc[4, "island"] = "Mars"
    rows.loc[5, "island"] = None  # missing: not a category, no warning
    body = json.dumps({"dataframe_split": rows.to_dict(orient="split")}).encode()
    async with client(penguin_app) as http:
        before = _unseen_count((await http.get("/metrics")).text)
        answer = await http.post(
            "/predict", content=body, headers={"content-type": "application/json"}
        )
        after = _unseen_count((await http.get("/metrics")).text)
    assert answer.status_code == 200, answer.text
    payload = answer.json()
    # the model answered as for none of the known islands, as one_hot documents
    assert payload["predictions"] == penguin_predictions(penguins, rows)
    warnings = payload["warnings"]
    assert [(w["field"], w["value"], w["rows"], w["count"]) for w in warnings] == [
        ("island", "Atlantis", [1, 3], 2),
        ("island", "Mars", [4], 1),
    ]
    assert all(w["type"] == "unseen_category" for w in warnings)
    assert "'Atlantis' is a category not seen in training" in warnings[0]["message"]
    assert all(island in warnings[0]["message"] for island in ISLANDS)
    assert after - before == 3  # rows, per model, version and column


async def test_known_categories_answer_without_warnings(
    penguins: Penguins, penguin_app: Starlette
) -> None:
    rows = penguins.frame[penguins.features].iloc[10:40]
    async with client(penguin_app) as http:
        answer = await http.post("/predict", json={"instances": rows.to_dict(orient="records")})
    assert answer.status_code == 200
    assert "warnings" not in answer.json()
    assert answer.json()["predictions"] == penguin_predictions(penguins, rows)


async def test_warnings_stay_bounded(penguins: Penguins, penguin_app: Starlette) -> None:
    base = penguins.frame[penguins.features].iloc[:1]
    same = pd.concat([base] * 150, ignore_index=True).assign(island="Atlantis")
    distinct = same.assign(island=[f"isle-{i}" for i in range(150)])
    async with client(penguin_app) as http:
        before = _unseen_count((await http.get("/metrics")).text)
        one = await http.post("/predict", json={"instances": same.to_dict(orient="records")})
        many = await http.post(
            "/invocations",
            content=distinct.to_csv(index=False).encode(),
            headers={"content-type": "text/csv"},
        )
        exposition = (await http.get("/metrics")).text
    after = _unseen_count(exposition)
    [warning] = one.json()["warnings"]
    assert warning["count"] == 150 and warning["rows"] == list(range(100))
    assert len(many.json()["warnings"]) == 20  # of 150 distinct values
    assert after - before == 300  # every row is counted, warned or not
    assert "isle-" not in exposition  # values are never label values


async def test_half_a_surrogate_pair_is_refused_not_a_500(
    penguins: Penguins, penguin_app: Starlette
) -> None:
    # orjson refuses it; Python's JSON (read because of the NaN) lets it through
    for body in (
        b'{"instances": [["\\ud800", 40.0, 190.0], [NaN, 41.0, 190.0]]}',
        b'{"instances": [["\\ud800", 40.0, 190.0], ["Dream", 41.0, 190.0]]}',
        b'{"instances": [["\\udfff", 40.0, 190.0], [NaN, 41.0, 190.0]]}',
    ):
        async with client(penguin_app) as http:
            answer = await http.post(
                "/predict", content=body, headers={"content-type": "application/json"}
            )
        assert answer.status_code == 400, answer.text
        assert "surrogate" in answer.json()["error"]["message"]
    # a whole pair is a character like any other: here, an unseen island
    body = b'{"instances": [["\\ud83c\\udfdd", 40.0, 190.0], [NaN, 41.0, 190.0]]}'
    async with client(penguin_app) as http:
        answer = await http.post(
            "/predict", content=body, headers={"content-type": "application/json"}
        )
    assert answer.status_code == 200, answer.text
    assert [w["value"] for w in answer.json()["warnings"]] == ["\U0001f3dd"]
