"""Pipeline history: a run and its steps as recorded, read back, reused and interrupted."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from modelward.errors import Forbidden, InvalidInput, NotFound
from modelward.pipelines.history import SqlPipelineHistory
from modelward.pipelines.ports import pipeline_history
from modelward.pipelines.remote import RemotePipelineHistory
from modelward.pipelines.run_records import PipelineRun, StepRecord
from modelward.server.tokens import READER, WRITER
from modelward.store.tables import pipeline_runs
from modelward.store.workspace import Workspace
from tests.server.support import TeamServer


def key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


SPEC = key("spec")


def start(history: SqlPipelineHistory, pipeline: str = "churn", **extra: object) -> PipelineRun:
    values: dict[str, object] = {
        "pipeline": pipeline,
        "path": "pipeline.yaml",
        "spec_digest": SPEC,
        "trigger": "manual",
        "started_by": "ada",
        **extra,
    }
    return history.start(**values)  # type: ignore[arg-type]


@pytest.fixture
def history(workspace: Workspace) -> SqlPipelineHistory:
    picked = pipeline_history(workspace)
    assert isinstance(picked, SqlPipelineHistory)
    return picked


def test_a_run_keeps_every_step_in_order_with_its_outputs(history: SqlPipelineHistory) -> None:
    run = start(history, trigger="alert:churn-clf/f1 dropped")
    assert run.status == "running" and run.finished_at is None and run.steps == ()
    data = StepRecord("data", key("d"), "cached", {"dataset": "people@3"}, 0.01)
    train = StepRecord(
        "train", key("t"), "ran", {"runs": ["a" * 32, "b" * 32], "best": "a" * 32}, 12.5
    )
    promote = StepRecord(
        "promote", key("p"), "refused",
        {"alias": "production", "from": 3, "to": 4, "checks": [{"f1": [0.8, 0.81]}]},
        0.2, error="f1 0.80 < production.f1 + 0.01 = 0.82",
    )  # fmt: skip
    for step in (data, train, promote):
        history.record_step(run.id, step)
    done = history.finish(run.id, "refused", "the gate refused the promotion")
    assert done.status == "refused" and done.error == "the gate refused the promotion"
    assert done.finished_at is not None and done.seconds is not None and done.seconds >= 0
    again = history.get(run.id)
    assert again == done
    assert again.steps == (data, train, promote)
    assert again.trigger == "alert:churn-clf/f1 dropped" and again.started_by == "ada"
    assert (again.count("ran"), again.count("cached"), again.count("refused")) == (1, 1, 1)
    assert PipelineRun.from_dict(again.to_dict()) == again


def test_recording_a_step_again_replaces_it(history: SqlPipelineHistory) -> None:
    run = start(history)
    history.record_step(run.id, StepRecord("train", key("t"), "failed", {}, 1.0, "boom"))
    history.record_step(run.id, StepRecord("train", key("t"), "ran", {"best": "r"}, 2.0))
    assert history.get(run.id).steps == (StepRecord("train", key("t"), "ran", {"best": "r"}, 2.0),)


def test_runs_are_listed_newest_first_per_pipeline_and_limited(
    history: SqlPipelineHistory,
) -> None:
    first, second = start(history), start(history, "other")
    third = start(history)
    assert [run.id for run in history.runs()] == [third.id, second.id, first.id]
    assert [run.id for run in history.runs("churn")] == [third.id, first.id]
    assert [run.id for run in history.runs(limit=1)] == [third.id]
    assert history.runs("nobody") == []
    with pytest.raises(InvalidInput, match="limit"):
        history.runs(limit=0)


def test_the_cached_step_is_the_newest_one_that_ran_or_was_cached(
    history: SqlPipelineHistory,
) -> None:
    assert history.cached_step("train", key("t")) is None
    old, new, failing = start(history), start(history), start(history)
    history.record_step(old.id, StepRecord("train", key("t"), "ran", {"best": "old"}, 1.0))
    history.record_step(new.id, StepRecord("train", key("t"), "cached", {"best": "new"}, 0.0))
    history.record_step(failing.id, StepRecord("train", key("t"), "failed", {}, 1.0, "x"))
    history.record_step(failing.id, StepRecord("data", key("t"), "ran", {"dataset": "d@1"}, 1))
    found = history.cached_step("train", key("t"))
    assert found is not None and found.outputs == {"best": "new"}
    assert history.cached_step("train", key("other")) is None
    assert history.cached_step("register", key("t")) is None


def test_a_refused_or_failed_step_is_never_reused(history: SqlPipelineHistory) -> None:
    run = start(history)
    history.record_step(run.id, StepRecord("promote", key("p"), "refused", {}, 0.1, "gate"))
    assert history.cached_step("promote", key("p")) is None


def test_unknown_runs_are_not_found(history: SqlPipelineHistory) -> None:
    with pytest.raises(NotFound):
        history.get("0" * 32)
    with pytest.raises(NotFound):
        history.get("../etc")
    with pytest.raises(NotFound):
        history.finish("0" * 32, "failed")
    with pytest.raises(NotFound):
        history.record_step("0" * 32, StepRecord("data", key("d"), "ran", {}, 0.0))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"trigger": "x" * 501}, "trigger"),
        ({"trigger": ""}, "trigger"),
        ({"pipeline": ""}, "pipeline"),
        ({"spec_digest": "abc"}, "spec_digest"),
        ({"path": "a\x00b"}, "NUL"),
    ],
)
def test_bad_runs_are_refused_and_nothing_is_written(
    history: SqlPipelineHistory, change: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        start(history, **change)
    assert history.runs() == []


def test_a_trigger_of_500_characters_is_kept_whole(history: SqlPipelineHistory) -> None:
    trigger = "alert:" + "é" * 494
    assert history.get(start(history, trigger=trigger).id).trigger == trigger


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (StepRecord("Data!", key("d"), "ran", {}, 0.0), "name"),
        (StepRecord("data", "123", "ran", {}, 0.0), "key"),
        (StepRecord("data", key("d"), "done", {}, 0.0), "status"),
        (StepRecord("data", key("d"), "ran", {"x": object()}, 0.0), "JSON"),
        (StepRecord("data", key("d"), "ran", {}, -1.0), "seconds"),
        (StepRecord("data", key("d"), "ran", {}, float("nan")), "seconds"),
    ],
)
def test_bad_steps_are_refused_and_nothing_is_written(
    history: SqlPipelineHistory, step: StepRecord, message: str
) -> None:
    run = start(history)
    with pytest.raises(InvalidInput, match=message):
        history.record_step(run.id, step)
    assert history.get(run.id).steps == ()


def test_a_run_ends_only_with_a_final_status(history: SqlPipelineHistory) -> None:
    run = start(history)
    with pytest.raises(InvalidInput, match="running"):
        history.finish(run.id, "running")
    assert history.get(run.id).status == "running"


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_run_whose_process_died_reads_as_interrupted_and_the_next_start_records_it(
    history: SqlPipelineHistory, workspace: Workspace
) -> None:
    killed = start(history, pid=_dead_pid())
    other_pipeline = start(history, "other", pid=_dead_pid())
    elsewhere = start(history, host="another-host", pid=_dead_pid())
    alive = start(history)  # this process: still going
    seen = history.get(killed.id)
    assert seen.status == "failed" and seen.error is not None
    assert seen.error.startswith("interrupted")
    assert history.get(elsewhere.id).status == "running"  # cannot be checked from here
    assert history.get(alive.id).status == "running"

    start(history)  # the next run of "churn" writes the interruption down
    with workspace.db.read() as conn:
        stored = dict(conn.execute(sa.select(pipeline_runs.c.id, pipeline_runs.c.status)).all())
    assert stored[killed.id] == "failed"
    assert stored[other_pipeline.id] == "running"  # another pipeline's: left to its own start
    assert stored[elsewhere.id] == "running" and stored[alive.id] == "running"
    assert history.get(killed.id).finished_at is not None


def test_a_killed_pipeline_process_leaves_its_finished_steps_reusable(
    history: SqlPipelineHistory, workspace: Workspace
) -> None:
    """What the runner relies on to resume: the steps recorded before the kill are kept."""
    code = f"""
