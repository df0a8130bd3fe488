"""A partition task whose worker process dies (SIGKILL, as the OOM killer sends it) on
partition 1, for `mw predict --cluster`'s crash tests. With MW_TEST_DIE_ONCE=PATH in
the workers' environment it dies only the first time (PATH marks that it did), so a
retry on another worker succeeds; without it, every time.

It lives in an importable module: Dask workers unpickle it by name.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

from modelward.serving.cluster_batch import PartitionJob, predict_partition

DYING_PARTITION = 1


def die_on_partition_one(job: PartitionJob) -> Any:
    """Predict the partition; on partition 1 kill this worker first (once, or always)."""
    if job.partition.index == DYING_PARTITION:
        marker = os.environ.get("MW_TEST_DIE_ONCE")
        if marker is None:
            os.kill(os.getpid(), signal.SIGKILL)
        elif not Path(marker).exists():
            Path(marker).touch()
            os.kill(os.getpid(), signal.SIGKILL)
    return predict_partition(job)
