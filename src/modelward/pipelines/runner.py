"""Running a pipeline: each step keyed by a digest of its inputs, reused when cached,
recorded as it goes.

    spec = load_pipeline("pipeline.yaml")
    outcome = run_pipeline(open_workspace(), spec, progress=print)
    outcome.run.status        # succeeded | failed | refused

A step's key digests what it reads: the data's content (a file's sha256 through
the stat cache, a version's digest), the spec, params and candidates, the
modelward version, and the key of the step before it. A key recorded as ran
before, whose outputs still exist, is not run again (`force` reruns all). The
data steps that query a source (`import_sql`, `feedback`) run every time, and
their key is the digest of what they read, so the steps after them are cached
when the rows did not change.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from modelward.errors import GateFailed, InvalidInput, ModelwardError, NotFound
from modelward.pipelines.spec import PipelineSpec, canonical_digest
from modelward.store.workspace import Workspace
from modelward.version import __version__

Progress = Callable[[str], None]
log = logging.getLogger("modelward.pipelines")

RAN, CACHED, FAILED, REFUSED = "ran", "cached", "failed", "refused"
# the data kinds whose rows are only known by reading them
_QUERIED = ("import_sql", "feedback")


def _quiet(_text: str) -> None:
    return None


@dataclass(frozen=True)
class PlannedStep:
    """A step as `mw pipeline show` describes it before running anything."""

    name: str
    key: str | None  # None: only known once the steps before it ran
    cached: bool
    outputs: Mapping[str, Any] = field(default_factory=dict)
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description."""
        return {
            "step": self.name,
            "key": self.key,
            "cached": self.cached,
            "outputs": dict(self.outputs),
            "note": self.note,
        }


@dataclass
class _Context:
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


def step_key(name: str, upstream: str | None, config: Mapping[str, Any]) -> str:
    """The cache key of a step: its configuration, the step before it, modelward's version."""
    return canonical_digest(
        {"step": name, "upstream": upstream, "config": dict(config), "modelward": __version__}
    )


def _upstream(spec: PipelineSpec, name: str) -> str | None:
    steps = spec.steps
    position = steps.index(name)
    return steps[position - 1] if position else None


# -- keys that are known before running ---------------------------------------
def _static_key(
    ctx_keys: Mapping[str, str], spec: PipelineSpec, name: str, workspace: Workspace
) -> str | None:
    """The key of step `name` from the pipeline and the keys before it (None when it
    depends on what a querying data step will read)."""
    upstream_step = _upstream(spec, name)
    upstream = ctx_keys.get(upstream_step) if upstream_step else None
    if upstream_step is not None and upstream is None:
        return None
    if name == "data":
        if spec.data.kind in _QUERIED:
            return None
        return step_key("data", None, _data_identity(workspace, spec))
    if name == "holdout":
        assert spec.train is not None
        config = {
            "fraction": spec.holdout,
            "seed": spec.train.seed,
            "target": spec.train.target,
            "names": _split_names(spec),
        }
        return step_key(name, upstream, config)
    if name == "transform":
        assert spec.transform is not None
        config = {"spec": spec.transform.spec_digest, "name": spec.transform.name}
        return step_key(name, upstream, config)
    if name == "train":
        assert spec.train is not None
        return step_key(name, upstream, spec.train.describe())
    if name == "register":
        return step_key(name, upstream, {"model": spec.register})
    assert spec.promote is not None
    config = {
        "alias": spec.promote.alias,
        "require": spec.promote.require,
        "holdout": ctx_keys.get("holdout"),
    }
    return step_key(name, upstream, config)


def _data_identity(workspace: Workspace, spec: PipelineSpec) -> dict[str, Any]:
    """What the data step's rows are, without reading them: a file's content digest (from
    the stat cache when the file did not change) or the version a reference names."""
    data = spec.data
    if data.kind == "add":
        from modelward.pipelines.file_digests import file_digest

        assert data.path is not None
        cache = workspace.settings.home / "cache" / "file-digests.json"
        return {"kind": "add", "name": data.name, "content": file_digest(data.path, cache)}
    version = _dataset(workspace, data.ref or data.name)
    return {"kind": "use", "version": version.ref, "content": version.digest}


def _dataset(workspace: Workspace, ref: str) -> Any:
    """A dataset version's record (the store's, without the catalog's data readers)."""
    from modelward.data.ports import dataset_store
    from modelward.refs import Ref

    return dataset_store(workspace).get(Ref.parse(ref))


