"""Candidates on worker processes of this machine.

The workers are forked by multiprocessing's *forkserver*, not by this process: a
fork of the caller would copy its threads' locks and its open database connections
(a server's monitor has both), and a *spawn* pays a new interpreter plus the ~2.5 s
import of scikit-learn, pandas and the trainer in every worker of every pipeline run.
The fork server is started once per process, imports those modules once
(`PRELOAD`), and forks each worker from that clean, single-threaded state in a few
milliseconds.

Each worker takes one job at a time over its own pipe, so a worker that dies
(segfault, `os._exit`, the OOM killer) fails only the candidate it was running: its
run is marked FAILED with the reason, a new worker takes its place, and the others
go on. `concurrent.futures.ProcessPoolExecutor` would instead break the whole pool.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from modelward.errors import ModelwardError
from modelward.pipelines.candidates import (
    CandidateOutcome,
    TrainingJob,
    _ignore,
    abandoned,
    failure_text,
    train_candidate,
)

Task = Callable[[TrainingJob], CandidateOutcome]

# What a worker needs to train; imported once, by the fork server.
PRELOAD = [
    "modelward.pipelines.candidates",
    "modelward.pipelines.local_workers",
    "modelward.training.trainer",
    "modelward.training.linear",
    "modelward.evaluation.holdout",
    "modelward.tracking.repository",
    "modelward.serialization.skops_format",
    "modelward.serialization.pickle_format",
    "sklearn.ensemble",
    "sklearn.linear_model",
    "sklearn.model_selection",
    "sklearn.metrics",
    "pyarrow.parquet",
]
STOP_SECONDS = 5.0


def default_workers() -> int:
    """As many workers as this process may use cores."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


@dataclass
class _Worker:
    process: Any  # multiprocessing's Process of the chosen context
    conn: Connection
    job: tuple[int, TrainingJob, float] | None = None  # index, job, start time


class LocalExecutor:
    """`workers` worker processes for the duration of each `run`.

    Creating one boots the fork server in the background: make it when the pipeline
    starts, and its imports overlap the steps before training. Workers re-import the
    caller's main module as multiprocessing does, so a script calling this needs the
    usual `if __name__ == "__main__":` guard (`mw`, `python -m` and pytest have it).
    """

    def __init__(
        self, workers: int, *, task: Task = train_candidate, start_method: str = "forkserver"
    ) -> None:
        self.workers = workers
        self.task = task
        self.start_method = start_method
        if start_method == "forkserver":
            # The fork server's imports (~2 s) overlap whatever the caller does next.
            multiprocessing.get_context("forkserver").set_forkserver_preload(PRELOAD)
            threading.Thread(target=_boot_fork_server, name="mw-forkserver", daemon=True).start()

    def run(
        self,
        jobs: Sequence[TrainingJob],
        on_done: Callable[[CandidateOutcome], None] = _ignore,
    ) -> list[CandidateOutcome]:
        """Train every job on the workers; outcomes in job order."""
        if not jobs:
            return []
        context = multiprocessing.get_context(self.start_method)
        count = min(self.workers, len(jobs))
        threads = max(1, default_workers() // count)  # no oversubscribed BLAS/OpenMP pools
        pending = deque(enumerate(jobs))
        outcomes: list[CandidateOutcome | None] = [None] * len(jobs)
        workers = [self._start(context, threads) for _ in range(count)]
        try:
            while True:
                for worker in workers:
                    if worker.job is None and pending:
                        index, job = pending.popleft()
                        worker.job = (index, job, time.perf_counter())
                        worker.conn.send(job)
                busy = [worker for worker in workers if worker.job is not None]
                if not busy:
                    break
                ready = set(wait([w.conn for w in busy] + [w.process.sentinel for w in busy]))
                for worker in busy:
                    if worker.conn not in ready and worker.process.sentinel not in ready:
                        continue
                    assert worker.job is not None
                    index, job, started = worker.job
                    outcome = self._answer(worker)
                    worker.job = None
                    if outcome is None:  # the worker died: its candidate failed, a new one
                        outcome = abandoned(
                            job, _death(worker.process), time.perf_counter() - started
                        )
                        self._stop(worker)
                        if pending:
                            workers[workers.index(worker)] = self._start(context, threads)
                    outcomes[index] = outcome
                    on_done(outcome)
        except BaseException:
            for worker in workers:  # Ctrl-C: the runs in progress end as FAILED
                if worker.job is not None:
                    with contextlib.suppress(Exception):
                        abandoned(worker.job[1], "interrupted: the pipeline was stopped")
            raise
        finally:
            for worker in workers:
                self._stop(worker)
        return [outcome for outcome in outcomes if outcome is not None]

    def _start(self, context: Any, threads: int) -> _Worker:
        parent, child = context.Pipe()
        process = context.Process(
            target=serve_jobs, args=(child, self.task, threads), name="mw-candidate", daemon=True
        )
        try:
            process.start()
        except (OSError, EOFError, RuntimeError) as exc:  # no fork server, no processes left
            parent.close()
            raise ModelwardError(
                f"cannot start a local worker process: {failure_text(exc)}"
            ) from None
        finally:
            child.close()
        return _Worker(process, parent)

    @staticmethod
    def _answer(worker: _Worker) -> CandidateOutcome | None:
        """The worker's outcome, or None when it died without one."""
        try:
            if worker.conn.poll():
                answer: CandidateOutcome = worker.conn.recv()
                return answer
        except (EOFError, OSError):
            pass
        return None

    @staticmethod
    def _stop(worker: _Worker) -> None:
        with contextlib.suppress(OSError):
            worker.conn.close()  # an idle worker exits when its pipe closes
        worker.process.join(STOP_SECONDS if worker.job is None else 0)
        if worker.process.is_alive():
            worker.process.terminate()
            worker.process.join(STOP_SECONDS)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join()


def _boot_fork_server() -> None:
    from multiprocessing import forkserver

    with contextlib.suppress(Exception):  # a failed boot is retried, and reported, by run
        forkserver.ensure_running()


def _death(process: Any) -> str:
    """Why a worker ended without an answer, for its candidate's run."""
    process.join(STOP_SECONDS)
    code = process.exitcode
    if code is None:
        return "its worker process stopped answering"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = " (killed: out of memory?)" if -code == signal.SIGKILL else ""
        return f"its worker process died of {name}{hint}"
    return f"its worker process exited with status {code} before answering"


def serve_jobs(conn: Connection, task: Task, threads: int) -> None:
    """A worker's loop: a job in, its outcome out, until the pipe closes."""
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(threads)
        while True:
            try:
                job: TrainingJob = conn.recv()
            except (EOFError, OSError):
                return
            started = time.perf_counter()
            try:
                outcome = task(job)
            except Exception as exc:  # a task that raises instead of answering
                outcome = CandidateOutcome(
                    job.candidate, None, {}, failure_text(exc), time.perf_counter() - started
                )
            conn.send(outcome)
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group: the caller reports
        return
