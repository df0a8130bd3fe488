"""`mw train` and `mw evaluate` as a user runs them, checked against scikit-learn.

The commands run in this process through the real entry point (`tests.helpers.mw_in_process`);
the last two tests run `mw` as a separate program, end to end.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.metrics import accuracy_score, f1_score, mean_squared_error, r2_score, roc_auc_score
from sklearn.model_selection import train_test_split

from modelward.store.workspace import close_workspaces
from tests.helpers import Result, bird_features, mw, mw_in_process


def _ok(result: Result) -> Result:
    assert result.code == 0, result.stderr
    return result


def _train(home: Path, data: str, model: str, *options: str) -> dict[str, Any]:
    """`mw train --data DATA --target target --model MODEL OPTIONS --json`, which must work."""
    command = ["train", "--data", data, "--target", "target", "--model", model, *options]
    answer: dict[str, Any] = _ok(mw_in_process(*command, "--json", home=home)).json()
    return answer


def _runs(home: Path, *options: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = _ok(
        mw_in_process("runs", "list", *options, "--json", home=home)
    ).json()
    return found


def raw_birds(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """Raw rows with a text column, an id and a year the transform drops."""
    frame, rng = bird_features(n, seed)
    score = (frame["bill"] - 44) / 5 + 1.5 * (frame["island"] == "Dream") - 0.5
    frame["target"] = (score + rng.normal(0, 0.7, size=n) > 0).astype(int)
    return frame


PREP_SPEC = {
    "steps": [
        {"drop": ["row_id", "year"]},
        {"one_hot": {"columns": ["island"]}},
        {"normalize": {"columns": ["bill", "mass"], "method": "zscore"}},
    ]
}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("train")
    home = root / "home"
    frame = load_breast_cancer(as_frame=True).frame
    features = [c for c in frame.columns if c != "target"]
    scaled = frame.copy()
    scaled[features] = (frame[features] - frame[features].mean()) / frame[features].std(ddof=0)
    scaled.to_csv(root / "bc.csv", index=False)
    _ok(mw_in_process("data", "add", root / "bc.csv", "--name", "bc", home=home))
    diabetes = load_diabetes(as_frame=True).frame
    diabetes.to_csv(root / "diabetes.csv", index=False)
    _ok(mw_in_process("data", "add", root / "diabetes.csv", "--name", "diabetes", home=home))
    text = frame.assign(city=np.where(frame["target"] == 1, "a", "b"))
    text.to_csv(root / "text.csv", index=False)
    _ok(mw_in_process("data", "add", root / "text.csv", "--name", "with-text", home=home))
    raw_birds().to_csv(root / "birds.csv", index=False)
    (root / "prep.yaml").write_text(yaml.safe_dump(PREP_SPEC))
    _ok(mw_in_process("data", "add", root / "birds.csv", "--name", "birds", home=home))
    _ok(
        mw_in_process(
            "data",
            "transform",
            "birds@1",
            "--spec",
            root / "prep.yaml",
            "--name",
            "birds-prep",
            home=home,
        )
    )
    yield home
    close_workspaces()


def test_sklearn_model_metrics_match_an_independent_fit(home: Path) -> None:
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
    shown = _ok(mw_in_process("runs", "show", result["run_id"][:8], "--json", home=home)).json()
    assert shown["status"] == "finished"
    assert shown["params"]["n_estimators"] == "30"  # under the name the user gave
    assert shown["params"]["model"] == "sklearn.ensemble.RandomForestClassifier"
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
        "--param",
        "l2=0.01",
        "--experiment",
        "opt",
    )
    assert result["metrics"]["accuracy"] > 0.9
    run = _ok(mw_in_process("runs", "show", result["run_id"], "--json", home=home)).json()
    assert run["params"]["optimizer"] == optimizer
    assert run["params"]["l2"] == "0.01" and run["params"]["max_epochs"] == "40"
    assert "loss" in run["metrics"]


def test_the_contracts_param_filters_find_the_runs(home: Path) -> None:
    # README / `mw runs list --help`: --filter "params.optimizer = 'adam'"
    adam = _runs(home, "--filter", "params.optimizer = 'adam'")
    assert len(adam) >= 1 and {r["params"]["optimizer"] for r in adam} == {"adam"}
    trained = _train(
        home,
        "bc",
        "sklearn.ensemble.RandomForestClassifier",
        "--param",
        "n_estimators=12",
        "--experiment",
        "forest",
    )
    found = _runs(home, "--filter", "params.n_estimators = '12'")
    assert [r["id"] for r in found] == [trained["run_id"]]
    assert _runs(home, "--experiment", "opt", "--filter", "params.l2 = '0.01'")


def test_search_and_compare_from_the_cli(home: Path) -> None:
    runs = _runs(
        home,
        "--experiment",
        "opt",
        "--filter",
        "params.optimizer in ('adam', 'sgd')",
        "--order-by",
        "-metrics.f1",
    )
    assert {r["params"]["optimizer"] for r in runs} == {"adam", "sgd"}
    f1s = [r["metrics"]["f1"] for r in runs]
    assert f1s == sorted(f1s, reverse=True)
    compared = _ok(
        mw_in_process("runs", "compare", runs[0]["id"], runs[1]["id"], "--json", home=home)
    ).json()
    optimizer_row = next(r for r in compared["rows"] if r["key"] == "optimizer")
    assert optimizer_row["differs"] is True
    assert _ok(mw_in_process("runs", "compare", runs[0]["id"], runs[1]["id"], home=home)).stdout


def test_a_model_with_tuple_params_trains_and_records_them(home: Path) -> None:
    # MLPClassifier's hidden_layer_sizes defaults to the tuple (100,)
    result = _train(
        home,
        "bc",
        "sklearn.neural_network.MLPClassifier",
        "--param",
        "max_iter=30",
        "--param",
        "random_state=0",
    )
    run = _ok(mw_in_process("runs", "show", result["run_id"], "--json", home=home)).json()
    assert run["params"]["hidden_layer_sizes"] == "(100,)"


def test_evaluate_regression_matches_sklearn_and_creates_the_plots_folder(
    home: Path, tmp_path: Path
) -> None:
    trained = _train(home, "diabetes", "sklearn.linear_model.Ridge", "--param", "alpha=0.5")
    plots = tmp_path / "new" / "plots"  # does not exist yet
    record = _ok(
        mw_in_process(
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
        mw_in_process(
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


def test_evaluate_on_raw_data_applies_the_stored_transform(home: Path) -> None:
    trained = _train(
        home, "birds-prep", "sklearn.linear_model.LogisticRegression", "--experiment", "birds"
    )
    on_raw = _ok(
        mw_in_process("evaluate", trained["run_id"], "--data", "birds@1", "--json", home=home)
    )
    on_prep = _ok(
        mw_in_process("evaluate", trained["run_id"], "--data", "birds-prep", "--json", home=home)
    )
    raw, prep = on_raw.json(), on_prep.json()
    assert raw["n_rows"] == prep["n_rows"] == 300
    assert raw["metrics"] == pytest.approx(prep["metrics"])
    # the reference: the transform written in pandas, the model refitted by scikit-learn
    frame = raw_birds()
    X = frame[["bill", "mass"]].copy()
    X = (X - X.mean()) / X.std(ddof=0)  # `normalize` fits the population std
    X = pd.concat([X, pd.get_dummies(frame["island"], prefix="island").astype(int)], axis=1)
    y = frame["target"]
    X_train, _, y_train, _ = train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)
    from sklearn.linear_model import LogisticRegression

    predictions = LogisticRegression().fit(X_train, y_train).predict(X)
    assert raw["metrics"]["accuracy"] == pytest.approx(accuracy_score(y, predictions))
    assert raw["metrics"]["f1"] == pytest.approx(f1_score(y, predictions))


def test_evaluate_takes_a_registered_model_ref_as_the_contract_writes_it(home: Path) -> None:
    trained = _train(home, "bc", "logistic", "--param", "max_epochs=20", "--register", "bc-clf")
    by_ref = _ok(mw_in_process("evaluate", "bc-clf@1", "--data", "bc", "--json", home=home)).json()
    by_run = _ok(
        mw_in_process("evaluate", trained["run_id"], "--data", "bc", "--json", home=home)
    ).json()
    assert by_ref["model"] == "bc-clf@1" and by_run["model"] == f"run:{trained['run_id']}"
    assert by_ref["run_id"] == trained["run_id"] and by_ref["metrics"] == by_run["metrics"]
    shown = _ok(mw_in_process("evaluate", "bc-clf", "--data", "bc", home=home)).stdout
    assert "bc-clf@1 on bc@1" in shown  # a bare name is the latest version
    missing = mw_in_process("evaluate", "nobody@1", "--data", "bc", home=home)
    assert missing.code == 2 and len(missing.stderr.strip().splitlines()) == 1


def test_evaluate_refuses_a_plots_path_that_is_a_file(home: Path, tmp_path: Path) -> None:
    trained = _train(home, "bc", "logistic", "--param", "max_epochs=5")
    (tmp_path / "plots").write_text("not a folder")
    result = mw_in_process(
        "evaluate", trained["run_id"], "--data", "bc", "--plots", tmp_path / "plots", home=home
    )
    assert result.code == 2 and "is a file, not a folder" in result.stderr


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--model", "os.system"], "refusing --model 'os.system'"),
        (["--model", "sklearn.metrics.accuracy_score"], "refusing --model"),
        (["--model", "sklearn.linear_model.Nothing"], "refusing --model"),
        (["--model", "sklearn.pipeline.Pipeline"], "built from other estimators"),
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
    before = len(_runs(home, "--limit", "1000"))
    result = mw_in_process("train", *merged, "--experiment", "bad", home=home)
    assert result.code == 2, (result.stdout, result.stderr)
    assert len(result.stderr.strip().splitlines()) == 1
    assert fragment in result.stderr
    assert len(_runs(home, "--limit", "1000")) == before  # refused before a run was started


def test_a_fit_that_fails_marks_the_run_failed(home: Path) -> None:
    result = mw_in_process(
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
    runs = _runs(home, "--experiment", "diverge")
    assert [r["status"] for r in runs] == ["failed"]
    assert "diverged" in runs[0]["error"]


def test_evaluate_bad_input(home: Path) -> None:
    result = mw_in_process("evaluate", "ffffffff", "--data", "bc", home=home)
    assert result.code == 2 and "unknown run" in result.stderr
    trained = _train(home, "bc", "logistic", "--param", "max_epochs=5")
    wrong = mw_in_process("evaluate", trained["run_id"], "--data", "diabetes", home=home)
    assert wrong.code == 2 and "lacks column" in wrong.stderr


# --- end to end: `mw` as its own program ------------------------------------------------------


def test_end_to_end_train_then_find_the_run_by_its_param(home: Path) -> None:
    trained = mw(
        "train",
        "--data",
        "bc",
        "--target",
        "target",
        "--model",
        "logistic",
        "--optimizer",
        "adam",
        "--param",
        "max_epochs=20",
        "--experiment",
        "e2e",
        "--json",
        home=home,
    )
    run_id = _ok(trained).json()["run_id"]
    found = _ok(
        mw(
            "runs",
            "list",
            "--experiment",
            "e2e",
            "--filter",
            "params.optimizer = 'adam'",
            "--json",
            home=home,
        )
    ).json()
    assert [r["id"] for r in found] == [run_id]


def test_end_to_end_bad_input_is_one_line_and_exit_2(home: Path) -> None:
    result = mw("train", "--data", "bc", "--target", "nope", "--model", "logistic", home=home)
    assert result.code == 2 and result.stdout == ""
    assert (
        result.stderr.strip().splitlines() == [result.stderr.strip()]
        and "target column 'nope'" in result.stderr
    )
