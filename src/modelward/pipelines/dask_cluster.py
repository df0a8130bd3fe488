"""Candidates on a Dask cluster (`--cluster tcp://host:port`).

The client submits `train_candidate` once per job; each worker opens the store the
job's settings name (PostgreSQL and an object store on a real cluster, a shared
SQLite home on one machine), so the runs are the same as a local run's. A worker
that dies on a candidate makes the scheduler give up on that task (KilledWorker):
the candidate fails with that reason, the others go on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from modelward.cluster import CONNECT_SECONDS, cluster_address, connect, worker_threads
from modelward.pipelines.candidates import (
    CandidateOutcome,
    TrainingJob,
    _ignore,
    abandoned,
    failure_text,
    train_candidate,
)


class DaskExecutor:
    """The jobs as tasks of the Dask cluster whose scheduler is at `address`."""

    def __init__(
        self,
        address: str,
        workers: int | None = None,
        *,
        connect_seconds: float = CONNECT_SECONDS,
        task: Callable[[TrainingJob], CandidateOutcome] = train_candidate,
    ) -> None:
        self.address = cluster_address(address)
        self.connect_seconds = connect_seconds
        self.task = task
        self._client: Any = None
        total = self._connect()
        self.workers = workers or total

    def _connect(self) -> int:
        """Connect (now: an unreachable cluster fails before any run) and count the
        worker threads."""
        self._client = connect(self.address, connect_seconds=self.connect_seconds)
        return worker_threads(self._client)

    def run(
        self,
        jobs: Sequence[TrainingJob],
        on_done: Callable[[CandidateOutcome], None] = _ignore,
    ) -> list[CandidateOutcome]:
        """Submit the jobs, at most `workers` at a time; outcomes in job order."""
        from distributed import as_completed

        if not jobs:
            return []
        if self._client is None:
            self._connect()
        client = self._client
        outcomes: list[CandidateOutcome | None] = [None] * len(jobs)
        submitted: dict[int, float] = {}
        waiting = list(enumerate(jobs))
        index_of: dict[str, int] = {}

        def submit() -> Any:
            index, job = waiting.pop(0)
            future = client.submit(self.task, job, pure=False, key=job.run_name)
            index_of[future.key] = index
            submitted[index] = time.perf_counter()
            return future

        first = [submit() for _ in range(min(self.workers, len(waiting)))]
        running = as_completed(first, loop=client.loop)
        try:
            for future in running:
                index = index_of[future.key]
                job = jobs[index]
                try:
                    outcome: CandidateOutcome = future.result()
                except Exception as exc:  # KilledWorker, a lost connection...
                    seconds = time.perf_counter() - submitted[index]
                    outcome = abandoned(job, _lost(exc), seconds)
                outcomes[index] = outcome
                on_done(outcome)
                if waiting:
                    running.add(submit())
        except BaseException:
            client.cancel(list(running.futures), force=True)
            raise
        finally:
            self.close()
        return [outcome for outcome in outcomes if outcome is not None]

    def close(self) -> None:
        """Disconnect from the scheduler (the next `run` connects again)."""
        client, self._client = self._client, None
        if client is not None:
            client.close()


def _lost(exc: BaseException) -> str:
    if type(exc).__name__ == "KilledWorker":
        return "the Dask worker running it died (the scheduler gave up on it)"
    return f"the Dask cluster lost it: {failure_text(exc)}"
