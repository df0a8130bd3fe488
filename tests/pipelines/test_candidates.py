"""A train step's candidates on real worker processes and on a real Dask cluster.

The reference is the same candidates trained one after another in this process:
every candidate's held-out metrics must be the same wherever it trained, and every
run is in the store with the pipeline's tags, as `mw runs list --json` shows it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelward.config import load_settings
from modelward.errors import InvalidInput, ModelwardError
from modelward.pipelines.candidates import (
    Candidate,
    CandidateOutcome,
    InProcessExecutor,
    TrainingJob,
    executor_for,
)
from modelward.pipelines.dask_cluster import DaskExecutor
from modelward.pipelines.local_workers import LocalExecutor
from modelward.store.workspace import open_workspace
from tests.cluster import dask_cluster, dask_cluster_address, free_port  # noqa: F401
from tests.helpers import mw_in_process
from tests.pipelines.dying_task import DYING_CANDIDATE, die_while_training

FOREST = "sklearn.ensemble.RandomForestClassifier"
GOOD = [
    Candidate(1, "logistic", "adam", {"l2": 0.0}),
    Candidate(2, FOREST, None, {"n_estimators": 40, "max_depth": 6}),
    Candidate(3, "logistic", "sgd", {"l2": 0.01}),
    Candidate(4, FOREST, None, {"n_estimators": 20, "min_samples_leaf": 3}),
]
# scikit-learn accepts each parameter alone; fit refuses the pair
FAILING = Candidate(5, FOREST, None, {"max_samples": 0.5, "bootstrap": False})


def _people(n: int = 1500, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(n, 6)), columns=[f"x{i}" for i in range(6)])
    score = frame["x0"] - 0.8 * frame["x1"] + 0.5 * frame["x2"] * frame["x3"]
    frame["churned"] = (score + rng.normal(0, 0.7, size=n) > 0).astype(int)
    return frame


@pytest.fixture
def data(home: Path) -> str:
    """A pinned dataset version in a fresh home."""
    from modelward.data.catalog import DatasetCatalog

    version, _ = DatasetCatalog(open_workspace()).add_frame(_people(), name="people")
    return str(version.ref)


def _jobs(data: str, candidates: Sequence[Candidate], pipeline: str) -> list[TrainingJob]:
    return [
        TrainingJob(
            settings=load_settings(),
            data=data,
            target="churned",
            experiment="churn",
            candidate=candidate,
            seed=7,
            tags={"pipeline.run": pipeline, "pipeline.candidate": str(candidate.number)},
        )
        for candidate in candidates
    ]


def _runs(home: Path, pipeline: str) -> dict[str, dict[str, Any]]:
    """The runs of one pipeline run as `mw runs list --json` shows them, by candidate."""
    result = mw_in_process(
        "runs", "list", "--filter", f"tags.pipeline.run = '{pipeline}'", "--json", home=home
    )
    assert result.code == 0, result.stderr
    return {run["tags"]["pipeline.candidate"]: run for run in result.json()}


def _same_metrics(got: Sequence[CandidateOutcome], want: Sequence[CandidateOutcome]) -> None:
    assert [o.candidate for o in got] == [o.candidate for o in want]
    for found, expected in zip(got, want, strict=True):
        assert found.error is None, found.error
        assert found.metrics.keys() == expected.metrics.keys()
        for key, value in expected.metrics.items():
            assert found.metrics[key] == pytest.approx(value, rel=1e-9, abs=1e-12), (
                found.candidate.label(),
                key,
            )


@pytest.fixture
def sequential(data: str) -> list[CandidateOutcome]:
    """The reference: every good candidate trained here, one after another."""
    outcomes = InProcessExecutor().run(_jobs(data, GOOD, "sequential"))
    assert all(o.ok for o in outcomes), [o.error for o in outcomes]
    assert len({o.metrics["f1"] for o in outcomes}) == len(GOOD)  # four different models
    return outcomes


def test_candidate_label_names_the_model_optimizer_and_params() -> None:
    assert GOOD[0].label() == "logistic optimizer=adam l2=0.0"
    assert FAILING.label() == f"{FOREST} max_samples=0.5 bootstrap=false"


def test_local_workers_train_what_sequential_training_trains(
    home: Path, data: str, sequential: list[CandidateOutcome]
) -> None:
    finished: list[int] = []
    executor = executor_for(None, workers=2)
    assert executor.workers == 2
    outcomes = executor.run(
        _jobs(data, GOOD, "local"), on_done=lambda o: finished.append(o.candidate.number)
    )

    _same_metrics(outcomes, sequential)
    assert sorted(finished) == [1, 2, 3, 4]
    runs = _runs(home, "local")
    assert sorted(runs) == ["1", "2", "3", "4"]
    for outcome in outcomes:
        run = runs[str(outcome.candidate.number)]
        assert run["id"] == outcome.run_id
        assert run["status"] == "finished"
        assert run["experiment"] == "churn"
        assert run["metrics"]["f1"] == pytest.approx(outcome.metrics["f1"])


def test_a_failing_fit_fails_its_run_and_the_others_finish(home: Path, data: str) -> None:
    outcomes = executor_for(None, workers=2).run(
        _jobs(data, [GOOD[0], FAILING, GOOD[3]], "failing")
    )

    failed = outcomes[1]
    assert failed.candidate == FAILING and failed.metrics == {}
    assert failed.error is not None and "max_sample" in failed.error and "\n" not in failed.error
    assert [o.ok for o in outcomes] == [True, False, True]
    runs = _runs(home, "failing")
    assert runs["5"]["id"] == failed.run_id
    assert runs["5"]["status"] == "failed"
    assert "max_sample" in runs["5"]["error"]
    assert runs["1"]["status"] == runs["4"]["status"] == "finished"


def test_a_worker_that_dies_fails_its_candidate_and_a_new_worker_goes_on(
    home: Path, data: str
) -> None:
    executor = LocalExecutor(2, task=die_while_training)
    started = time.perf_counter()
    outcomes = executor.run(_jobs(data, GOOD, "dying"))
    assert time.perf_counter() - started < 120

    dead = outcomes[DYING_CANDIDATE - 1]
    assert dead.error == "its worker process died of SIGKILL (killed: out of memory?)"
    assert [o.ok for o in outcomes] == [True, False, True, True]  # 4 ran after 2 died
    runs = _runs(home, "dying")  # the tags were written for the dead worker
    assert runs[str(DYING_CANDIDATE)]["id"] == dead.run_id
    assert runs[str(DYING_CANDIDATE)]["status"] == "failed"
    assert runs[str(DYING_CANDIDATE)]["error"] == dead.error
    assert {runs[n]["status"] for n in ("1", "3", "4")} == {"finished"}


def test_a_dask_cluster_trains_what_sequential_training_trains(
    home: Path,
    data: str,
    sequential: list[CandidateOutcome],
    dask_cluster_address: str,  # noqa: F811
) -> None:
    executor = executor_for(dask_cluster_address)
    assert executor.workers == 2  # two single-threaded workers
    finished: list[int] = []
    outcomes = executor.run(
        _jobs(data, [*GOOD, FAILING], "dask"),
        on_done=lambda o: finished.append(o.candidate.number),
    )

    _same_metrics(outcomes[:4], sequential)
    assert sorted(finished) == [1, 2, 3, 4, 5]
    failed = outcomes[4]
    assert failed.error is not None and "max_sample" in failed.error
    runs = _runs(home, "dask")
    assert sorted(runs) == ["1", "2", "3", "4", "5"]
    assert [runs[str(n)]["status"] for n in range(1, 6)] == ["finished"] * 4 + ["failed"]
    assert {runs[str(o.candidate.number)]["id"] for o in outcomes} == {o.run_id for o in outcomes}


def test_a_dask_worker_that_dies_fails_its_candidate_only(home: Path, data: str) -> None:
    with dask_cluster(workers=2) as cluster:
        executor = DaskExecutor(cluster.address, task=die_while_training)
        outcomes = executor.run(_jobs(data, GOOD, "dask-dying"))

    dead = outcomes[DYING_CANDIDATE - 1]
    assert dead.error is not None and "Dask worker running it died" in dead.error
    assert [o.ok for o in outcomes] == [True, False, True, True]
    runs = _runs(home, "dask-dying")
    assert runs[str(DYING_CANDIDATE)]["status"] == "failed"
    assert runs[str(DYING_CANDIDATE)]["error"] == dead.error


def test_an_unreachable_cluster_fails_fast_in_one_line(home: Path) -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    started = time.perf_counter()
    with pytest.raises(ModelwardError) as raised:
        executor_for(address)
    assert time.perf_counter() - started < 10
    message = str(raised.value)
    assert message.startswith(f"cannot reach the Dask scheduler at {address} within 5 s")
    assert "\n" not in message


@pytest.mark.parametrize("address", ["127.0.0.1:8786", "http://127.0.0.1:8786", "tcp://host"])
def test_a_cluster_address_that_is_not_one_is_bad_input(address: str) -> None:
    with pytest.raises(InvalidInput, match="is not a Dask scheduler address"):
        executor_for(address)
