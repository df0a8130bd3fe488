"""`mlflow.search_runs` / `MlflowClient.search_runs` against `mw server`: filters, order, pages.

Runs with known values are logged through the MLflow client; every expectation is
computed here, in plain Python, from those values.
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Callable
from dataclasses import dataclass

import mlflow
import pytest
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException

from modelward.server.tokens import READER
from tests.server.mlflow.support import LiveServer, unique

pytestmark = pytest.mark.timeout(180)

START = 1_767_225_600_000  # 2026-01-01T00:00:00Z, in ms
STATUSES = ("FINISHED", "FAILED", "RUNNING", "KILLED")


@dataclass(frozen=True)
class Logged:
    run_id: str
    name: str
    start: int
    status: str
    acc: float
    loss: float | None
    opt: str
    team: str
    flag: bool


@dataclass(frozen=True)
class Logbook:
    experiment_id: str
    runs: list[Logged]

    def ids(self, keep: Callable[[Logged], bool]) -> set[str]:
        return {run.run_id for run in self.runs if keep(run)}


@pytest.fixture(scope="module")
def logbook(live: LiveServer) -> Logbook:
    """20 runs with seeded values, logged by the MLflow client once for the module."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        live.use(monkeypatch, "writer")
        client = mlflow.MlflowClient()
        experiment_id = client.create_experiment(unique("search"))
        rng = random.Random(7)
        accuracies = rng.sample(range(1000), 20)
        runs = []
        for index in range(20):
            start = START + index * 60_000
            name = f"run-{index}"
            run = client.create_run(experiment_id, start_time=start, run_name=name)
            logged = Logged(
                run_id=run.info.run_id,
                name=name,
                start=start,
                status=STATUSES[index % 4],
                acc=accuracies[index] / 1000,
                loss=None if index % 5 == 0 else 2.0 - index / 10,
                opt=("adam", "sgd", "adagrad")[index % 3],
                team=("a", "b", "B")[index % 3 if index % 2 else 0],
                flag=index % 4 == 1,
            )
            metrics = [Metric("acc", logged.acc, start, 0), Metric("val acc", logged.acc, start, 0)]
            if logged.loss is not None:
                metrics.append(Metric("loss", logged.loss, start, 0))
            tags = [RunTag("team", logged.team)] + ([RunTag("flag", "yes")] if logged.flag else [])
            client.log_batch(run.info.run_id, metrics=metrics, params=[Param("opt", logged.opt)])
            client.log_batch(run.info.run_id, tags=tags)
            if logged.status != "RUNNING":
                client.set_terminated(run.info.run_id, status=logged.status, end_time=start + 1000)
            runs.append(logged)
    return Logbook(experiment_id, runs)


def _search(book: Logbook, text: str, **options: object) -> list[str]:
    found = mlflow.MlflowClient().search_runs([book.experiment_id], filter_string=text, **options)  # type: ignore[arg-type]
    return [run.info.run_id for run in found]


FILTERS: list[tuple[str, Callable[[Logged], bool]]] = [
    ("", lambda r: True),
    ("metrics.acc > 0.5", lambda r: r.acc > 0.5),
    ("metrics.acc <= 0.3 and metrics.loss >= 1", lambda r: r.acc <= 0.3 and (r.loss or 0) >= 1),
    (
        "metrics.acc > 0.2 and params.opt = 'adam' and tags.team = 'a' "
        "and attributes.status = 'FINISHED'",
        lambda r: r.acc > 0.2 and r.opt == "adam" and r.team == "a" and r.status == "FINISHED",
    ),
    ("params.opt != 'adam'", lambda r: r.opt != "adam"),
    ("params.opt LIKE 'ada%'", lambda r: r.opt.startswith("ada")),
    ("tags.team ILIKE 'b'", lambda r: r.team.lower() == "b"),
    ("tags.team = 'B'", lambda r: r.team == "B"),
    ("tags.flag IS NULL", lambda r: not r.flag),
    ("tags.flag IS NOT NULL", lambda r: r.flag),
    ("attributes.status = 'KILLED'", lambda r: r.status in ("KILLED", "FAILED")),
    ("attributes.status != 'RUNNING'", lambda r: r.status != "RUNNING"),
    ("attributes.run_name = 'run-3'", lambda r: r.name == "run-3"),
    ("attributes.start_time >= 1767226200000", lambda r: r.start >= 1_767_226_200_000),
    ("attributes.created < 1767225780000", lambda r: r.start < 1_767_225_780_000),
    ("attributes.user_id = 'writer'", lambda r: True),
    ("metrics.`val acc` > 0.9", lambda r: r.acc > 0.9),
    ('metrics."val acc" > 0.9', lambda r: r.acc > 0.9),
    ("metric.loss < 1.5", lambda r: r.loss is not None and r.loss < 1.5),
]


@pytest.mark.parametrize(("text", "keep"), FILTERS, ids=[f[0] or "all" for f in FILTERS])
def test_filters_select_exactly_the_runs_they_describe(
    mlflow_client: LiveServer, logbook: Logbook, text: str, keep: Callable[[Logged], bool]
) -> None:
    # KILLED runs are stored failed: a filter on KILLED matches both (documented)
    assert set(_search(logbook, text)) == logbook.ids(keep)


