"""`mw train` and `mw evaluate` as a user runs them, checked against scikit-learn."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.metrics import f1_score, mean_squared_error, r2_score, roc_auc_score
from sklearn.model_selection import train_test_split

from tests.helpers import Result, mw


def _ok(result: Result) -> Result:
    assert result.code == 0, result.stderr
    return result


def _train(home: Path, data: str, model: str, *options: str) -> dict[str, Any]:
    """`mw train --data DATA --target target --model MODEL OPTIONS --json`, which must work."""
    command = ["train", "--data", data, "--target", "target", "--model", model, *options]
    answer: dict[str, Any] = _ok(mw(*command, "--json", home=home)).json()
    return answer


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("train")
    home = root / "home"
    frame = load_breast_cancer(as_frame=True).frame
    features = [c for c in frame.columns if c != "target"]
    scaled = frame.copy()
    scaled[features] = (frame[features] - frame[features].mean()) / frame[features].std(ddof=0)
    scaled.to_csv(root / "bc.csv", index=False)
    _ok(mw("data", "add", root / "bc.csv", "--name", "bc", home=home))
    diabetes = load_diabetes(as_frame=True).frame
    diabetes.to_csv(root / "diabetes.csv", index=False)
    _ok(mw("data", "add", root / "diabetes.csv", "--name", "diabetes", home=home))
    text = frame.assign(city=np.where(frame["target"] == 1, "a", "b"))
    text.to_csv(root / "text.csv", index=False)
    _ok(mw("data", "add", root / "text.csv", "--name", "with-text", home=home))
    return home


def test_sklearn_model_metrics_match_an_independent_fit(home: Path, tmp_path: Path) -> None:
    result = _train(
        home,
        "bc",
        "sklearn.ensemble.RandomForestClassifier",
        "--param",
        "n_estimators=30",
        "--param",
        "random_state=3",
        "--seed",
        "7",
        "--experiment",
        "cli",
    )
    frame = pd.read_csv(home.parent / "bc.csv")
    X, y = frame.drop(columns=["target"]), frame["target"]
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.2, random_state=7, stratify=y
    )
    from sklearn.ensemble import RandomForestClassifier

    reference = RandomForestClassifier(n_estimators=30, random_state=3).fit(X_train, y_train)
    assert result["n_test"] == len(y_test)
    assert result["metrics"]["f1"] == pytest.approx(f1_score(y_test, reference.predict(X_test)))
    assert result["metrics"]["roc_auc"] == pytest.approx(
        roc_auc_score(y_test, reference.predict_proba(X_test)[:, 1])
    )
    shown = _ok(mw("runs", "show", result["run_id"][:8], "--json", home=home)).json()
    assert shown["status"] == "finished"
    assert shown["params"]["model.n_estimators"] == "30"
    assert shown["inputs"] == [
        {"ref": "bc@1", "digest": shown["inputs"][0]["digest"], "role": "train"}
    ]
    assert {"model/model.skops", "model/model.json"} <= {a["path"] for a in shown["artifacts"]}


@pytest.mark.parametrize("optimizer", ["gd", "sgd", "minibatch", "adam"])
def test_builtin_logistic_logs_its_loss_per_epoch(home: Path, optimizer: str) -> None:
    result = _train(
        home,
        "bc",
        "logistic",
        "--optimizer",
        optimizer,
        "--param",
        "max_epochs=40",
        "--experiment",
        "opt",
    )
    assert result["metrics"]["accuracy"] > 0.9
    run = _ok(mw("runs", "show", result["run_id"], "--json", home=home)).json()
    assert run["params"]["model.optimizer"] == optimizer
    assert "loss" in run["metrics"]


def test_search_and_compare_from_the_cli(home: Path) -> None:
    runs = _ok(
        mw(
            "runs",
            "list",
            "--experiment",
            "opt",
            "--filter",
            "params.`model.optimizer` in ('adam', 'sgd')",
            "--order-by",
            "-metrics.f1",
            "--json",
            home=home,
        )
    ).json()
    assert {r["params"]["model.optimizer"] for r in runs} == {"adam", "sgd"}
    f1s = [r["metrics"]["f1"] for r in runs]
    assert f1s == sorted(f1s, reverse=True)
    compared = _ok(mw("runs", "compare", runs[0]["id"], runs[1]["id"], "--json", home=home)).json()
    optimizer_row = next(r for r in compared["rows"] if r["key"] == "model.optimizer")
    assert optimizer_row["differs"] is True
    assert _ok(mw("runs", "compare", runs[0]["id"], runs[1]["id"], home=home)).stdout


def test_evaluate_regression_matches_sklearn(home: Path, tmp_path: Path) -> None:
    trained = _train(home, "diabetes", "sklearn.linear_model.Ridge", "--param", "alpha=0.5")
    plots = tmp_path / "plots"
    plots.mkdir()
    record = _ok(
        mw(
            "evaluate",
            trained["run_id"][:8],
            "--data",
            "diabetes",
            "--plots",
            plots,
            "--json",
            home=home,
        )
    ).json()
    frame = pd.read_csv(home.parent / "diabetes.csv")
    X, y = frame.drop(columns=["target"]), frame["target"]
    X_train, _, y_train, _ = train_test_split(X, y, test_size=0.2, random_state=0)
    from sklearn.linear_model import Ridge

    predictions = Ridge(alpha=0.5).fit(X_train, y_train).predict(X)
    assert record["metrics"]["mse"] == pytest.approx(mean_squared_error(y, predictions))
    assert record["metrics"]["r2"] == pytest.approx(r2_score(y, predictions))
    assert (plots / "residuals.png").read_bytes().startswith(b"\x89PNG")
    assert record["data"] == "diabetes@1" and record["n_rows"] == len(y)


def test_evaluate_classification_writes_its_plots(home: Path, tmp_path: Path) -> None:
    trained = _train(home, "bc", "logistic", "--param", "max_epochs=30")
    record = _ok(
        mw(
            "evaluate",
            trained["run_id"],
            "--data",
            "bc@1",
            "--plots",
            tmp_path,
            "--json",
            home=home,
        )
    ).json()
    assert set(record["plots"]) == {"confusion_matrix", "roc_curve", "learning_curve"}
    for name in record["plots"]:
        assert (tmp_path / f"{name}.png").stat().st_size > 1000


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--model", "os.system"], "refusing --model 'os.system'"),
        (["--model", "sklearn.metrics.accuracy_score"], "not a scikit-learn-compatible"),
        (["--model", "sklearn.linear_model.Nothing"], "not a scikit-learn-compatible"),
        (["--model", "logistic", "--param", "colour=red"], "unknown --param colour"),
        (["--model", "logistic", "--param", "oops"], "NAME=VALUE"),
        (
            ["--model", "sklearn.ensemble.RandomForestClassifier", "--param", "n_estimators=-3"],
            "n_estimators",
        ),
        (["--model", "sklearn.linear_model.Ridge", "--optimizer", "adam"], "--optimizer"),
        (["--model", "logistic", "--target", "nope"], "target column 'nope'"),
        (["--model", "logistic", "--data", "with-text"], "not numeric"),
        (["--model", "logistic", "--data", "nobody"], "unknown dataset"),
    ],
)
def test_bad_training_input_exits_2_with_one_line(
    home: Path, args: list[str], fragment: str
) -> None:
    defaults = {"--data": "bc", "--target": "target"}
    merged = list(args)
    for flag, value in defaults.items():
        if flag not in merged:
            merged += [flag, value]
    before = len(_ok(mw("runs", "list", "--json", "--limit", "1000", home=home)).json())
    result = mw("train", *merged, "--experiment", "bad", home=home)
    assert result.code == 2, (result.stdout, result.stderr)
    assert len(result.stderr.strip().splitlines()) == 1
    assert fragment in result.stderr
    after = len(_ok(mw("runs", "list", "--json", "--limit", "1000", home=home)).json())
    assert after == before  # refused before a run was started


def test_a_fit_that_fails_marks_the_run_failed(home: Path) -> None:
    result = mw(
        "train",
        "--data",
        "diabetes",
        "--target",
        "target",
        "--model",
        "linear",
        "--optimizer",
        "gd",
        "--param",
        "learning_rate=50",
        "--experiment",
        "diverge",
        home=home,
    )
    assert result.code == 2 and "diverged" in result.stderr
    runs = _ok(mw("runs", "list", "--experiment", "diverge", "--json", home=home)).json()
    assert [r["status"] for r in runs] == ["failed"]
    assert "diverged" in runs[0]["error"]


def test_evaluate_bad_input(home: Path) -> None:
    result = mw("evaluate", "ffffffff", "--data", "bc", home=home)
    assert result.code == 2 and "unknown run" in result.stderr
    trained = _train(home, "bc", "logistic", "--param", "max_epochs=5")
    wrong = mw("evaluate", trained["run_id"], "--data", "diabetes", home=home)
    assert wrong.code == 2 and "lacks column" in wrong.stderr
