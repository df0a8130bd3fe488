"""Decoded prediction-log segments a process keeps: segments never change, so a reader
fetches and decodes each (set of columns) once, within a byte budget."""

from __future__ import annotations

import threading
from collections import OrderedDict

import pyarrow as pa

from modelward.monitoring import log_segments as seg
from modelward.store.object_folders import ObjectFolder

CACHE_BYTES = 256 << 20  # decoded segments a process keeps
RAW_CACHE_BYTES = 64 << 20  # fetched segment bytes a process keeps


class SegmentCache:
    """Decoded segments by key and columns, least recently used dropped past a byte budget;
    the fetched bytes are kept too (a budget of their own), so a second set of columns of
    one segment costs no second fetch."""

    def __init__(self, budget: int = CACHE_BYTES, raw_budget: int = RAW_CACHE_BYTES) -> None:
        self.budget = budget
        self.raw_budget = raw_budget
        self._tables: OrderedDict[tuple[str, tuple[str, ...] | None], pa.Table] = OrderedDict()
        self._raw: OrderedDict[str, bytes] = OrderedDict()
        self._bytes = 0
        self._raw_bytes = 0
        self._rows: dict[str, int] = {}
        self._lock = threading.Lock()

    def _fetch(self, folder: ObjectFolder, key: str) -> bytes:
        with self._lock:
            data = self._raw.get(key)
            if data is not None:
                self._raw.move_to_end(key)
                return data
        data = folder.get(key)
        with self._lock:
            if key not in self._raw:
                self._raw[key] = data
                self._raw_bytes += len(data)
                while self._raw_bytes > self.raw_budget and len(self._raw) > 1:
                    _, dropped = self._raw.popitem(last=False)
                    self._raw_bytes -= len(dropped)
        return data

    def get(
        self, folder: ObjectFolder, key: str, columns: tuple[str, ...] | None = None
    ) -> pa.Table:
        """The segment's table (only `columns`, when given), decoded on first use."""
        place = (key, columns)
        with self._lock:
            table = self._tables.get(place)
            if table is not None:
                self._tables.move_to_end(place)
                return table
        table = seg.decode(self._fetch(folder, key), columns)
        with self._lock:
            if place not in self._tables:
                self._tables[place] = table
                self._bytes += table.nbytes
                while self._bytes > self.budget and len(self._tables) > 1:
                    _, dropped = self._tables.popitem(last=False)
                    self._bytes -= dropped.nbytes
        return table

    def rows(self, folder: ObjectFolder, key: str) -> int:
        """How many records a segment holds (from its footer; remembered for good)."""
        count = self._rows.get(key)
        if count is None:
            count = self._rows[key] = seg.row_count(self._fetch(folder, key))
        return count
