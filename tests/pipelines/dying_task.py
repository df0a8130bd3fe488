"""A task whose worker process dies while candidate 2 trains (SIGKILL, as the OOM killer
sends it), for the executors' crash tests; the other candidates train normally.

It lives in an importable module: local workers and Dask workers unpickle it by name.
"""

from __future__ import annotations

import os
import signal
import threading
import time

from modelward.pipelines.candidates import (
    CandidateOutcome,
    TrainingJob,
    started_run,
    train_candidate,
)

DYING_CANDIDATE = 2


def die_while_training(job: TrainingJob) -> CandidateOutcome:
    """Train the job; for candidate 2, kill this process once its run has started."""
    if job.candidate.number == DYING_CANDIDATE:
        threading.Thread(target=_kill_once_started, args=(job,), daemon=True).start()
    return train_candidate(job)


def _kill_once_started(job: TrainingJob) -> None:
    deadline = time.monotonic() + 60
    while started_run(job) is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(os.getpid(), signal.SIGKILL)
