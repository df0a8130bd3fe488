"""Concurrent requests share one model call, and each still gets exactly its own answer."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

from modelward.serving.app import create_app
from modelward.serving.batching import Batcher
from tests.serving.support import FEATURES, Served, client, serving_for

pytestmark = pytest.mark.anyio


def _bodies(served: Served, count: int) -> list[tuple[slice, dict[str, Any]]]:
    """`count` requests of 1 to 3 rows, in two body formats."""
    bodies, start = [], 0
    for i in range(count):
        rows = slice(start, start + 1 + i % 3)
        frame = served.raw.iloc[rows]
        body = (
            {"instances": frame.to_numpy().tolist()}
            if i % 2
            else {"dataframe_split": {"columns": FEATURES, "data": frame.to_numpy().tolist()}}
        )
        bodies.append((rows, body))
        start = rows.stop
    return bodies


async def test_concurrent_requests_share_model_calls_and_get_their_own_rows(
    served: Served,
) -> None:
    import modelward as mw

    serving = serving_for("bc-clf@production", log=True)
    app = create_app(serving)
    bodies = _bodies(served, 40)
    model = mw.models.load("bc-clf@1")
    async with client(app) as http:
        answers = await asyncio.gather(
            *(http.post("/predict", json=body) for _, body in bodies),
        )
    for (rows, _), answer in zip(bodies, answers, strict=True):
        assert answer.status_code == 200, answer.text
        expected = model.model.predict(served.prepared.iloc[rows])  # this request's rows alone
        assert answer.json()["predictions"] == expected.tolist()
    assert serving.batcher.calls < len(bodies) // 4  # stacked, not one call per request
    assert serving.batcher.rows == sum(r.stop - r.start for r, _ in bodies)
    # every answered request is logged and counted, as without stacking
    assert serving.prediction_log is not None
    serving.prediction_log.flush()
    from modelward.monitoring.predictions import PredictionLogRepository
    from modelward.store.workspace import open_workspace

    logged = PredictionLogRepository(open_workspace().db).request_ids("bc-clf")
    assert {answer.json()["request_id"] for answer in answers} <= logged


async def test_one_call_per_request_with_batch_rows_1(served: Served) -> None:
    serving = serving_for("bc-clf@production")
    serving = type(serving)(**{**serving.__dict__, "batcher": Batcher(1)})
    bodies = _bodies(served, 12)
    async with client(create_app(serving)) as http:
        answers = await asyncio.gather(*(http.post("/predict", json=b) for _, b in bodies))
    assert all(answer.status_code == 200 for answer in answers)
    assert serving.batcher.calls == len(bodies)


async def test_a_request_the_model_refuses_does_not_fail_the_others(served: Served) -> None:
    # CategoricalNB refuses negative values (a check of its own, past the signature's):
    # stacked with good requests, the bad one gets its 422 and the others their answers.
    from sklearn.naive_bayes import CategoricalNB

    import modelward as mw

    if not any(m.name == "bc-nb" for m in mw.models.list()):
        frame = mw.data.load("bc")
        with mw.start_run(experiment="batching") as run:
            model = CategoricalNB().fit(np.rint(frame[FEATURES]), frame["target"])
            run.log_model(model, name="bc-nb", data="bc@1", target="target")
    serving = serving_for("bc-nb@1")
    nb = mw.models.load("bc-nb@1").model
    codes = np.rint(served.raw.to_numpy())
    good = [codes[i : i + 2].tolist() for i in range(0, 20, 2)]
    bad = [[1.0, -5.0, 3.0, 4.0]]
    bodies = [*good[:5], bad, *good[5:]]
    async with client(create_app(serving)) as http:
        answers = await asyncio.gather(
            *(http.post("/predict", json={"instances": rows}) for rows in bodies)
        )
    refused = answers[5]
    assert refused.status_code == 422 and "Negative values" in refused.json()["error"]["message"]
    for rows, answer in zip(bodies, answers, strict=True):
        if rows is not bad:
            assert answer.status_code == 200, answer.text
            assert answer.json()["predictions"] == nb.predict(np.array(rows)).tolist()
