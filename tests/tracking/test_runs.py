"""Runs through the Python API on SQLite and PostgreSQL: logging, status, search."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

import modelward as mw
from modelward.errors import InvalidInput, NotFound


def test_a_run_records_everything(backend_home: Path, tmp_path: Path) -> None:
    data = mw.data.add(pd.DataFrame({"x": [1, 2, 3]}), name="train-set")
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "a.txt").write_text("a")
    with mw.start_run(experiment="churn", name="first", tags={"team": "risk"}, seed=11) as run:
        run.log_params({"C": 1.0, "optimizer": "adam"})
        for step in range(5):
            run.log_metric("loss", 1.0 / (step + 1), step=step)
        run.log_metric("f1", 0.91)
        run.set_tag("stage", "dev")
        run.log_input(data, role="train")
        run.log_artifact(tmp_path / "notes.txt")
        run.log_artifact(tmp_path / "plots")
    stored = mw.tracking.get_run(run.id[:10])
    assert stored.status == "finished" and stored.end_time is not None
    assert stored.experiment == "churn" and stored.name == "first" and stored.seed == 11
    assert stored.params == {"C": "1.0", "optimizer": "adam"}
    assert stored.tags == {"team": "risk", "stage": "dev"}
    assert stored.metrics == {"loss": pytest.approx(0.2), "f1": pytest.approx(0.91)}
    assert [i.ref for i in stored.inputs] == ["train-set@1"]
    assert {a.path for a in stored.artifacts} == {"notes.txt", "plots/a.txt"}
    assert stored.environment is not None and stored.environment["packages"]["numpy"]
    history = mw.tracking.metric_history(run.id, "loss")
    assert [(p.step, p.value) for p in history] == [(s, 1.0 / (s + 1)) for s in range(5)]


def test_the_latest_metric_is_the_highest_step(backend_home: Path) -> None:
    with mw.start_run() as run:
        run.log_metric("acc", 0.5, step=10)
        run.log_metric("acc", 0.9, step=3)  # logged later, but an earlier step
        run.flush()
        run.log_metric("acc", 0.7, step=4)
    assert mw.tracking.get_run(run.id).metrics["acc"] == pytest.approx(0.5)


def test_a_block_that_raises_fails_the_run_and_reraises(backend_home: Path) -> None:
    with pytest.raises(ZeroDivisionError), mw.start_run(experiment="e") as run:
        run.log_metric("before", 1.0)
        _ = 1 / 0
    stored = mw.tracking.get_run(run.id)
    assert stored.status == "failed"
    assert stored.error is not None and "ZeroDivisionError" in stored.error
    assert stored.metrics == {"before": 1.0}  # what was logged before the error is kept


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, "0.5", None, True])
def test_metric_values_must_be_finite_numbers(backend_home: Path, value: object) -> None:
    with mw.start_run() as run, pytest.raises(InvalidInput, match="metric 'm'"):
        run.log_metric("m", value)  # type: ignore[arg-type]


def test_params_cannot_change_and_keys_are_checked(backend_home: Path) -> None:
    with mw.start_run() as run:
        run.log_param("lr", 0.1)
        run.log_param("lr", 0.1)  # the same value again is fine
        with pytest.raises(InvalidInput, match="cannot change"):
            run.log_param("lr", 0.2)
        with pytest.raises(InvalidInput, match="illegal metric name"):
            run.log_metric("../x", 1.0)
    with pytest.raises(InvalidInput, match="has ended"):
        run.log_metric("late", 1.0)


def test_unknown_run_and_experiment(backend_home: Path) -> None:
    with pytest.raises(NotFound, match="unknown run"):
        mw.tracking.get_run("deadbeef")
    with pytest.raises(NotFound, match="unknown experiment"):
        mw.tracking.search_runs(experiment="nope")


@pytest.fixture
def grid(backend_home: Path) -> dict[str, str]:
    ids = {}
    for optimizer, f1, team in [
        ("adam", 0.91, "risk"),
        ("sgd", 0.85, "risk"),
        ("adam", 0.70, "fraud"),
        ("gd", 0.95, "fraud"),
    ]:
        with mw.start_run(experiment="grid", name=f"{optimizer}-{f1}", tags={"team": team}) as run:
            run.log_params({"optimizer": optimizer})
            run.log_metric("f1", f1)
        ids[f"{optimizer}-{f1}"] = run.id
    with pytest.raises(RuntimeError), mw.start_run(experiment="grid", name="broken") as run:
        raise RuntimeError("boom")
    ids["broken"] = run.id
    with mw.start_run(experiment="other", name="elsewhere") as run:
        run.log_metric("f1", 0.99)
    ids["elsewhere"] = run.id
    return ids


def _names(filter: str | None = None, **kwargs: object) -> list[str]:
    return [r.name for r in mw.tracking.search_runs(filter, **kwargs)]  # type: ignore[arg-type]


def test_search_filters(grid: dict[str, str]) -> None:
    both = "metrics.f1 > 0.8 and params.optimizer = 'adam'"
    assert _names(both) == ["adam-0.91"]
    assert set(_names("metrics.f1 >= 0.9 or tags.team = 'fraud'")) == {
        "adam-0.91",
        "adam-0.7",
        "gd-0.95",
        "elsewhere",
    }
    assert set(_names("(tags.team = 'risk' or tags.team = 'fraud') and not metrics.f1 > 0.9")) == {
        "sgd-0.85",
        "adam-0.7",
    }
    assert set(_names("params.optimizer in ('gd', 'sgd')")) == {"sgd-0.85", "gd-0.95"}
    assert set(_names("name like 'adam%'")) == {"adam-0.91", "adam-0.7"}
    assert _names("status = 'failed'") == ["broken"]
    assert set(_names("metrics.f1 > 0", experiment="grid")) == {
        "adam-0.91",
        "sgd-0.85",
        "adam-0.7",
        "gd-0.95",
    }
    assert _names("start_time > '2000-01-01'", experiment="other") == ["elsewhere"]


def test_order_by_metric_descending_puts_missing_last(grid: dict[str, str]) -> None:
    ordered = _names(order_by="-metrics.f1", experiment="grid")
    assert ordered == ["gd-0.95", "adam-0.91", "sgd-0.85", "adam-0.7", "broken"]
    assert _names(order_by=["metrics.f1 asc"], experiment="grid")[0] == "adam-0.7"


def test_filter_values_are_bound_not_spliced(grid: dict[str, str]) -> None:
    assert _names("name = 'x'' or ''1''=''1'") == []
    assert len(_names()) == 6  # the table is intact


def test_search_results_are_the_runs_get_returns(grid: dict[str, str], tmp_path: Path) -> None:
    # search reads rows straight from the driver and builds Runs without __init__:
    # every field must still come out as `get` (the ordinary path) gives it
    import dataclasses

    data = mw.data.add(pd.DataFrame({"x": [1.0]}), name="seen")
    with mw.start_run(experiment="grid", name="full", seed=3) as run:
        run.log_input(data)
        run.log_params({"C": 0.5})
    for found in mw.tracking.search_runs(experiment="grid"):
        stored = mw.tracking.get_run(found.id)
        assert found == dataclasses.replace(stored, environment=None, artifacts=())
        assert found.start_time.utcoffset() is not None and found.start_time == stored.start_time
        assert set(vars(found)) == {f.name for f in dataclasses.fields(found)}
    (full,) = mw.tracking.search_runs("name = 'full'")
    assert full.seed == 3 and [i.ref for i in full.inputs] == ["seen@1"]
    assert full.git_dirty in (None, True, False)


def test_a_search_leaves_the_garbage_collector_as_it_found_it(grid: dict[str, str]) -> None:
    # the search pauses the collector while it builds its runs: never for longer
    import gc

    assert gc.isenabled()
    assert len(_names("metrics.f1 > 0")) == 5
    assert gc.isenabled()
    gc.disable()
    try:
        assert len(_names("metrics.f1 > 0")) == 5
        assert not gc.isenabled()  # the caller's choice is kept
    finally:
        gc.enable()


def test_a_large_experiment_is_searched_from_the_filter_with_the_same_answer(
    grid: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelward.tracking import repository

    queries = [
        ("metrics.f1 > 0.8", None),
        ("metrics.f1 >= 0.9 or tags.team = 'fraud'", "-metrics.f1"),
        ("not params.optimizer = 'adam'", None),
    ]
    small = [_names(text, experiment="grid", order_by=order) for text, order in queries]
    monkeypatch.setattr(repository, "_SMALL_EXPERIMENT", 0)  # every experiment is "large"
    large = [_names(text, experiment="grid", order_by=order) for text, order in queries]
    assert large == small
    assert set(small[0]) == {"adam-0.91", "sgd-0.85", "gd-0.95"}


def test_log_model_registers_through_the_registrar_the_run_was_given(home: Path) -> None:
    # tracking knows no registry: the run calls the port it was given (or the process
    # default, which `modelward/__init__.py` wires to the registry)
    from sklearn.linear_model import LinearRegression

    from modelward.store.workspace import open_workspace
    from modelward.tracking import registration
    from modelward.tracking.run import ActiveRun

    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0], "y": [1.0, 3.0, 5.0, 7.0]})
    data = mw.data.add(frame, name="line")
    model = LinearRegression().fit(frame[["x"]], frame["y"])
    calls: list[tuple[str, str]] = []

    def registrar(workspace: object, run_id: str, name: str) -> str:
        calls.append((run_id, name))
        return f"registered {name}"

    with ActiveRun(open_workspace(), registrar=registrar) as run:
        assert run.log_model(model, name="line-model", data=data) == "registered line-model"
    assert calls == [(run.id, "line-model")]
    assert mw.models.list() == []  # the given registrar was used, not the registry

    default = registration.default_registrar()
    registration.use_registrar(None)
    try:
        with ActiveRun(open_workspace()) as run, pytest.raises(InvalidInput, match="registry"):
            run.log_model(model, name="line-model", data=data)
        assert "model/model.json" not in {a.path for a in mw.tracking.get_run(run.id).artifacts}
    finally:
        registration.use_registrar(default)
    with mw.start_run() as run:  # the wired default: a real registered version
        assert run.log_model(model, name="line-model", data=data).ref == "line-model@1"
