"""What a reader knows of the prediction log's hour folders, so that a monitor round lists
only what is new instead of the whole current hour (writers x 3,600 segments an hour).

A segment's name starts with the newest time it holds (13 digits), so a folder lists in
time order. Once a reader has listed a folder, it asks only for the names after its
newest one minus `late_ms`: segments a writer stores that late (its clock behind
another's, a batch resent after the store was down) are still found at once. Every
`full_every` seconds a folder is listed whole: a segment stored later than that (writers'
clocks further apart) becomes visible then, and the names of segments a compaction
removed are forgotten. A reader that finds a listed
segment gone calls `forget` and reads again (see `segment_log`); a compaction lists whole.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from modelward.monitoring import log_segments as seg
from modelward.store.object_folders import ObjectFolder

LATE_MS = 60_000  # how late a segment may be stored and still be found at the next listing
FULL_LISTING_SECONDS = 300.0  # a folder is listed whole at least this often
FOLDERS_KEPT = 256  # hour folders whose listing a process keeps (least recently used go)


@dataclass(frozen=True)
class _Listing:
    names: dict[str, seg.SegmentName]  # by key
    newest_ms: int
    whole_at: float  # when the folder was last listed whole (the clock's time)


class SegmentListings:
    """The segment names of hour folders, listed whole once, then only what is new."""

    def __init__(
        self,
        *,
        late_ms: int = LATE_MS,
        full_every: float = FULL_LISTING_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.late_ms = late_ms
        self.full_every = full_every
        self.clock = clock
        self._listings: OrderedDict[tuple[str, str], _Listing] = OrderedDict()
        self._lock = threading.Lock()

    def names(
        self, folder: ObjectFolder, hour_folder: str, *, whole: bool = False
    ) -> list[seg.SegmentName]:
        """The segments in `hour_folder` (`whole`: listed whole now, as a compaction needs)."""
        place = (folder.where, hour_folder)
        with self._lock:
            known = self._listings.get(place)
        now = self.clock()
        if whole or known is None or now - known.whole_at >= self.full_every:
            names = _parsed(folder.files(hour_folder), {})
            listing = _Listing(names, _newest(names), now)
        else:
            after = f"{max(0, known.newest_ms - self.late_ms):013d}"
            names = _parsed(folder.files(hour_folder, after=after), known.names)
            listing = _Listing(names, max(known.newest_ms, _newest(names)), known.whole_at)
        with self._lock:
            self._listings[place] = listing
            self._listings.move_to_end(place)
            while len(self._listings) > FOLDERS_KEPT:
                self._listings.popitem(last=False)
        return list(listing.names.values())

    def forget(self) -> None:
        """Drop every listing: the next read of each folder lists it whole."""
        with self._lock:
            self._listings.clear()


def _parsed(keys: list[str], known: dict[str, seg.SegmentName]) -> dict[str, seg.SegmentName]:
    """`known` and the segments among `keys` (other objects, temporary ones say, skipped)."""
    names = dict(known)
    for key in keys:
        if key not in names and (name := seg.parse_name(key)) is not None:
            names[key] = name
    return names


def _newest(names: dict[str, seg.SegmentName]) -> int:
    return max((name.newest_ms for name in names.values()), default=0)
