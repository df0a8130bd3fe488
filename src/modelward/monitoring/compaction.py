"""Compaction of the prediction log's segments: one process of a deployment, whichever
holds the compaction lease (in the metadata database, beside the monitor leases), merges
every model's closed hours into one segment each, every few minutes.

`mw serve` and `mw server` over a store whose log is segments both run a compactor;
the lease makes one of them do the work, and another take over when it stops. They
merge in their background process (`monitoring.background`), not on the lock their
requests need.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from modelward.monitoring.leases import LeaseHolder
from modelward.monitoring.ports import local_prediction_log, monitor_lease_store
from modelward.store.workspace import Workspace

if TYPE_CHECKING:
    from modelward.monitoring.segment_log import SegmentPredictionLog

log = logging.getLogger("modelward.monitoring")

COMPACT_EVERY = 300.0  # seconds between rounds
COMPACT_AFTER_MS = 10 * 60_000  # an hour is compacted once it ended this long ago
# Not a model name (those start with a letter or digit): no model's monitor lease.
COMPACTION_LEASE = "#prediction-log-compaction"


class LogCompactor:
    """Merges closed hours of every model's log segments, in a background thread."""

    def __init__(
        self,
        workspace: Workspace,
        *,
        interval: float = COMPACT_EVERY,
        merge: Callable[[], int] | None = None,
    ) -> None:
        """`merge` runs one round's merges and says how many segments it replaced
        (default: `compact_all` in the calling thread; a server passes its background
        process's)."""
        self.workspace = workspace
        self.interval = interval
        self.merge = merge if merge is not None else lambda: compact_all(workspace)
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
        if not self.needed:
            return 0
        if self._leases.acquire(COMPACTION_LEASE, self.holder, 3 * self.interval) is not None:
            return 0  # another process compacts
        merged = self.merge()
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


def compact_all(workspace: Workspace) -> int:
    """Merge the closed hours of every model of a workspace's segment log; how many
    segments were replaced."""
    from modelward.monitoring.segment_log import SegmentPredictionLog

    segments = local_prediction_log(workspace)
    if not isinstance(segments, SegmentPredictionLog):
        return 0
    return sum(compact(segments, model) for model in segments.models())


def compact(segments: SegmentPredictionLog, model_name: str, *, now_ms: int | None = None) -> int:
    """Merge each closed hour's segments of a model into one (the old ones removed once
    the merged one is stored); how many segments were replaced. One process at a time
    per deployment: the one holding the compaction lease (`LogCompactor`)."""
    from modelward.monitoring import log_segments as seg

    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    replaced = 0
    for hour in segments.hours(model_name):
        if hour.start_ms + seg.HOUR_MS + COMPACT_AFTER_MS > now_ms:
            continue
        # listed whole, once: what is merged is what is there; a segment stored since is
        # merged next round, never removed unmerged
        listed = segments.listings.names(segments.predictions, hour.folder, whole=True)
        live = list(segments.live_among(segments.predictions, listed))
        live_keys = {key for key, _ in live}
        earlier = {  # what an earlier compaction among them replaced
            name
            for key, _ in live
            if "-compact-" in key
            for name in seg.covered(segments.cache.get(segments.predictions, key, ("created_ms",)))
        }
        leftover = [  # merged but not removed: an earlier compaction stopped there
            n.key for n in listed if n.key not in live_keys and n.key.rsplit("/", 1)[-1] in earlier
        ]
        if len(live) < 2:
            if leftover:
                segments.predictions.delete(leftover)
            continue
        names = sorted(key.rsplit("/", 1)[-1] for key, _ in live)
        covers = sorted({*names, *earlier})
        newest = max(segment_id for _, segment_id in live)
        digest = uuid.uuid5(uuid.NAMESPACE_URL, "\n".join(covers)).hex
        key = hour.folder + seg.segment_name(newest, digest, compacted=True)
        # one source segment decoded at a time: memory follows a segment, not the hour
        merged = seg.merge(
            (seg.decode(segments.predictions.get(k)) for k, _ in sorted(live)), covers=covers
        )
        segments.predictions.put(key, merged)
        segments.predictions.delete([*live_keys, *leftover])
        replaced += len(live)
    return replaced