def test_run_ids_in_a_list(mlflow_client: LiveServer, logbook: Logbook) -> None:
    chosen = [logbook.runs[2].run_id, logbook.runs[11].run_id]
    text = f"attributes.run_id IN ('{chosen[0]}', '{chosen[1]}')"
    assert set(_search(logbook, text)) == set(chosen)
    assert set(_search(logbook, text.replace(" IN ", " NOT IN "))) == logbook.ids(
        lambda r: r.run_id not in chosen
    )


def test_order_by_metrics_params_and_attributes(
    mlflow_client: LiveServer, logbook: Logbook
) -> None:
    by_acc = sorted(logbook.runs, key=lambda r: -r.acc)
    assert _search(logbook, "", order_by=["metrics.acc DESC"]) == [r.run_id for r in by_acc]
    by_start = sorted(logbook.runs, key=lambda r: r.start)
    assert _search(logbook, "", order_by=["attributes.start_time ASC"]) == [
        r.run_id for r in by_start
    ]
    assert _search(logbook, "") == [r.run_id for r in reversed(by_start)]  # MLflow's default
    # runs without the metric come last, whichever the direction
    with_loss = sorted((r for r in logbook.runs if r.loss is not None), key=lambda r: r.loss or 0)
    ordered = _search(logbook, "", order_by=["metrics.loss ASC"])
    assert ordered[: len(with_loss)] == [r.run_id for r in with_loss]
    assert set(ordered[len(with_loss) :]) == logbook.ids(lambda r: r.loss is None)
    # ties on the first key are broken by the second
    two_keys = sorted(logbook.runs, key=lambda r: (r.opt, -r.acc))
    assert _search(logbook, "", order_by=["params.opt", "metrics.acc DESC"]) == [
        r.run_id for r in two_keys
    ]


def test_pages_follow_tokens_without_gaps_or_repeats(
    mlflow_client: LiveServer, logbook: Logbook
) -> None:
    client = mlflow.MlflowClient()
    expected = [r.run_id for r in sorted(logbook.runs, key=lambda r: -r.acc)]
    page = client.search_runs([logbook.experiment_id], order_by=["metrics.acc DESC"], max_results=7)
    seen = [run.info.run_id for run in page]
    sizes = [len(page)]
    while page.token:
        page = client.search_runs(
            [logbook.experiment_id],
            order_by=["metrics.acc DESC"],
            max_results=7,
            page_token=page.token,
        )
        seen.extend(run.info.run_id for run in page)
        sizes.append(len(page))
    assert sizes == [7, 7, 6]
    assert seen == expected
    # and the fluent API, which pages by itself
    frame = mlflow.search_runs([logbook.experiment_id], filter_string="metrics.acc > 0.5")
    assert set(frame["run_id"]) == logbook.ids(lambda r: r.acc > 0.5)
    assert dict(zip(frame["run_id"], frame["metrics.acc"], strict=True)) == {
        r.run_id: pytest.approx(r.acc) for r in logbook.runs if r.acc > 0.5
    }


BAD_FILTERS = [
    "metrics.acc > 'high'",
    "params.opt > 1",
    "params.opt = adam",
    "foo.bar = 1",
    "metrics.acc >",
    "attributes.artifact_uri = 'x'",
    "metrics.acc > 0.5 or params.opt = 'adam'",
    "metrics.acc LIKE '1%'",
    "datasets.name = 'x'",
    "metrics.acc > 0.5; DROP TABLE runs",
    " and ".join(["metrics.acc > 0"] * 40),
]


@pytest.mark.parametrize("text", BAD_FILTERS)
def test_a_bad_filter_is_invalid_parameter_value(
    mlflow_client: LiveServer, logbook: Logbook, text: str
) -> None:
    with pytest.raises(MlflowException) as refused:
        _search(logbook, text)
    assert refused.value.error_code == "INVALID_PARAMETER_VALUE"


def test_max_results_is_bounded_like_mlflow(mlflow_client: LiveServer, logbook: Logbook) -> None:
    assert len(_search(logbook, "", max_results=50_000)) == 20
    with mlflow_client.http(READER) as http:  # a search is a read
        for size in (50_001, 10**12, 0, -1, "many"):
            response = http.post(
                "/api/2.0/mlflow/runs/search",
                json={"experiment_ids": [logbook.experiment_id], "max_results": size},
            )
            assert response.status_code == 400, (size, response.text)
            assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        huge = base64.urlsafe_b64encode(json.dumps({"offset": 10**30}).encode()).decode()
        for token in ("not-base64!", "eyJvZmZzZXQiOiAtMX0=", "bnVsbA==", huge):  # bad, -1, null
            response = http.post(
                "/api/2.0/mlflow/runs/search",
                json={"experiment_ids": [logbook.experiment_id], "page_token": token},
            )
            assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE", token


def test_a_search_of_unknown_or_no_experiments_finds_nothing(
    mlflow_client: LiveServer, logbook: Logbook
) -> None:
    client = mlflow.MlflowClient()
    assert list(client.search_runs(["987654"])) == []
    assert list(client.search_runs([])) == []
