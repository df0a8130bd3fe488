"""`mw pipeline run | show`: the contract's pipeline runs, reruns from its cache, reruns
the right steps after a change, and records what it did."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.metrics import f1_score

import modelward as mw
from tests.helpers import Result, mw_in_process

PREP = "steps:\n  - normalize: {columns: [a, b, c, d], method: zscore}\n"
PIPELINE = """\
name: churn
data: {add: people.csv, name: people}
transform: {spec: prep.yaml, name: people-prep}
train:
  target: churned
  experiment: churn
  candidates:
    - {model: logistic, optimizer: adam, param: {l2: [0.0, 0.01]}}
    - {model: sklearn.ensemble.RandomForestClassifier, param: {n_estimators: 15, max_depth: 3}}
  select: -metrics.f1
register: churn-clf
promote: {alias: production, require: "f1 >= production.f1 - 0.5"}
"""


def people(rows: int, seed: int) -> pd.DataFrame:
    X, y = make_classification(
        n_samples=rows, n_features=4, n_informative=3, n_redundant=0, random_state=seed
    )
    frame = pd.DataFrame(X * [1.0, 10.0, 100.0, 0.1] + [0, 5, 50, 1], columns=list("abcd"))
    frame["churned"] = y
    return frame


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    people(400, 1).to_csv(folder / "people.csv", index=False)
    (folder / "prep.yaml").write_text(PREP)
    (folder / "pipeline.yaml").write_text(PIPELINE)
    return folder


def run(project: Path, home: Path, *args: str) -> Result:
    return mw_in_process("pipeline", "run", project / "pipeline.yaml", "--json", *args, home=home)


def statuses(result: Result) -> dict[str, str]:
    return {step["step"]: step["status"] for step in result.json()["steps"]}


def outputs(result: Result, step: str) -> dict[str, Any]:
    found = [s for s in result.json()["steps"] if s["step"] == step]
    return dict(found[0]["outputs"])


def test_runs_reruns_from_cache_and_reruns_what_a_change_touches(
    project: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    first = run(project, home)
    assert first.code == 0, first.stderr
    assert first.json()["status"] == "succeeded"
    assert set(statuses(first).values()) == {"ran"}
    assert list(statuses(first)) == ["data", "holdout", "transform", "train", "register", "promote"]
    trained = outputs(first, "train")
    assert len(trained["runs"]) == 3 and trained["failed"] == 0
    best_f1 = max(r["metrics"]["f1"] for r in trained["runs"])
    assert trained["value"] == best_f1
    assert outputs(first, "register")["model"] == "churn-clf@1"
    assert outputs(first, "promote")["to"] == 1
    runs_after_first = mw_in_process("runs", "list", "--json", home=home).json()
    assert len(runs_after_first) == 3

    again = run(project, home)
    assert again.code == 0, again.stderr
    assert set(statuses(again).values()) == {"cached"}
    assert [s["key"] for s in again.json()["steps"]] == [s["key"] for s in first.json()["steps"]]
    assert len(mw_in_process("runs", "list", "--json", home=home).json()) == 3
    assert [v["version"] for v in mw_in_process("models", "show", "churn-clf", "--json",
                                               home=home).json()["versions"]] == [1]  # fmt: skip

    shown = mw_in_process("pipeline", "show", project / "pipeline.yaml", "--json", home=home)
    assert shown.code == 0, shown.stderr
    assert all(step["cached"] for step in shown.json()["steps"])
    assert [r["status"] for r in shown.json()["runs"]] == ["succeeded", "succeeded"]

    # A changed spec reruns the transform and what comes after it, not the data.
    (project / "prep.yaml").write_text(PREP.replace("zscore", "minmax"))
    changed = run(project, home)
    assert changed.code == 0, changed.stderr
    assert statuses(changed) == {
        "data": "cached",
        "holdout": "cached",
        "transform": "ran",
        "train": "ran",
        "register": "ran",
        "promote": "ran",
    }
    assert outputs(changed, "register")["model"] == "churn-clf@2"

    # New rows rerun everything; --force reruns even what is cached.
    people(500, 2).to_csv(project / "people.csv", index=False)
    assert set(statuses(run(project, home)).values()) == {"ran"}
    forced = run(project, home, "--force")
    assert forced.code == 0 and set(statuses(forced).values()) == {"ran"}


def test_the_gate_compares_challenger_and_champion_on_the_same_held_out_rows(
    project: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    assert run(project, home).code == 0
    people(400, 7).to_csv(project / "people.csv", index=False)
    second = run(project, home)
    assert second.code == 0, second.stderr
    promoted = outputs(second, "promote")
    holdout = outputs(second, "holdout")["holdout"]
    assert promoted["evaluated_on"] == holdout
    assert set(promoted["evaluations"]) == {"churn-clf@1", "churn-clf@2"}
    # each model's f1 on those rows, recomputed here with scikit-learn
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MODELWARD_HOME", str(home))
        rows = mw.data.load(holdout)
        for ref, metrics in promoted["evaluations"].items():
            model = mw.models.load(ref)
            predicted = model.predict(rows.drop(columns=["churned"]))
            assert metrics["f1"] == pytest.approx(f1_score(rows["churned"], predicted))
        checks = promoted["checks"]
        assert checks[0]["left"] == pytest.approx(promoted["evaluations"]["churn-clf@2"]["f1"])
        assert checks[0]["right"] == pytest.approx(
            promoted["evaluations"]["churn-clf@1"]["f1"] - 0.5
        )
        audit = mw.models.audit("churn-clf")
        assert audit[0].to_version == 2 and "pipeline churn" in (audit[0].reason or "")


def test_a_refused_gate_is_recorded_and_moves_nothing(project: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert run(project, home).code == 0
    text = PIPELINE.replace("production.f1 - 0.5", "production.f1 + 2")
    (project / "pipeline.yaml").write_text(text)
    people(400, 3).to_csv(project / "people.csv", index=False)  # a new challenger
    refused = run(project, home)
    assert refused.code == 1
    assert refused.json()["status"] == "refused"
    assert statuses(refused)["promote"] == "refused"
    assert "refused to point churn-clf@production at version 2" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    shown = mw_in_process("models", "show", "churn-clf", "--json", home=home).json()
    holders = {v["version"]: v["aliases"] for v in shown["versions"]}
    assert "production" in holders[1] and "production" not in holders[2]
    assert len(shown["audit"]) == 1  # the first promotion only
    runs = mw_in_process("pipeline", "show", project / "pipeline.yaml", "--json", home=home)
    assert runs.json()["runs"][0]["status"] == "refused"


def test_a_crashing_candidate_fails_its_run_and_the_others_go_on(
    project: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    # a valid parameter set that scikit-learn refuses only when fitting
    crashing = (
        "    - {model: sklearn.linear_model.LogisticRegression,\n"
        "       param: {solver: liblinear, l1_ratio: 0.5}}\n"
    )
    text = PIPELINE.replace("  select:", crashing + "  select:")
    (project / "pipeline.yaml").write_text(text)
    result = run(project, home)
    assert result.code == 0, result.stderr
    trained = outputs(result, "train")
    assert trained["failed"] == 1
    failed = [r for r in trained["runs"] if r["error"]]
    assert len(failed) == 1 and "liblinear" in failed[0]["error"]
    listed = mw_in_process("runs", "list", "--json", home=home).json()
    by_id = {r["id"]: r for r in listed}
    assert by_id[failed[0]["run_id"]]["status"] == "failed"


def test_bad_input_is_exit_2_before_any_work(project: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    (project / "pipeline.yaml").write_text(PIPELINE.replace("n_estimators", "n_trees"))
    result = run(project, home)
    assert result.code == 2
    assert result.stderr.count("\n") == 1 and "train.candidates[2]" in result.stderr
    assert not home.exists() or mw_in_process("data", "list", "--json", home=home).json() == []


def test_a_missing_target_fails_the_train_step_and_keeps_what_came_before(
    project: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    (project / "pipeline.yaml").write_text(PIPELINE.replace("target: churned", "target: gone"))
    result = run(project, home)
    assert result.code in (1, 2)
    assert result.json()["status"] == "failed"
    assert statuses(result)["data"] == "ran"
    assert len(result.stderr.strip().splitlines()) == 1 and "gone" in result.stderr


def test_features_are_standardised_by_the_transform_step(project: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = run(project, home)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MODELWARD_HOME", str(home))
        prepared = mw.data.load(outputs(result, "transform")["dataset"])
    assert np.allclose(prepared[list("abcd")].mean(), 0, atol=1e-9)


def test_the_python_api_runs_shows_and_lists_a_pipeline(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELWARD_HOME", str(tmp_path / "home"))
    first = mw.pipelines.run(project / "pipeline.yaml", workers=1)
    assert first.status == "succeeded" and [s.status for s in first.steps] == ["ran"] * 6
    assert all(step["cached"] for step in mw.pipelines.show(project / "pipeline.yaml"))
    again = mw.pipelines.run(project / "pipeline.yaml")
    assert {s.status for s in again.steps} == {"cached"}
    assert [r.id for r in mw.pipelines.runs("churn")] == [again.id, first.id]
    (project / "pipeline.yaml").write_text(PIPELINE.replace("- 0.5", "+ 2"))
    people(300, 4).to_csv(project / "people.csv", index=False)
    with pytest.raises(mw.GateFailed, match="refused to point churn-clf@production"):
        mw.pipelines.run(project / "pipeline.yaml")
    assert mw.pipelines.runs("churn")[0].status == "refused"


def test_an_sql_source_is_read_every_run_and_what_follows_is_cached_when_it_did_not_change(
    project: Path, tmp_path: Path
) -> None:
    import sqlite3

    source = tmp_path / "crm.db"
    with sqlite3.connect(source) as conn:
        people(300, 1).to_sql("people", conn, index=False)
    text = PIPELINE.replace(
        "data: {add: people.csv, name: people}",
        f"data: {{import_sql: {{url: 'sqlite:///{source}', query: 'SELECT * FROM people'}}}}",
    )
    (project / "pipeline.yaml").write_text(text)
    home = tmp_path / "home"
    first = run(project, home)
    assert first.code == 0, first.stderr
    assert outputs(first, "data")["dataset"] == "churn@1"  # named after the pipeline
    again = run(project, home)
    assert set(statuses(again).values()) == {"cached"}, statuses(again)
    shown = mw_in_process("pipeline", "show", project / "pipeline.yaml", "--json", home=home)
    assert shown.json()["steps"][0]["key"] is None  # known only once it has read the rows
    with sqlite3.connect(source) as conn:
        conn.execute("DELETE FROM people WHERE rowid % 10 = 0")
    changed = run(project, home)
    assert set(statuses(changed).values()) == {"ran"}
    assert outputs(changed, "data") == {"dataset": "churn@2", "rows": 270, "new": True}