import os, signal
from modelward.pipelines.history import SqlPipelineHistory
from modelward.pipelines.run_records import StepRecord
from modelward.store.database import Database
history = SqlPipelineHistory(Database({workspace.settings.db_url!r}))
run = history.start(pipeline="churn", path="p.yaml", spec_digest={SPEC!r},
                    trigger="manual", started_by="ada")
history.record_step(run.id, StepRecord("data", {key("d")!r}, "ran", {{"dataset": "d@1"}}, 1.0))
print(run.id, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert child.returncode == -9, child.stderr
    run_id = child.stdout.strip()
    killed = history.get(run_id)
    assert killed.status == "failed" and killed.error is not None
    assert killed.error.startswith("interrupted")
    reused = history.cached_step("data", key("d"))
    assert reused is not None and reused.outputs == {"dataset": "d@1"}


def test_the_record_round_trips_through_json() -> None:
    step = StepRecord("data", key("d"), "ran", {"dataset": "people@3"}, 0.5)
    assert StepRecord.from_dict(step.to_dict()) == step
    assert replace(step, error="x").to_dict()["error"] == "x"


# -- on a team server ---------------------------------------------------------------


@pytest.fixture
def team(workspace: Workspace) -> TeamServer:
    """A team server over the store (both backends), a token per role."""
    return TeamServer.start(workspace)


@pytest.fixture
def remote(team: TeamServer) -> RemotePipelineHistory:
    return RemotePipelineHistory(team.client(WRITER))


def test_a_team_server_keeps_the_history_and_names_the_token(
    team: TeamServer, remote: RemotePipelineHistory
) -> None:
    run = remote.start(
        pipeline="churn", path="p.yaml", spec_digest=SPEC, trigger="alert:clf/f1 low",
        started_by="someone-else",
    )  # fmt: skip
    assert run.status == "running" and run.started_by == WRITER  # the token's, not the claim
    steps = [
        StepRecord("data", key("d"), "ran", {"dataset": "people@3"}, 0.25),
        StepRecord("train", key("t"), "ran", {"runs": ["a" * 32], "best": "a" * 32}, 3.0),
        StepRecord("promote", key("p"), "refused", {"alias": "production", "from": 1}, 0.1, "no"),
    ]
    for step in steps:
        remote.record_step(run.id, step)
    remote.record_step(run.id, steps[0])  # a resend replaces, as a retry would
    done = remote.finish(run.id, "refused", "the gate said no")
    assert done.steps == tuple(steps) and done.status == "refused"
    assert remote.get(run.id) == done
    # what the server's own store holds is the same run
    assert SqlPipelineHistory(team.workspace.db).get(run.id) == done
    assert [found.id for found in remote.runs("churn")] == [run.id]
    assert remote.runs("other") == []
    cached = remote.cached_step("train", key("t"))
    assert cached == steps[1]
    assert remote.cached_step("promote", key("p")) is None
    assert remote.cached_step("train", key("nothing")) is None


def test_a_reader_reads_the_history_but_cannot_record(
    team: TeamServer, remote: RemotePipelineHistory
) -> None:
    run = remote.start(
        pipeline="churn", path="p.yaml", spec_digest=SPEC, trigger="manual", started_by="x"
    )
    reader = RemotePipelineHistory(team.client(READER))
    assert reader.get(run.id).id == run.id and len(reader.runs()) == 1
    with pytest.raises(Forbidden):
        reader.start(
            pipeline="churn", path="p.yaml", spec_digest=SPEC, trigger="manual", started_by="x"
        )
    with pytest.raises(Forbidden):
        reader.record_step(run.id, StepRecord("data", key("d"), "ran", {}, 0.0))
    with pytest.raises(Forbidden):
        reader.finish(run.id, "failed")
    assert remote.get(run.id).steps == () and remote.get(run.id).status == "running"


def test_the_server_refuses_bad_records_with_a_400_naming_the_field(team: TeamServer) -> None:
    http = team.http(WRITER)
    good = {"pipeline": "churn", "path": "p.yaml", "spec_digest": SPEC, "trigger": "manual"}
    run_id = http.post("/api/v1/pipelines/runs", json=good).json()["id"]
    bad_starts = [
        {**good, "trigger": "x" * 501},
        {**good, "spec_digest": "nope"},
        {**good, "pipeline": "a\x00b"},
        {**good, "started_by": "someone"},  # not the client's to say
        {**good, "pid": 2**40},
    ]
    for body in bad_starts:
        assert http.post("/api/v1/pipelines/runs", json=body).status_code == 400, body
    step = {"key": key("d"), "status": "ran", "outputs": {}, "seconds": 1.0}
    steps = f"/api/v1/pipelines/runs/{run_id}/steps"
    for path, body in [
        (f"{steps}/data", {**step, "status": "done"}),
        (f"{steps}/data", {**step, "seconds": -1.0}),
        (f"{steps}/data", {**step, "key": "abc"}),
        (f"{steps}/Data", step),
        (f"/api/v1/pipelines/runs/{run_id}/status", {"status": "running"}),
    ]:
        answer = http.put(path, json=body)
        assert answer.status_code == 400, (path, body, answer.text)
    missing = http.put(f"/api/v1/pipelines/runs/{'0' * 32}/steps/data", json=step)
    assert missing.status_code == 404
    assert http.get(f"/api/v1/pipelines/runs/{'0' * 32}").status_code == 404
    assert http.get("/api/v1/pipelines/runs", params={"limit": 0}).status_code == 400
    assert SqlPipelineHistory(team.workspace.db).get(run_id).steps == ()


def test_a_remote_run_whose_process_died_is_marked_by_the_next_start_here(
    team: TeamServer, remote: RemotePipelineHistory
) -> None:
    http = team.http(WRITER)
    body = {"pipeline": "churn", "path": "p.yaml", "spec_digest": SPEC, "trigger": "manual"}
    from modelward.pipelines.run_records import this_host

    killed = http.post(
        "/api/v1/pipelines/runs", json={**body, "host": this_host(), "pid": _dead_pid()}
    ).json()["id"]
    elsewhere = http.post(
        "/api/v1/pipelines/runs", json={**body, "host": "another-host", "pid": 1}
    ).json()["id"]
    assert remote.get(killed).status == "failed"  # as this client reads it
    remote.start(
        pipeline="churn", path="p.yaml", spec_digest=SPEC, trigger="manual", started_by="x"
    )
    stored = SqlPipelineHistory(team.workspace.db)
    with team.workspace.db.read() as conn:
        statuses = dict(conn.execute(sa.select(pipeline_runs.c.id, pipeline_runs.c.status)).all())
    assert statuses[killed] == "failed" and statuses[elsewhere] == "running"
    error = stored.get(killed).error
    assert error is not None and error.startswith("interrupted")


def test_the_picker_gives_the_remote_history_for_a_team_server(
    team: TeamServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    workspace = team.connect(monkeypatch, tmp_path / "client")
    assert isinstance(pipeline_history(workspace), RemotePipelineHistory)
