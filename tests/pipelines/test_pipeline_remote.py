"""A pipeline through a team server (MODELWARD_URI): the data uploaded, the runs, the
evaluations, the registered version, the gated alias move and the pipeline's history
all land in the server's store, and a rerun is cached there too."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelward.pipelines.candidates import InProcessExecutor
from modelward.pipelines.history import SqlPipelineHistory
from modelward.pipelines.runner import run_pipeline
from modelward.pipelines.spec import load_pipeline
from modelward.registry.service import ModelRegistry
from modelward.store.workspace import open_workspace
from tests.pipelines.test_pipeline_run import PIPELINE, PREP, people
from tests.server.support import WRITER, TeamServer


def test_a_pipeline_through_the_team_server_records_everything_there(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server_side = open_workspace()
    team = TeamServer.start(server_side)
    folder = tmp_path / "project"
    folder.mkdir()
    people(300, 1).to_csv(folder / "people.csv", index=False)
    (folder / "prep.yaml").write_text(PREP)
    # an unprotected alias: a writer's token may move it
    (folder / "pipeline.yaml").write_text(PIPELINE.replace("alias: production", "alias: staging")
                                          .replace("production.f1", "staging.f1"))  # fmt: skip
    client = team.connect(monkeypatch, tmp_path / "client", WRITER)
    spec = load_pipeline(folder / "pipeline.yaml")

    first = run_pipeline(client, spec, executor=InProcessExecutor())
    assert first.error is None, first.error
    assert first.run.status == "succeeded"
    again = run_pipeline(client, spec, executor=InProcessExecutor())
    assert {step.status for step in again.run.steps} == {"cached"}

    # everything is in the server's own store, as its own adapters read it
    recorded = SqlPipelineHistory(server_side.db).runs("churn")
    assert [run.id for run in recorded] == [again.run.id, first.run.id]
    assert recorded[1].started_by == WRITER  # the token's name, not the client's user
    registry = ModelRegistry(server_side)
    staging = registry.get("churn-clf@staging")
    assert staging.version == 1 and staging.tags["pipeline.run"] == first.run.id
    audit = registry.audit("churn-clf")
    assert audit[0].actor == WRITER and "pipeline churn" in (audit[0].reason or "")
    assert not (tmp_path / "client" / "modelward.db").exists()