def _split_names(spec: PipelineSpec) -> tuple[str, str]:
    return f"{spec.name}-fit", f"{spec.name}-holdout"


# -- whether recorded outputs can be reused -----------------------------------
def _still_there(workspace: Workspace, name: str, outputs: Mapping[str, Any]) -> bool:
    """Whether what a recorded step produced still exists (else it runs again)."""
    from modelward.registry.ports import model_registry
    from modelward.tracking.ports import run_store

    try:
        if name in ("data", "transform"):
            _dataset(workspace, outputs["dataset"])
        elif name == "holdout":
            _dataset(workspace, outputs["fit"])
            _dataset(workspace, outputs["holdout"])
        elif name == "train":
            run_store(workspace).get(outputs["best"])
        elif name == "register":
            model_registry(workspace).get(outputs["model"])
        elif name == "promote":
            # the decision stands only while the alias still names what it promoted
            model, alias = str(outputs["candidate"]).partition("@")[0], outputs["alias"]
            return bool(model_registry(workspace).get(f"{model}@{alias}").version == outputs["to"])
    except (NotFound, KeyError, TypeError):
        return False
    return True


# -- the steps ------------------------------------------------------------------
def _run_data(ctx: _Context) -> dict[str, Any]:
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


def _run_holdout(ctx: _Context) -> dict[str, Any]:
    from modelward.data.catalog import DatasetCatalog

    spec = ctx.spec
    assert spec.train is not None
    fit, held = DatasetCatalog(ctx.workspace).split(
        ctx.outputs["data"]["dataset"],
        fraction=spec.holdout,
        names=_split_names(spec),
        seed=spec.train.seed,
        stratify=spec.train.target,
        progress=lambda text: ctx.say("holdout", text),
    )
    return {"fit": fit.ref, "holdout": held.ref, "rows": [fit.n_rows, held.n_rows]}


def _rows_to_transform(ctx: _Context) -> str:
    if "holdout" in ctx.outputs:
        return str(ctx.outputs["holdout"]["fit"])
    return str(ctx.outputs["data"]["dataset"])


def _run_transform(ctx: _Context) -> dict[str, Any]:
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


def _run_train(ctx: _Context) -> dict[str, Any]:
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


def _run_register(ctx: _Context) -> dict[str, Any]:
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


def _run_promote(ctx: _Context) -> dict[str, Any]:
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


_STEPS: dict[str, Callable[[_Context], dict[str, Any]]] = {
    "data": _run_data,
    "holdout": _run_holdout,
    "transform": _run_transform,
    "train": _run_train,
    "register": _run_register,
    "promote": _run_promote,
}


# -- the run ----------------------------------------------------------------------
@dataclass(frozen=True)
class PipelineOutcome:
    """A finished pipeline run, as recorded, and the error that ended it (if any)."""

    run: Any  # pipelines.history.PipelineRun
    error: ModelwardError | None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description: every step's key, status and outputs."""
        run = self.run
        return {
            "pipeline": run.pipeline,
            "run_id": run.id,
            "status": run.status,
            "trigger": run.trigger,
            "started_by": run.started_by,
            "error": run.error,
            "steps": [
                {
                    "step": step.name,
                    "key": step.key,
                    "status": step.status,
                    "outputs": dict(step.outputs),
                    "seconds": round(step.seconds, 3),
                    "error": step.error,
                }
                for step in run.steps
            ],
        }


