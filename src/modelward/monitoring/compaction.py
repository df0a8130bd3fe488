"""Compaction of the prediction log's segments: one process of a deployment, whichever
holds the compaction lease (in the metadata database, beside the monitor leases), merges
every model's closed hours into one segment each, every few minutes.

`mw serve` and `mw server` over a store whose log is segments both run a compactor;
the lease makes one of them do the work, and another take over when it stops.
"""

from __future__ import annotations

import logging
import threading

from modelward.monitoring.leases import LeaseHolder
from modelward.monitoring.ports import local_prediction_log, monitor_lease_store
from modelward.store.workspace import Workspace

log = logging.getLogger("modelward.monitoring")

COMPACT_EVERY = 300.0  # seconds between rounds
# Not a model name (those start with a letter or digit): no model's monitor lease.
COMPACTION_LEASE = "#prediction-log-compaction"


class LogCompactor:
    """Merges closed hours of every model's log segments, in a background thread."""

    def __init__(self, workspace: Workspace, *, interval: float = COMPACT_EVERY) -> None:
        self.workspace = workspace
        self.interval = interval
        self.holder = LeaseHolder.this_process()
        self._leases = monitor_lease_store(workspace)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def needed(self) -> bool:
        """Whether the workspace keeps its log as segments of its own."""
        return self.workspace.remote is None and self.workspace.settings.log_segments

    def run_once(self) -> int:
        """One round, if this process holds the lease; how many segments were merged."""
        from modelward.monitoring.segment_log import SegmentPredictionLog

        if not self.needed:
            return 0
        if self._leases.acquire(COMPACTION_LEASE, self.holder, 3 * self.interval) is not None:
            return 0  # another process compacts
        segments = local_prediction_log(self.workspace)
        assert isinstance(segments, SegmentPredictionLog)
        merged = 0
        for model in segments.models():
            merged += segments.compact(model)
        if merged:
            log.info("prediction log: %d segments merged into their closed hours", merged)
        return merged

    def start(self) -> None:
        """Run a round every `interval` seconds (nothing to do without segments)."""
        if not self.needed or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="log-compaction", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.run_once()
            except Exception as exc:  # the store busy or unreachable: the next round retries
                log.warning("prediction log compaction failed: %s", exc)

    def stop(self) -> None:
        """Stop the thread and give the lease up."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
            try:
                self._leases.release(COMPACTION_LEASE, self.holder)
            except Exception as exc:  # it lapses on its own
                log.warning("compaction lease not released: %s", exc)
