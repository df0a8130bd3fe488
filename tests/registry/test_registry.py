"""The registry on SQLite and PostgreSQL: versions, aliases, gates, audit, loading."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import modelward as mw
from modelward.errors import GateFailed, IntegrityError, InvalidInput, NotFound
from modelward.registry.entities import ModelVersion


@pytest.fixture
def data(backend_home: Path) -> str:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    frame["label"] = (frame["a"] + frame["b"] > 0).astype(int)
    return mw.data.add(frame, name="toy").ref


def _register(data: str, f1: float, name: str = "toy-clf") -> ModelVersion:
    frame = mw.data.load(data)
    model = LogisticRegression().fit(frame[["a", "b"]], frame["label"])
    with mw.start_run(experiment="reg") as run:
        run.log_metric("f1", f1)
        return cast(ModelVersion, run.log_model(model, name=name, data=data))


def test_versions_are_numbered_and_carry_their_lineage(data: str) -> None:
    first = _register(data, 0.80)
    second = _register(data, 0.85)
    assert (first.ref, second.ref) == ("toy-clf@1", "toy-clf@2")
    assert second.data == "toy@1" and second.run_id and second.metrics == {"f1": 0.85}
    assert second.signature["inputs"] == [
        {"name": "a", "dtype": "double", "kind": "number"},
        {"name": "b", "dtype": "double", "kind": "number"},
    ]
    assert second.signature["target"] == "label" and second.signature["classes"] == [0, 1]
    assert mw.models.get("toy-clf").ref == "toy-clf@2"  # bare name = latest
    assert [m.name for m in mw.models.list()] == ["toy-clf"]


def test_aliases_gates_and_audit(data: str) -> None:
    _register(data, 0.80)
    _register(data, 0.85)
    _register(data, 0.86)
    assert (
        mw.models.set_alias("toy-clf", 1, "production", require="f1 >= production.f1").ref
        == "toy-clf@1"
    )
    with pytest.raises(GateFailed) as refused:
        mw.models.set_alias("toy-clf", 3, "production", require="f1 >= production.f1 + 0.1")
    message = str(refused.value)
    assert "0.86" in message and "0.9" in message and "FAILS" in message
    assert mw.models.get("toy-clf@production").version == 1  # nothing moved
    mw.models.set_alias(
        "toy-clf", 2, "production", require="f1 >= production.f1 + 0.04", reason="better f1"
    )
    assert mw.models.get("toy-clf@production").version == 2
    history = mw.models.audit("toy-clf")
    assert [(c.alias, c.from_version, c.to_version) for c in history] == [
        ("production", 1, 2),
        ("production", None, 1),
    ]
    assert history[0].reason == "better f1" and history[0].actor
    # the gate each move passed is kept with it, with the numbers it compared
    assert history[0].gate is not None and history[0].gate.startswith("f1 >= production.f1 + 0.04")
    assert "passes" in history[0].gate and str(round(0.80 + 0.04, 2)) in history[0].gate
    assert history[1].gate is not None and "passes" in history[1].gate
    assert history[0].to_dict()["gate"] == history[0].gate


def test_gate_against_another_alias_and_unknown_metric(data: str) -> None:
    _register(data, 0.80)
    _register(data, 0.90)
    mw.models.set_alias("toy-clf", 1, "champion")
    mw.models.set_alias("toy-clf", 2, "challenger", require="f1 > champion.f1")
    with pytest.raises(InvalidInput, match="no metric 'recall'"):
        mw.models.set_alias("toy-clf", 2, "production", require="recall > 0.5")


@pytest.mark.parametrize(
    ("args", "error", "fragment"),
    [
        (("nobody", 1, "production"), NotFound, "unknown model 'nobody'"),
        (("toy-clf", 9, "production"), NotFound, "no version 9"),
        (("toy-clf", 1, "latest"), InvalidInput, "implicit"),
        (("toy-clf", 1, "9bad"), InvalidInput, "illegal alias"),
    ],
)
def test_bad_alias_requests(
    data: str, args: tuple[str, int, str], error: type, fragment: str
) -> None:
    _register(data, 0.8)
    with pytest.raises(error, match=fragment):
        mw.models.set_alias(*args)
    assert mw.models.audit("toy-clf") == []


def test_registering_from_an_unknown_run_or_a_run_without_a_model(data: str) -> None:
    with pytest.raises(NotFound, match="unknown run"):
        mw.models.register("0123456789abcdef", "toy-clf")
    with mw.start_run() as run:
        run.log_metric("x", 1.0)
    with pytest.raises(NotFound, match="has no model"):
        mw.models.register(run.id, "toy-clf")
    with pytest.raises(NotFound):
        mw.models.get("toy-clf")


def test_load_verifies_and_predicts(data: str, backend_home: Path) -> None:
    version = _register(data, 0.8)
    frame = mw.data.load(data)
    loaded = mw.models.load("toy-clf@1")
    reference = (
        LogisticRegression().fit(frame[["a", "b"]], frame["label"]).predict(frame[["a", "b"]])
    )
    np.testing.assert_array_equal(loaded.predict(frame[["a", "b"]]), reference)
    blob = backend_home / "blobs" / "sha256" / version.digest[:2] / version.digest[2:]
    blob.chmod(0o644)
    tampered = bytearray(blob.read_bytes())
    tampered[len(tampered) // 2] ^= 0xFF
    blob.write_bytes(bytes(tampered))
    with pytest.raises(IntegrityError, match="tampered"):
        mw.models.load("toy-clf@1")
