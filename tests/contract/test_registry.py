"""The registry port, the same assertions on its local adapter (`ModelRegistry`) and its
remote one (`RemoteRegistry` over an in-process team server), on SQLite and PostgreSQL."""

from __future__ import annotations

import getpass
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import modelward as mw
from modelward.errors import Forbidden, GateFailed, InvalidInput, NotFound
from modelward.registry.ports import Registry
from modelward.registry.remote import RemoteRegistry
from modelward.registry.service import ModelRegistry
from modelward.store.workspace import Workspace
from tests.contract.conftest import SIDES
from tests.server.support import ADMIN, WRITER, TeamServer

FEATURES = ["a", "b"]


@dataclass
class Side:
    """One adapter of the port, and who its records name."""

    name: str
    registry: Registry
    actor: str  # the name records made through it carry
    make: Callable[[str], Registry]  # the same side as another role (remote: another token)


@dataclass
class Trained:
    """Runs in the server's store, each with a logged (unregistered) model."""

    frame: pd.DataFrame
    run_ids: list[str]  # f1 0.80, 0.85, 0.90
    models: list[LogisticRegression]


@pytest.fixture
def trained(workspace: Workspace) -> Trained:
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    frame["label"] = (frame["a"] - 0.5 * frame["b"] > 0).astype(int)
    data = mw.data.add(frame, name="toy")
    run_ids, models = [], []
    for f1, c in ((0.80, 0.01), (0.85, 0.1), (0.90, 1.0)):
        model = LogisticRegression(C=c).fit(frame[FEATURES], frame["label"])
        with mw.start_run(experiment="contract") as run:
            run.log_metric("f1", f1)
            run.log_model(model, data=data, target="label")
        run_ids.append(run.id)
        models.append(model)
    return Trained(frame, run_ids, models)


@pytest.fixture(params=SIDES)
def side(
    request: pytest.FixtureRequest,
    workspace: Workspace,
    team: TeamServer,
    client_workspace: Callable[[str], Workspace],
) -> Side:
    if request.param == "local":
        registry = ModelRegistry(workspace)
        return Side("local", registry, getpass.getuser(), lambda _role: registry)
    return Side(
        "remote",
        RemoteRegistry(client_workspace(WRITER)),
        WRITER,
        lambda role: RemoteRegistry(client_workspace(role)),
    )


def test_versions_are_numbered_from_runs_and_carry_their_lineage(
    side: Side, trained: Trained
) -> None:
    registry = side.registry
    first = registry.register_run(trained.run_ids[0], "toy-clf", description="first")
    second = registry.register_run(trained.run_ids[1], "toy-clf", tags={"team": "fraud"})
    assert (first.ref, second.ref) == ("toy-clf@1", "toy-clf@2")
    assert second.run_id == trained.run_ids[1] and second.data == "toy@1"
    assert second.metrics == {"f1": 0.85} and second.tags == {"team": "fraud"}
    assert first.description == "first" and second.created_by == side.actor
    assert [c["name"] for c in second.signature["inputs"]] == FEATURES
    assert second.signature["classes"] == [0, 1]
    assert registry.get("toy-clf").ref == "toy-clf@2"  # a bare name: latest
    assert registry.get("toy-clf@latest") == registry.get("toy-clf@2")
    assert registry.get("toy-clf@1") == first
    listed = registry.models()
    assert [(m.name, m.latest_version, m.n_versions) for m in listed] == [("toy-clf", 2, 2)]
    assert [v.version for v in registry.versions("toy-clf")] == [1, 2]


def test_a_run_prefix_registers_and_unknown_runs_or_names_are_refused(
    side: Side, trained: Trained
) -> None:
    registry = side.registry
    assert registry.register_run(trained.run_ids[2][:12], "toy-clf").run_id == trained.run_ids[2]
    with pytest.raises(NotFound, match="unknown run"):
        registry.register_run("0" * 32, "toy-clf")
    with pytest.raises(InvalidInput, match="illegal model name"):
        registry.register_run(trained.run_ids[0], "bad name")
    assert [v.version for v in registry.versions("toy-clf")] == [1]


