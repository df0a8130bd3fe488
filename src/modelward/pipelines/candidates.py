"""A pipeline's train step: each candidate of the grid trained as its own tracked run,
in parallel on local worker processes or on a Dask cluster.

The runner builds one `TrainingJob` per candidate and hands them to the `Executor`
that `executor_for` picks; `train_candidate` is what a worker runs. A candidate that
fails (its fit raises, or its worker process dies) is a `CandidateOutcome` with an
`error` and a FAILED run; the other candidates go on.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from modelward.config import Settings

if TYPE_CHECKING:
    from modelward.tracking.entities import Run

MAX_ERROR_CHARS = 500


@dataclass(frozen=True)
class Candidate:
    """One combination of a train step's grid."""

    number: int  # 1-based position in the expanded grid
    model: str  # "logistic", "linear", or a scikit-learn class path
    optimizer: str | None  # gd|sgd|minibatch|adam for the built-in trainers
    params: Mapping[str, Any]  # typed values from YAML, e.g. {"l2": 0.01}

    def label(self) -> str:
        """`logistic optimizer=adam l2=0.01`: what a progress line or a report names."""
        words = [self.model]
        if self.optimizer is not None:
            words.append(f"optimizer={self.optimizer}")
        words.extend(f"{key}={_scalar(value)}" for key, value in self.params.items())
        return " ".join(words)


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _job_token() -> str:
    return uuid.uuid4().hex[:12]


@dataclass(frozen=True)
class TrainingJob:
    """Everything one worker needs to train one candidate (picklable)."""

    settings: Settings  # the caller's: the worker opens the same store
    data: str  # a pinned dataset ref, "people-prep@3"
    target: str
    experiment: str
    candidate: Candidate
    seed: int = 0
    test_size: float = 0.2
    tags: Mapping[str, str] = field(default_factory=dict)  # set on the run from its start
    # Unique per job: the run is named after it, so the caller can find (and fail) the run
    # a worker left behind when it died before answering.
    token: str = field(default_factory=_job_token)

    @property
    def run_name(self) -> str:
        """The name of the run this job starts, `candidate-3-<token>`."""
        return f"candidate-{self.candidate.number}-{self.token}"


@dataclass(frozen=True)
class CandidateOutcome:
    """What became of one candidate."""

    candidate: Candidate
    run_id: str | None  # None only if no run could be started
    metrics: dict[str, float]  # the run's held-out metrics ({} when it failed)
    error: str | None  # one line: why it failed (its run is FAILED with it)
    seconds: float

    @property
    def ok(self) -> bool:
        """True when the candidate trained and was scored."""
        return self.error is None


def train_candidate(job: TrainingJob) -> CandidateOutcome:
    """Train one candidate as its own run in the store of `job.settings` (a worker's task).

    Every failure is caught into the outcome: the run (when one started) is FAILED with
    the same text, and the caller goes on with the other candidates.
    """
    from modelward.store.workspace import open_workspace
    from modelward.training.trainer import train

    started = time.perf_counter()
    candidate = job.candidate
    try:
        result = train(
            open_workspace(job.settings),
            data=job.data,
            target=job.target,
            model=candidate.model,
            params=candidate.params,
            optimizer=candidate.optimizer,
            experiment=job.experiment,
            run_name=job.run_name,
            test_size=job.test_size,
            seed=job.seed,
            tags=job.tags,
        )
    except Exception as exc:
        error = failure_text(exc)
        run = started_run(job)
        return CandidateOutcome(
            candidate, run.id if run else None, {}, error, time.perf_counter() - started
        )
    return CandidateOutcome(
        candidate, result.run_id, dict(result.metrics), None, time.perf_counter() - started
    )


def failure_text(exc: BaseException) -> str:
    """`ValueError: why`, on one line: as a failed run records it, shortened."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split()).rstrip(":")
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 3] + "..."


def abandoned(job: TrainingJob, reason: str, seconds: float = 0.0) -> CandidateOutcome:
    """The outcome of a job whose worker died: a run it left RUNNING becomes FAILED with
    `reason` and gets the job's tags (their write may not have happened yet)."""
    from modelward.tracking.entities import FAILED, RUNNING
    from modelward.tracking.ports import run_store

    run_id: str | None = None
    try:
        run = started_run(job)
        if run is not None:
            run_id = run.id
            store = run_store(_workspace(job.settings))
            if job.tags:
                store.log_batch(run.id, tags=[(k, str(v)) for k, v in job.tags.items()])
            if run.status == RUNNING:
                store.finish_run(run.id, FAILED, reason)
    except Exception as exc:  # the store out of reach: the outcome still says what happened
        reason = f"{reason} (its run could not be marked failed: {failure_text(exc)})"
    return CandidateOutcome(job.candidate, run_id, {}, reason, seconds)


def started_run(job: TrainingJob) -> Run | None:
    """The run `job` started, if it got that far (found by its unique name)."""
    from modelward.tracking.ports import run_store
    from modelward.tracking.search import parse_filter

    name = job.run_name.replace("'", "''")
    experiment = job.experiment.replace("'", "''")
    try:
        found = run_store(_workspace(job.settings)).search(
            where=parse_filter(f"name = '{name}' and experiment = '{experiment}'"), limit=2
        )
    except Exception:  # no such experiment yet, or the store is out of reach
        return None
    return found[0] if found else None


def _workspace(settings: Settings) -> Any:
    from modelward.store.workspace import open_workspace

    return open_workspace(settings)


def _ignore(_outcome: CandidateOutcome) -> None:
    return None


class Executor(Protocol):
    """Runs training jobs somewhere, several at a time."""

    workers: int

    def run(
        self,
        jobs: Sequence[TrainingJob],
        on_done: Callable[[CandidateOutcome], None] = _ignore,
    ) -> list[CandidateOutcome]:
        """The outcomes in job order; `on_done` is called as each one finishes."""
        ...


class InProcessExecutor:
    """The jobs one after another in this process (a baseline; no crash isolation)."""

    workers = 1

    def run(
        self,
        jobs: Sequence[TrainingJob],
        on_done: Callable[[CandidateOutcome], None] = _ignore,
    ) -> list[CandidateOutcome]:
        """Train each job here, in order."""
        outcomes = []
        for job in jobs:
            outcome = train_candidate(job)
            on_done(outcome)
            outcomes.append(outcome)
        return outcomes


def executor_for(cluster: str | None, workers: int | None = None) -> Executor:
    """Where the candidates train: `None` -> local worker processes (`workers`, default
    as many as cores); `"tcp://host:port"` -> that Dask cluster, connected to now, so an
    unreachable one is a `ModelwardError` before any run starts."""
    from modelward.errors import InvalidInput

    if workers is not None and workers < 1:
        raise InvalidInput(f"--workers must be at least 1, got {workers}")
    if cluster is None:
        from modelward.pipelines.local_workers import LocalExecutor, default_workers

        return LocalExecutor(workers or default_workers())
    from modelward.pipelines.dask_cluster import DaskExecutor

    return DaskExecutor(cluster, workers)
