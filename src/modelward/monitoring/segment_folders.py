"""Where a segment log's segments are and which of them a read takes: the partition
folders by model, version and hour, the live segments of each (a compacted one instead of
those it replaces), the newest rows of a model across them. `SegmentPredictionLog`
builds its writes and reads on this."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

import pyarrow as pa
import pyarrow.compute as pc

from modelward.errors import NotFound
from modelward.monitoring import log_segments as seg
from modelward.monitoring.segment_cache import SegmentCache
from modelward.monitoring.segment_listings import SegmentListings
from modelward.store.object_folders import ObjectFolder

Params = ParamSpec("Params")
Result = TypeVar("Result")


def relisted_when_gone(method: Callable[Params, Result]) -> Callable[Params, Result]:
    """A read that found a listed segment gone (a compaction replaced it since the
    listing) is done again once over folders listed whole."""

    @functools.wraps(method)
    def read(*args: Params.args, **kwargs: Params.kwargs) -> Result:
        try:
            return method(*args, **kwargs)
        except NotFound:
            log: SegmentFolders = args[0]  # type: ignore[assignment]
            log.listings.forget()
            return method(*args, **kwargs)

    return read


@dataclass(frozen=True)
class Hour:
    """One partition folder: a model's (version's) hour."""

    folder: str
    hour: str
    version: int | None  # None for feedback partitions

    @property
    def start_ms(self) -> int:
        return seg.hour_start_ms(self.hour)


class SegmentFolders:
    """A segment log's folders (predictions, feedback), its cache of decoded segments and
    its listings of hour folders."""

    def __init__(
        self,
        predictions: ObjectFolder,
        feedback: ObjectFolder,
        *,
        cache: SegmentCache | None = None,
        listings: SegmentListings | None = None,
    ) -> None:
        self.predictions = predictions
        self.feedback = feedback
        self.cache = cache or SegmentCache()
        self.listings = listings or SegmentListings()

    # -- partitions -------------------------------------------------------------------------
    def models(self) -> list[str]:
        """Every model with logged requests."""
        return [seg.partition_value(f, "model") for f in self.predictions.children("")]

    def hours(self, model: str, since_ms: int = 0) -> list[Hour]:
        """The model's hour partitions (every version) from `since_ms` on, newest first."""
        first = seg.hour_of(since_ms) if since_ms > 0 else ""
        hours = []
        for version_folder in self.predictions.children(seg.model_folder(model)):
            version = int(seg.partition_value(version_folder, "version"))
            # listed from the first hour asked for on: a version's hours grow by 24 a day
            after = f"hour={first}" if first else ""
            for folder in self.predictions.children(version_folder, after=after):
                hour = seg.partition_value(folder, "hour")
                if hour >= first:
                    hours.append(Hour(folder, hour, version))
        return sorted(hours, key=lambda h: (h.hour, h.version or 0), reverse=True)

    def _feedback_hours(self, model: str) -> list[Hour]:
        folders = self.feedback.children(seg.model_folder(model))
        hours = [Hour(f, seg.partition_value(f, "hour"), None) for f in folders]
        return sorted(hours, key=lambda h: h.hour, reverse=True)

    def live_segments(
        self, folder: ObjectFolder, hour: Hour, until_id: int | None = None, since_ms: int = 0
    ) -> Iterator[tuple[str, int]]:
        """(key, newest ms) of the segments to read in a partition, newest first (see
        `live_among`); the partition listed from what is new since the last listing
        (`SegmentListings`)."""
        names = self.listings.names(folder, hour.folder)
        return self.live_among(folder, names, until_id, since_ms)

    def live_among(
        self,
        folder: ObjectFolder,
        names: Sequence[seg.SegmentName],
        until_id: int | None = None,
        since_ms: int = 0,
    ) -> Iterator[tuple[str, int]]:
        """(key, newest ms) of the segments to read among a partition's `names`, newest
        first: a compacted segment instead of the ones it replaces, none whose newest
        record is older than `since_ms` (its name says so: it is not fetched)."""
        replaced: set[str] = set()
        for name in names:
            if name.compacted:
                replaced.update(seg.covered(self.cache.get(folder, name.key, ("created_ms",))))
        for name in sorted(names, key=lambda n: n.key, reverse=True):
            if name.key.rsplit("/", 1)[-1] in replaced:
                continue
            if until_id is not None and name.newest_ms > until_id:
                continue
            if name.newest_ms < since_ms:
                continue
            yield name.key, name.newest_ms

    def _hour_table(
        self, folder: ObjectFolder, hours: Sequence[Hour], columns: tuple[str, ...] | None = None
    ) -> pa.Table | None:
        """The segments of some partitions (only `columns`, when given) as one table."""
        tables = [
            self.cache.get(folder, key, columns)
            for hour in hours
            for key, _newest in self.live_segments(folder, hour)
        ]
        return pa.concat_tables(tables) if tables else None

    def _window(
        self, model: str, since_ms: int = 0, until_id: int | None = None
    ) -> list[tuple[int, str]]:
        """(newest ms, key) of every segment of a model to read from `since_ms` on, newest
        first across versions and hours."""
        found = [
            (newest, key)
            for hour in self.hours(model, since_ms)
            for key, newest in self.live_segments(self.predictions, hour, until_id, since_ms)
        ]
        return sorted(found, reverse=True)

    def _newest(
        self,
        model: str,
        limit: int,
        since_ms: int,
        until_id: int | None,
        status: int | None,
        columns: tuple[str, ...] | None = None,
    ) -> pa.Table | None:
        """The `limit` newest rows (from `since_ms` on, of a status; only `columns`, when
        given, which then hold created_ms and status), with `segment_id`:
        segments are read newest first, and no further once `limit` rows are newer than
        every row the next segment can hold (its name gives its newest)."""
        window = self._window(model, since_ms, until_id)
        tables: list[pa.Table] = []
        held = 0
        for index, (newest, key) in enumerate(window):
            table = self.cache.get(self.predictions, key, columns)
            keep = pc.greater_equal(table.column("created_ms"), since_ms)
            if status is not None:
                keep = pc.and_(keep, pc.equal(table.column("status"), status))
            table = table.filter(keep)
            ids = pa.array([newest] * table.num_rows, pa.int64())
            tables.append(table.append_column("segment_id", ids))
            held += table.num_rows
            if held >= limit and index + 1 < len(window):
                bound = window[index + 1][0]
                final = sum(pc.sum(pc.greater(t.column("created_ms"), bound)).as_py() or 0
                            for t in tables)  # fmt: skip
                if final >= limit:
                    break
        if not tables:
            return None
        order = [("created_ms", "descending"), ("segment_id", "descending")]
        return pa.concat_tables(tables).sort_by(order).slice(0, limit)
