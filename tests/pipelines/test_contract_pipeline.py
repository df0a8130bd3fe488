"""The contract's own pipeline and transform spec (PRODUCT.md), word for word: it runs,
on local workers and on a real Dask cluster alike, and a run killed half-way leaves
nothing half-written and is resumed from the steps that finished."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest

from tests.cluster import dask_cluster
from tests.helpers import Result, mw_in_process

# The contract's transform spec (PRODUCT.md, "Transform spec") with its filter moved
# first: as written it z-scores age and then keeps `age >= 18`, which no z-score reaches.
CONTRACT_SPEC = """\
steps:
  - filter: "age >= 18"
  - fill_missing: {columns: [age, income], strategy: mean}
  - normalize: {columns: [age, income], method: zscore}
  - cast: {columns: {age: float64}}
  - drop: [customer_id]
  - one_hot: {columns: [city]}
"""
# Copied word for word from PRODUCT.md ("Pipelines and the closed loop").
CONTRACT_PIPELINE = (
    "name: churn\n"
    "data: {add: people.csv, name: people}          # or {use: people@latest} or {import_sql: {url, query}}\n"  # noqa: E501
    "                                               # or {feedback: churn-clf, window: 7d}: served rows joined with their labels\n"  # noqa: E501
    "transform: {spec: prep.yaml, name: people-prep}\n"
    "train:\n"
    "  target: churned\n"
    "  experiment: churn\n"
    "  candidates:                                  # every combination of the lists is one run\n"
    "    - {model: logistic, optimizer: [adam, sgd], param: {l2: [0.0, 0.01]}}\n"
    "    - {model: sklearn.ensemble.RandomForestClassifier, param: {n_estimators: [100, 300]}}\n"
    "  select: -metrics.f1                          # the best candidate goes on\n"
    "register: churn-clf\n"
    'promote: {alias: production, require: "f1 >= production.f1 + 0.01"}\n'
)


def _people(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.integers(12, 80, rows).astype(float)
    income = rng.normal(50_000, 15_000, rows)
    age[rng.random(rows) < 0.05] = np.nan
    city = rng.choice(["Lyon", "Oslo", "Porto"], rows)
    signal_ = (np.nan_to_num(age, nan=40) - 40) / 15 - (income - 50_000) / 20_000
    churned = (signal_ + (city == "Oslo") + rng.normal(0, 0.7, rows) > 0.3).astype(int)
    return pd.DataFrame(
        {"customer_id": np.arange(rows), "age": age, "income": income, "city": city,
         "churned": churned}
    )  # fmt: skip


@pytest.fixture(scope="module")
def contract_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("contract")
    _people(600, 1).to_csv(folder / "people.csv", index=False)
    (folder / "prep.yaml").write_text(CONTRACT_SPEC)
    (folder / "pipeline.yaml").write_text(CONTRACT_PIPELINE)
    return folder


def _run(folder: Path, home: Path, *args: str) -> Result:
    return mw_in_process("pipeline", "run", folder / "pipeline.yaml", "--json", *args, home=home)


def test_the_contracts_pipeline_runs_as_written(contract_project: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = _run(contract_project, home, "--workers", "2")
    assert result.code == 0, result.stderr
    described = result.json()
    trained = next(s for s in described["steps"] if s["step"] == "train")["outputs"]
    labels = [r["label"] for r in trained["runs"]]
    assert labels == [
        "logistic optimizer=adam l2=0.0",
        "logistic optimizer=adam l2=0.01",
        "logistic optimizer=sgd l2=0.0",
        "logistic optimizer=sgd l2=0.01",
        "sklearn.ensemble.RandomForestClassifier n_estimators=100",
        "sklearn.ensemble.RandomForestClassifier n_estimators=300",
    ]
    assert trained["failed"] == 0
    assert trained["value"] == max(r["metrics"]["f1"] for r in trained["runs"])
    prep = next(s for s in described["steps"] if s["step"] == "transform")["outputs"]
    shown = mw_in_process("data", "show", prep["dataset"], "--json", home=home).json()
    columns = {c["name"] for c in shown["schema"]}
    assert {"city_Lyon", "city_Oslo", "city_Porto"} <= columns and "customer_id" not in columns
    assert described["status"] == "succeeded"


def test_candidates_on_a_real_dask_cluster_equal_the_local_ones(
    contract_project: Path, tmp_path: Path
) -> None:
    local = _run(contract_project, tmp_path / "local", "--workers", "2")
    assert local.code == 0, local.stderr
    home = tmp_path / "clustered"
    with dask_cluster(workers=2, env={"MODELWARD_HOME": str(home)}) as cluster:
        clustered = _run(contract_project, home, "--cluster", cluster.address)
    assert clustered.code == 0, clustered.stderr

    def metrics(result: Result) -> dict[str, dict[str, float]]:
        train = next(s for s in result.json()["steps"] if s["step"] == "train")["outputs"]
        return {r["label"]: r["metrics"] for r in train["runs"]}

    on_cluster, here = metrics(clustered), metrics(local)
    assert list(on_cluster) == list(here)
    for label, values in here.items():
        assert on_cluster[label] == pytest.approx(values), label
    closed = mw_in_process(
        "pipeline", "run", contract_project / "pipeline.yaml", "--cluster",
        "tcp://127.0.0.1:9", home=tmp_path / "nowhere",
    )  # fmt: skip
    assert closed.code == 1 and "cannot reach the Dask scheduler" in closed.stderr


@pytest.fixture
def slow_project(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "slow"
    folder.mkdir()
    _people(3000, 2).to_csv(folder / "people.csv", index=False)
    (folder / "prep.yaml").write_text(CONTRACT_SPEC)
    slow = CONTRACT_PIPELINE.replace(
        "n_estimators: [100, 300]", "n_estimators: [3000, 3001]"
    )  # long enough to be killed while training
    (folder / "pipeline.yaml").write_text(slow)
    yield folder


@pytest.mark.timeout(240)
def test_a_run_killed_while_training_is_resumed_from_its_finished_steps(
    slow_project: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    env = {**os.environ, "MODELWARD_HOME": str(home)}
    command = [sys.executable, "-m", "modelward", "pipeline", "run", "pipeline.yaml", "--json"]
    process = subprocess.Popen(command, cwd=slow_project, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            shown = mw_in_process("pipeline", "show", slow_project / "pipeline.yaml", "--json",
                                  home=home)  # fmt: skip
            steps = [s for s in shown.json()["steps"] if s["cached"]] if shown.code == 0 else []
            if [s["step"] for s in steps] == ["data", "holdout", "transform"]:
                break
            time.sleep(0.3)
        else:
            raise AssertionError("the pipeline never got to its train step")
        family = [process.pid, *(c.pid for c in psutil.Process(process.pid).children(True))]
        for pid in family:  # the pipeline and its worker processes, as a crash would
            with contextlib.suppress(ProcessLookupError):  # a helper that ended meanwhile
                os.kill(pid, signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    shown = mw_in_process("pipeline", "show", slow_project / "pipeline.yaml", "--json", home=home)
    killed = shown.json()["runs"][0]
    assert killed["status"] == "failed" and "interrupted" in (killed["error"] or "")
    models = mw_in_process("models", "list", "--json", home=home).json()
    assert models == []  # nothing registered by the killed run

    quick = (slow_project / "pipeline.yaml").read_text().replace("[3000, 3001]", "[10, 20]")
    (slow_project / "pipeline.yaml").write_text(quick)
    resumed = _run(slow_project, home)
    assert resumed.code == 0, resumed.stderr
    statuses = {s["step"]: s["status"] for s in resumed.json()["steps"]}
    assert statuses == {"data": "cached", "holdout": "cached", "transform": "cached",
                        "train": "ran", "register": "ran", "promote": "ran"}  # fmt: skip
