"""`mw train` and `mw evaluate` through a team server: trained on the client, everything
recorded in the server's store, the same figures as the same commands run locally.

They need the dataset and artifact routes (and the registry's, for `--register`); until
those are part of this tree the tests are skipped, not faked.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from modelward.evaluation.records import EvaluationRepository
from modelward.store.workspace import open_workspace
from modelward.tracking.repository import RunRepository
from tests.helpers import Result, bird_features, mw_in_process
from tests.server.support import WRITER, TeamServer

needs_datasets = pytest.mark.skipif(
    importlib.util.find_spec("modelward.server.api.artifacts") is None
    or importlib.util.find_spec("modelward.server.api.datasets") is None,
    reason="the /api/v1/datasets and /api/v1/artifacts routes are not in this tree yet",
)
needs_registry = pytest.mark.skipif(
    importlib.util.find_spec("modelward.server.api.models") is None,
    reason="the /api/v1/models routes are not in this tree yet",
)
TRAIN = ("--target", "label", "--model", "sklearn.tree.DecisionTreeClassifier", "--seed", "3")


@pytest.fixture
def birds_csv(tmp_path: Path) -> Path:
    frame, rng = bird_features(300, 5)
    frame["label"] = ((frame["bill"] > 44) ^ (rng.random(300) < 0.1)).astype(int)
    path = tmp_path / "birds.csv"
    frame.drop(columns=["island"]).to_csv(path, index=False)
    return path


@needs_datasets
def test_train_and_evaluate_through_the_server_record_everything_there(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, birds_csv: Path
) -> None:
    team = TeamServer.start(open_workspace())
    client = tmp_path / "client"

    def remote(*args: str) -> Result:
        team.connect(monkeypatch, client, WRITER)  # each command is a fresh process
        result = mw_in_process(*args, "--json", home=client)
        assert result.code == 0, (args, result.stderr)
        return result

    remote("data", "add", str(birds_csv), "--name", "birds")
    trained = remote("train", "--data", "birds@1", *TRAIN).json()
    evaluated = remote("evaluate", trained["run_id"][:8], "--data", "birds@1").json()

    run = RunRepository(team.workspace.db).get(trained["run_id"])
    assert run.status == "finished" and run.user == WRITER
    assert [i.ref for i in run.inputs] == ["birds@1"]
    assert run.metrics["accuracy"] == trained["metrics"]["accuracy"]
    paths = {a.path for a in run.artifacts}
    assert {"model/model.json", "evaluations/birds@1/confusion_matrix.png"} <= paths
    for artifact in run.artifacts:  # the bytes are in the server's store, whole
        team.workspace.local_artifacts.verify(artifact.digest)
    records = EvaluationRepository(team.workspace.db).for_run(run.id)
    assert [(r.id, r.created_by) for r in records] == [(evaluated["id"], WRITER)]
    assert not (client / "modelward.db").exists()  # the client keeps no store of its own

    # the same commands on a local store give the same figures
    monkeypatch.delenv("MODELWARD_URI")
    monkeypatch.delenv("MODELWARD_TOKEN")
    alone = tmp_path / "alone"
    assert mw_in_process("data", "add", str(birds_csv), "--name", "birds", home=alone).code == 0
    local = mw_in_process("train", "--data", "birds@1", *TRAIN, "--json", home=alone).json()
    assert local["metrics"] == trained["metrics"]
    local_eval = mw_in_process(
        "evaluate", local["run_id"], "--data", "birds@1", "--json", home=alone
    ).json()
    assert local_eval["metrics"] == evaluated["metrics"]


@needs_datasets
@needs_registry
def test_train_register_and_evaluate_a_version_through_the_server(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, birds_csv: Path
) -> None:
    team = TeamServer.start(open_workspace())

    def remote(*args: str) -> Result:
        team.connect(monkeypatch, tmp_path / "client", WRITER)
        result = mw_in_process(*args, "--json", home=tmp_path / "client")
        assert result.code == 0, (args, result.stderr)
        return result

    remote("data", "add", str(birds_csv), "--name", "birds")
    trained = remote("train", "--data", "birds@1", *TRAIN, "--register", "birds-clf").json()
    assert trained["registered"] == "birds-clf@1"
    evaluated = remote("evaluate", "birds-clf@1", "--data", "birds@1").json()
    assert evaluated["model"] == "birds-clf@1" and evaluated["run_id"] == trained["run_id"]
    stored = EvaluationRepository(team.workspace.db).for_run(trained["run_id"])
    assert [r.model_ref for r in stored] == ["birds-clf@1"]
