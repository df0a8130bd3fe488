"""The pipeline file: the contract's example parses; bad files are one-line errors
naming the file and the key, found before any work starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelward.errors import InvalidInput
from modelward.pipelines.spec import load_pipeline

PREP = "steps:\n  - normalize: {columns: [age, income], method: zscore}\n"
CONTRACT = """\
name: churn
data: {add: people.csv, name: people}
transform: {spec: prep.yaml, name: people-prep}
train:
  target: churned
  experiment: churn
  candidates:
    - {model: logistic, optimizer: [adam, sgd], param: {l2: [0.0, 0.01]}}
    - {model: sklearn.ensemble.RandomForestClassifier, param: {n_estimators: [100, 300]}}
  select: -metrics.f1
register: churn-clf
promote: {alias: production, require: "f1 >= production.f1 + 0.01"}
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "people.csv").write_text("age,income,churned\n1,2,0\n3,4,1\n")
    (tmp_path / "prep.yaml").write_text(PREP)
    return tmp_path


def _write(folder: Path, text: str) -> Path:
    path = folder / "pipeline.yaml"
    path.write_text(text)
    return path


def test_the_contracts_example_expands_to_six_candidates_in_order(folder: Path) -> None:
    spec = load_pipeline(_write(folder, CONTRACT))
    assert spec.name == "churn" and spec.register == "churn-clf"
    assert spec.steps == ("data", "holdout", "transform", "train", "register", "promote")
    assert spec.data.kind == "add" and spec.data.path == folder / "people.csv"
    assert spec.train is not None
    assert [(c.model, c.optimizer, dict(c.params)) for c in spec.train.candidates] == [
        ("logistic", "adam", {"l2": 0.0}),
        ("logistic", "adam", {"l2": 0.01}),
        ("logistic", "sgd", {"l2": 0.0}),
        ("logistic", "sgd", {"l2": 0.01}),
        ("sklearn.ensemble.RandomForestClassifier", None, {"n_estimators": 100}),
        ("sklearn.ensemble.RandomForestClassifier", None, {"n_estimators": 300}),
    ]
    assert [c.number for c in spec.train.candidates] == [1, 2, 3, 4, 5, 6]
    assert spec.train.select_metric == "f1" and spec.train.highest_first
    assert spec.promote is not None and spec.promote.alias == "production"
    assert spec.holdout == 0.2


def test_a_data_only_pipeline_has_no_holdout(folder: Path) -> None:
    spec = load_pipeline(_write(folder, "name: d\ndata: {use: people@latest}\n"))
    assert spec.steps == ("data",) and spec.holdout == 0.0


BAD = [
    ("unknown step", CONTRACT + "deploy: now\n", "unknown key 'deploy'"),
    ("unknown train key", CONTRACT.replace("  select:", "  epochs: 3\n  select:"),
     "unknown key 'epochs' in train"),
    ("unknown model", CONTRACT.replace("model: logistic", "model: sklearn.Nope"),
     "train.candidates[1]"),
    ("unknown parameter", CONTRACT.replace("n_estimators:", "n_trees:"),
     "train.candidates[2]: "),
    ("missing file", CONTRACT.replace("people.csv", "nobody.csv"), "data.add: no such file"),
    ("missing spec", CONTRACT.replace("prep.yaml", "nope.yaml"), "transform.spec: no such file"),
    ("gate that does not parse", CONTRACT.replace("+ 0.01", "+"), "promote.require"),
    ("promote without register", CONTRACT.replace("register: churn-clf\n", ""),
     "'promote' moves an alias of the registered model"),
    ("a cycle", CONTRACT.replace("name: people-prep", "name: people"), "a cycle"),
    ("using its own output", CONTRACT.replace("{add: people.csv, name: people}",
                                              "{use: people-prep@latest}"), "a cycle"),
    ("YAML tags", CONTRACT.replace("name: churn\n", "name: !!python/name:os.system churn\n"),
     "YAML tags are not allowed (line 1)"),
    ("a harmless tag too", CONTRACT.replace("register: churn-clf", "register: !!str churn-clf"),
     "YAML tags are not allowed"),
    ("not YAML", "name: [unclosed\n", "not valid YAML"),
    ("not a mapping", "- a\n- b\n", "a pipeline is a mapping"),
    ("repeated key", CONTRACT + "name: again\n", "repeats the key 'name'"),
    ("markup in a name", CONTRACT.replace("register: churn-clf", "register: '[/red]'"),
     "register: illegal model name"),
    ("two data kinds", CONTRACT.replace("{add: people.csv, name: people}",
                                        "{add: people.csv, use: people@1, name: people}"),
     "exactly one of add, use, import_sql, feedback"),
    ("huge grid", CONTRACT.replace("l2: [0.0, 0.01]", "l2: [" + ", ".join(
        str(n) for n in range(300)) + "]"), "more than 256 combinations"),
    ("bad select", CONTRACT.replace("-metrics.f1", "-metrics.f1; drop table"), "train.select"),
    ("bad holdout", CONTRACT + "holdout: 1.5\n", "holdout: the share of rows"),
    ("nested deep", "name: " + "[" * 5000 + "]" * 5000 + "\n", "pipeline.yaml: "),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), [(t, e) for _, t, e in BAD], ids=[b[0] for b in BAD])
def test_a_bad_pipeline_is_one_line_naming_the_file_and_the_key(
    folder: Path, text: str, expected: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        load_pipeline(_write(folder, text))
    message = caught.value.message
    assert expected in message
    assert message.startswith("pipeline.yaml: ") and "\n" not in message


def test_a_missing_or_binary_pipeline_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="no such pipeline file"):
        load_pipeline(tmp_path / "nope.yaml")
    (tmp_path / "bin.yaml").write_bytes(b"\xff\xfe\x00name")
    with pytest.raises(InvalidInput, match="not UTF-8"):
        load_pipeline(tmp_path / "bin.yaml")