def test_unknown_models_versions_and_aliases_are_not_found(side: Side, trained: Trained) -> None:
    registry = side.registry
    registry.register_run(trained.run_ids[0], "toy-clf")
    for ref, message in (
        ("nobody", "unknown model 'nobody'"),
        ("toy-clf@7", "has no version 7"),
        ("toy-clf@staging", "has no alias 'staging'"),
    ):
        with pytest.raises(NotFound, match=message):
            registry.get(ref)
    with pytest.raises(NotFound, match="unknown model"):
        registry.versions("nobody")
    with pytest.raises(NotFound, match="has no version 5"):
        registry.set_alias("toy-clf", 5, "staging")


def test_aliases_move_through_gates_and_every_move_is_audited(side: Side, trained: Trained) -> None:
    registry = side.registry
    for run_id in trained.run_ids:
        registry.register_run(run_id, "toy-clf")
    previous, current, checks = registry.set_alias(
        "toy-clf", 1, "champion", require="f1 >= champion.f1"
    )
    assert previous is None and current.ref == "toy-clf@1" and current.aliases == ("champion",)
    assert checks[0].passed and "no version is 'champion' yet" in (checks[0].note or "")

    with pytest.raises(GateFailed) as refused:
        registry.set_alias("toy-clf", 2, "champion", require="f1 >= champion.f1 + 0.1")
    assert "0.85" in str(refused.value) and "0.9" in str(refused.value)
    assert registry.get("toy-clf@champion").version == 1  # nothing moved

    previous, current, checks = registry.set_alias(
        "toy-clf", 3, "champion", require="f1 > champion.f1 + 0.05", reason="better f1"
    )
    assert previous is not None and previous.version == 1 and current.version == 3
    # the gate's numbers: the candidate's f1 against the holder's plus the margin
    assert checks[0].left == 0.90 and checks[0].right == pytest.approx(0.85)
    registry.set_alias("toy-clf", 2, "challenger", require="f1 < champion.f1")
    history = registry.audit("toy-clf")
    assert [(c.alias, c.from_version, c.to_version) for c in history] == [
        ("challenger", None, 2),
        ("champion", 1, 3),
        ("champion", None, 1),
    ]
    assert {c.actor for c in history} == {side.actor}
    assert history[1].reason == "better f1"
    # each move keeps the gate it passed and the numbers it compared (0.85 + 0.05)
    gate = history[1].gate
    assert gate is not None and gate.startswith("f1 > champion.f1 + 0.05: 0.9") and "passes" in gate
    assert history[2].gate is not None and "no version is 'champion' yet" in history[2].gate
    assert [c.alias for c in registry.audit("toy-clf", limit=1)] == ["challenger"]
    assert registry.models()[0].aliases == {"challenger": 2, "champion": 3}
    with pytest.raises(InvalidInput, match="implicit"):
        registry.set_alias("toy-clf", 1, "latest")


def test_an_alias_is_removed_with_an_audit_record_by_an_admin(side: Side, trained: Trained) -> None:
    side.registry.register_run(trained.run_ids[0], "toy-clf")
    side.registry.set_alias("toy-clf", 1, "staging")
    admin = side.make(ADMIN)
    removed = admin.delete_alias("toy-clf", "staging", reason="retired")
    assert removed.ref == "toy-clf@1"
    with pytest.raises(NotFound, match="no alias 'staging'"):
        side.registry.get("toy-clf@staging")
    with pytest.raises(NotFound, match="no alias 'staging'"):
        admin.delete_alias("toy-clf", "staging")
    change = side.registry.audit("toy-clf")[0]
    assert (change.from_version, change.to_version, change.reason) == (1, None, "retired")
    if side.name == "remote":  # removing is an admin's work on the team server
        side.registry.set_alias("toy-clf", 1, "staging")
        with pytest.raises(Forbidden, match="admin"):
            side.registry.delete_alias("toy-clf", "staging")
        assert side.registry.get("toy-clf@staging").version == 1


def test_load_predicts_like_the_model_that_was_logged(
    side: Side, trained: Trained, team: TeamServer
) -> None:
    version = side.registry.register_run(trained.run_ids[1], "toy-clf")
    loaded = side.registry.load("toy-clf@1")
    assert loaded.version == version
    rows = trained.frame[FEATURES].iloc[:50]
    expected = trained.models[1].predict(rows)
    np.testing.assert_array_equal(loaded.predict(rows), expected)
    again = side.registry.load(version)  # a remote load the second time: from the cache
    np.testing.assert_array_equal(again.predict(rows.values), expected)