def run_pipeline(
    workspace: Workspace,
    spec: PipelineSpec,
    *,
    force: bool = False,
    trigger: str = "manual",
    cluster: str | None = None,
    workers: int | None = None,
    progress: Progress = _quiet,
    started_by: str | None = None,
    executor: Any = None,
) -> PipelineOutcome:
    """Run the steps of `spec` in order, reusing cached ones; recorded in the history.

    A step that fails ends the run (status failed, or refused when the gate said no);
    what earlier steps made stays, so the next run resumes from them. `executor` trains
    the candidates (default: `candidates.executor_for(cluster, workers)`, made as the
    run starts when the train step is not cached, so local workers boot meanwhile).
    """
    from modelward.identity import current_user
    from modelward.pipelines.history import StepRecord
    from modelward.pipelines.ports import pipeline_history

    history = pipeline_history(workspace)
    record = history.start(
        pipeline=spec.name,
        path=str(spec.path),
        spec_digest=spec.digest,
        trigger=trigger,
        started_by=started_by or current_user(),
    )
    ctx = _Context(workspace, spec, progress, record.id, trigger, cluster, workers)
    ctx.executor = executor
    error: ModelwardError | None = None
    status = "succeeded"
    for name in spec.steps:
        started = time.perf_counter()
        key = _static_key(ctx.keys, spec, name, workspace)
        cached = None if force or key is None else history.cached_step(name, key)
        if key is not None and cached is not None and _still_there(workspace, name, cached.outputs):
            ctx.keys[name], ctx.outputs[name] = key, dict(cached.outputs)
            history.record_step(
                record.id,
                StepRecord(name, key, CACHED, dict(cached.outputs), time.perf_counter() - started),
            )
            ctx.say(name, f"cached ({_summary(name, cached.outputs)})")
            continue
        if ctx.executor is None and spec.train is not None and "train" not in ctx.keys:
            # a step must run and training may follow: local workers boot meanwhile
            from modelward.pipelines.candidates import executor_for

            ctx.executor = executor_for(cluster, workers)
        ctx.partial = {}
        try:
            outputs = _STEPS[name](ctx)
        except Exception as exc:  # recorded as the step's failure, then reported
            if isinstance(exc, ModelwardError):
                error = exc
            else:
                log.exception("pipeline %s: step %s failed", spec.name, name)
                error = ModelwardError(f"step {name} failed: {type(exc).__name__}: {exc}")
            refused = isinstance(exc, GateFailed)
            status = "refused" if refused else "failed"
            made = dict(ctx.partial)
            history.record_step(
                record.id,
                StepRecord(
                    name,
                    key or step_key(name, ctx.keys.get(_upstream(spec, name) or ""), {}),
                    REFUSED if refused else FAILED,
                    made,
                    time.perf_counter() - started,
                    error.message[:2000],
                ),
            )
            ctx.say(name, f"{'refused' if refused else 'failed'}: {error.message}")
            break
        if key is None:  # a querying data step: keyed by what it read
            key = step_key(
                name,
                None,
                {
                    "kind": spec.data.kind,
                    "name": spec.data.name,
                    "content": _dataset_digest(workspace, outputs),
                },
            )
        ctx.keys[name], ctx.outputs[name] = key, outputs
        history.record_step(
            record.id, StepRecord(name, key, RAN, outputs, time.perf_counter() - started)
        )
        ctx.say(name, f"ran ({_summary(name, outputs)})")
    if executor is None and hasattr(ctx.executor, "close"):
        ctx.executor.close()  # made here (a Dask client): not left connected
    finished = history.finish(record.id, status, error.message[:2000] if error else None)
    return PipelineOutcome(finished, error)


def _dataset_digest(workspace: Workspace, outputs: Mapping[str, Any]) -> str:
    return str(_dataset(workspace, str(outputs["dataset"])).digest)


def _summary(name: str, outputs: Mapping[str, Any]) -> str:
    if name in ("data", "transform"):
        return str(outputs.get("dataset"))
    if name == "holdout":
        return f"{outputs.get('fit')} and {outputs.get('holdout')}"
    if name == "train":
        return (
            f"best {outputs.get('best_candidate')}: {outputs.get('select')} {outputs.get('value')}"
        )
    if name == "register":
        return str(outputs.get("model"))
    if outputs.get("promoted"):
        return f"{outputs.get('alias')} -> version {outputs.get('to')}"
    if outputs.get("to") is not None:
        return f"{outputs.get('alias')} stays at version {outputs.get('to')}"
    return "not promoted"


def plan_pipeline(workspace: Workspace, spec: PipelineSpec) -> list[PlannedStep]:
    """Each step's key and whether it is cached, without running anything."""
    from modelward.pipelines.ports import pipeline_history

    history = pipeline_history(workspace)
    keys: dict[str, str] = {}
    planned: list[PlannedStep] = []
    for name in spec.steps:
        key = _static_key(keys, spec, name, workspace)
        if key is None:
            note = (
                "runs every time: its key is the digest of the rows it reads"
                if name == "data"
                else "known once the steps before it ran"
            )
            planned.append(PlannedStep(name, None, False, note=note))
            continue
        found = history.cached_step(name, key)
        if found is not None and _still_there(workspace, name, found.outputs):
            keys[name] = key
            planned.append(PlannedStep(name, key, True, found.outputs))
        else:
            keys[name] = key
            planned.append(PlannedStep(name, key, False, note="will run"))
    return planned
