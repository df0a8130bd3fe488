"""The runs port, one contract for both adapters: the local store and the team server.

Every test runs four times: local and remote, each over SQLite and PostgreSQL.
Setup the port does not cover (a dataset version, bytes in the artifact store) is
made directly in the server's own store, as another client would have made it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd
import pytest

from modelward.data.catalog import DatasetCatalog
from modelward.errors import InvalidInput, NotFound
from modelward.identity import current_user
from modelward.store.workspace import Workspace
from modelward.tracking import remote
from modelward.tracking.ports import RunStore
from modelward.tracking.remote import RemoteRunStore
from modelward.tracking.repository import RunRepository
from modelward.tracking.search import parse_filter, parse_order_by
from tests.server.support import WRITER, TeamServer


@dataclass
class Port:
    """The port under test, the store behind it, and the name its records are made under."""

    store: RunStore
    workspace: Workspace  # the store's own (the server's, for the remote adapter)
    user: str


@pytest.fixture(params=["local", "remote"])
def port(request: pytest.FixtureRequest, workspace: Workspace) -> Port:
    if request.param == "local":
        return Port(RunRepository(workspace.db), workspace, current_user())
    team = TeamServer.start(workspace)
    return Port(RemoteRunStore(team.client(WRITER)), workspace, WRITER)


def start(port: Port, experiment: str = "churn", name: str = "first", **extra: object) -> str:
    run_id = hashlib.sha256(f"{experiment}/{name}".encode()).hexdigest()[:32]
    found = port.store.experiment(experiment, create=True)
    port.store.create_run(
        {
            "id": run_id,
            "experiment_id": found.id,
            "name": name,
            "status": "running",
            "start_time": datetime.now(UTC),
            "user": port.user,
            "git_commit": "abc123",
            "git_dirty": False,
            "source": "train.py --fast",
            "environment": {"python": "3.11", "packages": {"numpy": "2.0"}},
            "seed": 7,
            **extra,
        }
    )
    return run_id


def test_experiments_are_created_once_and_listed_by_name(port: Port) -> None:
    first = port.store.experiment("zeta", create=True)
    again = port.store.experiment("zeta", create=True)
    port.store.experiment("alpha", create=True)
    assert again == first and port.store.experiment("zeta") == first
    assert [e.name for e in port.store.experiments()] == ["alpha", "zeta"]
    with pytest.raises(NotFound, match="unknown experiment 'nope'"):
        port.store.experiment("nope")


def test_a_run_holds_what_was_logged_to_it(port: Port) -> None:
    run_id = start(port)
    assert port.store.log_batch(
        run_id,
        params=[("C", "1.0"), ("optimizer", "adam")],
        tags=[("team", "risk")],
        metrics=[("loss", 0.5, 0, 1000), ("loss", 0.25, 1, 2000), ("f1", 0.9, 0, 2000)],
    )
    port.store.log_batch(run_id, tags=[("team", "fraud")], metrics=[("loss", 0.125, 2, 3000)])
    port.store.finish_run(run_id, "finished")
    run = port.store.get(run_id[:6])
    assert (run.id, run.experiment, run.name, run.status) == (run_id, "churn", "first", "finished")
    assert run.user == port.user
    assert run.end_time is not None and run.end_time >= run.start_time
    assert (run.git_commit, run.git_dirty, run.source, run.seed) == (
        "abc123",
        False,
        "train.py --fast",
        7,
    )
    assert run.environment == {"python": "3.11", "packages": {"numpy": "2.0"}}
    assert run.params == {"C": "1.0", "optimizer": "adam"}
    assert run.tags == {"team": "fraud"}
    assert run.metrics == {"loss": 0.125, "f1": 0.9}
    history = port.store.metric_history(run_id, "loss")
    assert [(p.step, p.value, p.timestamp) for p in history] == [
        (0, 0.5, 1000),
        (1, 0.25, 2000),
        (2, 0.125, 3000),
    ]
    assert port.store.count_metric_points(run_id) == 4


def test_a_batch_sent_twice_is_stored_once(port: Port) -> None:
    run_id = start(port)
    batch = {"params": [("C", "1")], "metrics": [("loss", 1.0, 0, 10), ("loss", 0.5, 1, 20)]}
    assert port.store.log_batch(run_id, **batch, batch_id="b-1") is True  # type: ignore[arg-type]
    assert port.store.log_batch(run_id, **batch, batch_id="b-1") is False  # type: ignore[arg-type]
    assert port.store.log_batch(run_id, **batch, batch_id="b-2") is True  # type: ignore[arg-type]
    assert port.store.count_metric_points(run_id) == 4


def test_a_param_cannot_change(port: Port) -> None:
    run_id = start(port)
    port.store.log_batch(run_id, params=[("C", "1.0")])
    with pytest.raises(InvalidInput, match=r"param 'C' was already logged as '1\.0'"):
        port.store.log_batch(run_id, params=[("C", "2.0")], metrics=[("loss", 1.0, 0, 1)])
    assert port.store.count_metric_points(run_id) == 0  # the whole batch was refused
    assert port.store.get(run_id).params == {"C": "1.0"}


def test_the_latest_metric_is_the_one_of_the_highest_step(port: Port) -> None:
    run_id = start(port)
    port.store.log_batch(run_id, metrics=[("acc", 0.5, 10, 1), ("acc", 0.9, 3, 2)])
    port.store.log_batch(run_id, metrics=[("acc", 0.7, 4, 3)])
    assert port.store.get(run_id).metrics == {"acc": 0.5}


def test_a_long_history_comes_back_whole_and_in_order(
    port: Port, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(remote, "HISTORY_PAGE", 7)  # several pages over HTTP
    monkeypatch.setattr(remote, "MAX_BATCH_METRICS", 11)  # several chunks over HTTP
    run_id = start(port)
    # steps logged out of order, two points at one step: ordered by step, then time
    points = [("loss", float(s), s, 100 - s) for s in range(30, 0, -1)]
    points.append(("loss", -1.0, 5, 1000))
    port.store.log_batch(run_id, metrics=points, batch_id="long")
    port.store.log_batch(run_id, metrics=points, batch_id="long")
    history = port.store.metric_history(run_id, "loss")
    expected = sorted((s, t, v) for _, v, s, t in points)
    assert [(p.step, p.timestamp, p.value) for p in history] == expected
    assert port.store.count_metric_points(run_id) == len(points)


def test_inputs_and_artifacts_are_recorded(port: Port) -> None:
    version, _ = DatasetCatalog(port.workspace).add_frame(pd.DataFrame({"x": [1, 2]}), name="birds")
    digest = port.workspace.artifacts.put_bytes(b"model bytes")
    run_id = start(port)
    port.store.add_inputs(run_id, [(version.id, "train")])
    port.store.add_inputs(run_id, [(version.id, "train")])  # recorded once
    port.store.add_artifacts(run_id, [("model/model.skops", digest, 11)])
    port.store.add_artifacts(run_id, [("model/model.skops", digest, 11)])
    run = port.store.get(run_id)
    assert [(i.ref, i.digest, i.role) for i in run.inputs] == [("birds@1", version.digest, "train")]
    assert [(a.path, a.digest, a.size_bytes) for a in run.artifacts] == [
        ("model/model.skops", digest, 11)
    ]


def test_search_filters_sorts_and_limits(port: Port) -> None:
    for index, (name, f1, optimizer) in enumerate(
        [("a", 0.7, "adam"), ("b", 0.9, "sgd"), ("c", 0.8, "adam"), ("d", 0.95, "adam")]
    ):
        run_id = start(port, experiment="exp" if index < 3 else "other", name=name)
        port.store.log_batch(
            run_id,
            params=[("optimizer", optimizer), ("quote", "it's")],
            metrics=[("f1", f1, 0, 1)],
        )

    def names(text: str | None, order: list[str] | None = None, **kw: object) -> list[str]:
        found = port.store.search(
            where=parse_filter(text),
            order_by=parse_order_by(order),
            **kw,  # type: ignore[arg-type]
        )
        return [run.name for run in found]

    assert names("metrics.f1 > 0.75", ["-metrics.f1"]) == ["d", "b", "c"]
    assert names("params.optimizer = 'adam' and not metrics.f1 >= 0.9", ["name"]) == ["a", "c"]
    assert names("params.quote = 'it''s' and (name = 'a' or name like 'c%')", ["name"]) == [
        "a",
        "c",
    ]
    assert names(None, ["metrics.f1"], experiment="exp", limit=2) == ["a", "c"]
    assert names("params.optimizer in ('sgd', 'x')") == ["b"]
    found = port.store.search(where=parse_filter("name = 'b'"))
    assert found[0].environment is None and found[0].params["optimizer"] == "sgd"
    with pytest.raises(NotFound, match="unknown experiment 'nope'"):
        port.store.search(experiment="nope")


def test_unknown_and_ambiguous_runs(port: Port) -> None:
    with pytest.raises(NotFound, match="unknown run 'f00d'"):
        port.store.get("f00d")
    ids = {start(port, name=str(n)) for n in range(40)}
    prefix = next(a[:1] for a in ids if sum(b.startswith(a[:1]) for b in ids) > 1)
    with pytest.raises(InvalidInput, match="ambiguous"):
        port.store.get(prefix)
