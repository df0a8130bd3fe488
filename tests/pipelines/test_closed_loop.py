"""The closed loop on a real `mw serve`: drifted traffic fires an alert whose rule
starts the pipeline; it retrains on fresh rows, the gate decides, and the server
answers with what was promoted (or keeps its version when the gate refuses)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import mw_in_process
from tests.pipelines.test_pipeline_run import PREP, people
from tests.serving.support import Server, start_server

LOOP = """\
name: churn
data: {add: people.csv, name: people}
transform: {spec: prep.yaml, name: people-prep}
train:
  target: churned
  experiment: churn
  candidates:
    - {model: sklearn.linear_model.LogisticRegression, param: {C: [0.5, 1.0]}}
register: churn-clf
promote: {alias: production, require: "GATE"}
"""
RULES = """\
rules:
  - name: drifted
    metric: drift_share
    threshold: {above: 0.4}
    window: 1
    then: {pipeline: pipeline.yaml, cooldown: 1h}
"""


def _project(tmp_path: Path, gate: str) -> tuple[Path, Path]:
    folder, home = tmp_path / "project", tmp_path / "home"
    folder.mkdir()
    people(600, 1).to_csv(folder / "people.csv", index=False)
    (folder / "prep.yaml").write_text(PREP)
    (folder / "pipeline.yaml").write_text(LOOP.replace("GATE", gate))
    (folder / "rules.yaml").write_text(RULES)
    first = mw_in_process("pipeline", "run", folder / "pipeline.yaml", "--json", home=home)
    assert first.code == 0, first.stderr
    return folder, home


def _drifted_traffic(server: Server, rows: int = 300) -> None:
    shifted = people(rows, 9)
    shifted[["a", "b", "c", "d"]] = shifted[["a", "b", "c", "d"]] * 3 + 40
    records = shifted.drop(columns=["churned"]).to_dict(orient="records")
    for start in range(0, rows, 50):
        answer = httpx.post(
            f"{server.url}/predict", json={"instances": records[start : start + 50]}
        )
        assert answer.status_code == 200, answer.text


def _wait_for(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def _pipeline_runs(folder: Path, home: Path) -> list[dict[str, Any]]:
    shown = mw_in_process("pipeline", "show", folder / "pipeline.yaml", "--json", home=home)
    assert shown.code == 0, shown.stderr
    return list(shown.json()["runs"])


def _serve(home: Path, folder: Path) -> Server:
    return start_server(
        home, "churn-clf@production", "--alerts", str(folder / "rules.yaml"),
        "--monitor-interval", "0.5", "--poll-interval", "0.3",
    )  # fmt: skip


@pytest.mark.timeout(240)
def test_drift_retrains_promotes_and_the_server_swaps(tmp_path: Path) -> None:
    folder, home = _project(tmp_path, "f1 >= production.f1 - 0.5")
    server = _serve(home, folder)
    try:
        people(600, 5).to_csv(folder / "people.csv", index=False)  # fresh rows arrived
        _drifted_traffic(server)
        runs = _wait_for(
            lambda: [r for r in _pipeline_runs(folder, home) if r["trigger"] != "manual"
                     and r["status"] != "running"],
            150, "the alert's pipeline run",
        )  # fmt: skip
        run = runs[0]
        assert run["trigger"].startswith("alert:churn-clf/drifted (alert ")
        assert run["status"] == "succeeded", run
        assert {s["step"]: s["status"] for s in run["steps"]}["data"] == "ran"

        def answered_version() -> int | None:
            body = {"instances": [{"a": 0.1, "b": 5.0, "c": 50.0, "d": 1.0}]}
            version = httpx.post(f"{server.url}/predict", json=body).json()["model"]["version"]
            return version if version == 2 else None

        assert _wait_for(answered_version, 30, "the server to answer with version 2") == 2
        audit = mw_in_process("models", "show", "churn-clf", "--json", home=home).json()["audit"]
        newest = audit[0]
        assert newest["to_version"] == 2 and newest["from_version"] == 1
        assert "started by alert:churn-clf/drifted (alert " in newest["reason"]
        # the alert keeps firing, but the cool-down holds: no second run starts
        _drifted_traffic(server, 100)
        time.sleep(4)
        assert len([r for r in _pipeline_runs(folder, home) if r["trigger"] != "manual"]) == 1
    finally:
        _, err = server.stop()
    assert "started pipeline" in err


@pytest.mark.timeout(240)
def test_a_refused_gate_keeps_the_served_version_and_is_recorded(tmp_path: Path) -> None:
    folder, home = _project(tmp_path, "f1 >= production.f1 + 2")
    server = _serve(home, folder)
    try:
        people(600, 5).to_csv(folder / "people.csv", index=False)
        _drifted_traffic(server)
        runs = _wait_for(
            lambda: [r for r in _pipeline_runs(folder, home) if r["trigger"] != "manual"
                     and r["status"] != "running"],
            150, "the alert's pipeline run",
        )  # fmt: skip
        assert runs[0]["status"] == "refused"
        assert runs[0]["steps"][-1] == {
            "step": "promote",
            "key": runs[0]["steps"][-1]["key"],
            "status": "refused",
        }
        body = {"instances": [{"a": 0.1, "b": 5.0, "c": 50.0, "d": 1.0}]}
        assert httpx.post(f"{server.url}/predict", json=body).json()["model"]["version"] == 1
        shown = mw_in_process("models", "show", "churn-clf", "--json", home=home).json()
        assert len(shown["audit"]) == 1  # only the first, manual promotion
        assert [v["version"] for v in shown["versions"]] == [1, 2]  # registered, not promoted
    finally:
        server.stop()


def test_a_rule_whose_pipeline_registers_another_model_is_refused_at_start(
    tmp_path: Path,
) -> None:
    folder, home = _project(tmp_path, "f1 >= production.f1")
    (folder / "pipeline.yaml").write_text(
        LOOP.replace("register: churn-clf", "register: other").replace("GATE", "f1 > 0")
    )
    result = mw_in_process(
        "serve", "churn-clf@production", "--port", "0", "--alerts", folder / "rules.yaml",
        home=home,
    )  # fmt: skip
    assert result.code == 2
    assert "registers 'other', but this server serves 'churn-clf'" in result.stderr
    (folder / "pipeline.yaml").write_text("name: [broken\n")
    result = mw_in_process(
        "serve", "churn-clf@production", "--port", "0", "--alerts", folder / "rules.yaml",
        home=home,
    )  # fmt: skip
    assert result.code == 2 and "then.pipeline: pipeline.yaml: not valid YAML" in result.stderr
