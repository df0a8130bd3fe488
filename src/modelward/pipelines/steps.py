"""The steps of a pipeline run: data, holdout, transform, train, register, promote.

Each takes the run's `StepContext` (the outputs of the steps before it) and returns
its own outputs (JSON-able), or raises: GateFailed when the gate refuses, another
ModelwardError when the work failed. What a failing step made goes in
`ctx.partial`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from modelward.errors import GateFailed, InvalidInput, ModelwardError, NotFound
from modelward.pipelines.keys import split_names
from modelward.pipelines.spec import PipelineSpec
from modelward.store.workspace import Workspace

Progress = Callable[[str], None]


@dataclass
class StepContext:
    """What the steps of one pipeline run pass along."""

    workspace: Workspace
    spec: PipelineSpec
    progress: Progress
    run_id: str
    trigger: str
    cluster: str | None
    workers: int | None
    keys: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    partial: dict[str, Any] = field(default_factory=dict)  # what a failing step made
    executor: Any = None  # candidates.Executor, made when the run starts if it trains

    def say(self, step: str, text: str) -> None:
        number = self.spec.steps.index(step) + 1
        self.progress(f"[{number}/{len(self.spec.steps)}] {step}: {text}")


def _run_data(ctx: StepContext) -> dict[str, Any]:
    from modelward.data.catalog import DatasetCatalog

    data, catalog = ctx.spec.data, DatasetCatalog(ctx.workspace)

    def say(text: str) -> None:
        ctx.say("data", text)

    if data.kind == "add":
        assert data.path is not None
        version, created = catalog.add_file(data.path, data.name, progress=say)
    elif data.kind == "use":
        version, created = catalog.get(data.ref or data.name), False
    elif data.kind == "import_sql":
        assert data.url is not None and data.query is not None
        version, created = catalog.import_sql(data.url, data.query, data.name, progress=say)
    else:
        from modelward.pipelines.feedback_rows import feedback_frame

        assert data.model is not None and data.window_seconds is not None
        assert ctx.spec.train is not None
        say(f"reading the prediction log of {data.model} and its labels")
        frame = feedback_frame(
            ctx.workspace, data.model, data.window_seconds, ctx.spec.train.target
        )
        source = {"kind": "feedback", "model": data.model, "window_seconds": data.window_seconds}
        version, created = catalog.add_frame(frame, data.name, source=source, progress=say)
    return {"dataset": version.ref, "rows": version.n_rows, "new": created}


def _run_holdout(ctx: StepContext) -> dict[str, Any]:
    from modelward.data.catalog import DatasetCatalog

    spec = ctx.spec
    assert spec.train is not None
    fit, held = DatasetCatalog(ctx.workspace).split(
        ctx.outputs["data"]["dataset"],
        fraction=spec.holdout,
        names=split_names(spec),
        seed=spec.train.seed,
        stratify=spec.train.target,
        progress=lambda text: ctx.say("holdout", text),
    )
    return {"fit": fit.ref, "holdout": held.ref, "rows": [fit.n_rows, held.n_rows]}


def _rows_to_transform(ctx: StepContext) -> str:
    if "holdout" in ctx.outputs:
        return str(ctx.outputs["holdout"]["fit"])
    return str(ctx.outputs["data"]["dataset"])


def _run_transform(ctx: StepContext) -> dict[str, Any]:
    from modelward.data.catalog import DatasetCatalog

    transform = ctx.spec.transform
    assert transform is not None
    version, created = DatasetCatalog(ctx.workspace).transform(
        _rows_to_transform(ctx),
        transform.spec_path,
        transform.name,
        progress=lambda text: ctx.say("transform", text),
    )
    return {"dataset": version.ref, "rows": version.n_rows, "new": created}


def _run_train(ctx: StepContext) -> dict[str, Any]:
    from modelward.pipelines.candidates import CandidateOutcome, TrainingJob, executor_for

    train = ctx.spec.train
    assert train is not None
    rows = (
        str(ctx.outputs["transform"]["dataset"])
        if "transform" in ctx.outputs
        else _rows_to_transform(ctx)
    )
    jobs = [
        TrainingJob(
            settings=ctx.workspace.settings,
            data=rows,
            target=train.target,
            experiment=train.experiment,
            candidate=candidate,
            seed=train.seed,
            test_size=train.test_size,
            tags={
                "pipeline": ctx.spec.name,
                "pipeline.run": ctx.run_id,
                "pipeline.candidate": str(candidate.number),
            },
        )
        for candidate in train.candidates
    ]
    executor = ctx.executor or executor_for(ctx.cluster, ctx.workers)
    total = len(jobs)
    where = ctx.cluster or f"{executor.workers} local worker process(es)"
    ctx.say("train", f"{total} candidate(s) on {rows}, on {where}")
    finished = 0

    def done(outcome: CandidateOutcome) -> None:
        nonlocal finished
        finished += 1
        value = outcome.metrics.get(train.select_metric)
        result = (
            f"failed: {outcome.error}"
            if outcome.error
            else f"{train.select_metric} {value:.4g}"
            if value is not None
            else "done"
        )
        ctx.say(
            "train",
            f"candidate {outcome.candidate.number} ({outcome.candidate.label()}): {result}; "
            f"{finished}/{total} done, {total - finished} left",
        )

    outcomes = executor.run(jobs, on_done=done)
    described = [
        {
            "candidate": outcome.candidate.number,
            "label": outcome.candidate.label(),
            "run_id": outcome.run_id,
            "metrics": outcome.metrics,
            "error": outcome.error,
            "seconds": round(outcome.seconds, 3),
        }
        for outcome in outcomes
    ]
    scored = [
        outcome
        for outcome in outcomes
        if outcome.error is None
        and outcome.run_id is not None
        and isinstance(outcome.metrics.get(train.select_metric), int | float)
    ]
    if not scored:
        failures = [o.error for o in outcomes if o.error]
        reason = (
            f"every candidate failed; the first: {failures[0]}"
            if len(failures) == len(outcomes)
            else f"no candidate recorded the metric {train.select_metric!r} to select by"
        )
        ctx.partial.update(runs=described)
        raise ModelwardError(reason)
    sign = -1.0 if train.highest_first else 1.0
    # ties go to the earlier candidate, so a rerun selects the same one
    best = min(
        scored, key=lambda o: (sign * float(o.metrics[train.select_metric]), o.candidate.number)
    )
    return {
        "runs": described,
        "best": best.run_id,
        "best_candidate": best.candidate.label(),
        "select": train.select_metric,
        "value": best.metrics[train.select_metric],
        "failed": sum(1 for o in outcomes if o.error),
    }


def _run_register(ctx: StepContext) -> dict[str, Any]:
    from modelward.registry.ports import model_registry

    assert ctx.spec.register is not None
    best = str(ctx.outputs["train"]["best"])
    version = model_registry(ctx.workspace).register_run(
        best,
        ctx.spec.register,
        description=f"pipeline {ctx.spec.name}, run {ctx.run_id[:8]}",
        tags={"pipeline": ctx.spec.name, "pipeline.run": ctx.run_id},
    )
    ctx.say("register", f"registered {version.ref} from run {best[:8]}")
    return {"model": version.ref, "version": version.version, "run": best}


def _run_promote(ctx: StepContext) -> dict[str, Any]:
    from modelward.evaluation.evaluate import evaluate_run_model
    from modelward.registry.ports import model_registry

    promote = ctx.spec.promote
    assert promote is not None and ctx.spec.register is not None
    registry = model_registry(ctx.workspace)
    name = ctx.spec.register
    challenger = registry.get(str(ctx.outputs["register"]["model"]))
    try:
        champion = registry.get(f"{name}@{promote.alias}")
    except NotFound:
        champion = None
    if champion is not None and champion.version == challenger.version:
        ctx.say("promote", f"{champion.ref} already is {name}@{promote.alias}")
        return {"alias": promote.alias, "candidate": challenger.ref, "promoted": False,
                "from": champion.version, "to": champion.version, "checks": []}  # fmt: skip
    evaluated_on = None
    evaluations: dict[str, Any] = {}
    if promote.require and "holdout" in ctx.outputs:
        evaluated_on = str(ctx.outputs["holdout"]["holdout"])
        judged = [challenger] + (
            [champion] if champion is not None and champion.version != challenger.version else []
        )
        for version in judged:
            if version.run_id is None:
                continue  # the gate says it has nothing to judge it by
            ctx.say("promote", f"evaluating {version.ref} on {evaluated_on}")
            try:
                record = evaluate_run_model(
                    ctx.workspace, version.run_id, evaluated_on, model_ref=version.ref
                )
            except InvalidInput as exc:
                ctx.partial.update(alias=promote.alias, evaluations=evaluations)
                raise GateFailed(
                    f"{version.ref} cannot be evaluated on {evaluated_on}: {exc.message}"
                ) from None
            evaluations[version.ref] = record.metrics
    reason = f"pipeline {ctx.spec.name} (run {ctx.run_id[:8]})"
    if ctx.trigger != "manual":
        reason += f", started by {ctx.trigger}"
    described: dict[str, Any] = {
        "alias": promote.alias,
        "candidate": challenger.ref,
        "champion": champion.ref if champion is not None else None,
        "require": promote.require,
        "evaluated_on": evaluated_on,
        "evaluations": evaluations,
    }
    try:
        previous, current, checks = registry.set_alias(
            name,
            challenger.version,
            promote.alias,
            require=promote.require,
            reason=reason,
            evaluated_on=evaluated_on,
        )
    except GateFailed:
        ctx.partial.update(described)
        raise
    described.update(
        {
            "promoted": True,
            "from": previous.version if previous is not None else None,
            "to": current.version,
            "checks": [check.to_dict() for check in checks],
        }
    )
    ctx.say("promote", f"{name}@{promote.alias} -> version {current.version}")
    return described


STEPS: dict[str, Callable[[StepContext], dict[str, Any]]] = {
    "data": _run_data,
    "holdout": _run_holdout,
    "transform": _run_transform,
    "train": _run_train,
    "register": _run_register,
    "promote": _run_promote,
}
