"""Differences between two dataset profiles: schema, row counts, statistic shifts.

`diff_profiles(a, b)` reads "from a to b": columns only in b are *added*, columns
only in a are *removed*, and every delta is `b - a`. Columns are matched by
name (the first column of that name on each side).

For a column in both profiles the shifts are:

* always: `missing` (count) and `missing_rate` (missing / rows);
* numeric on both sides: `infinite`, `mean`, `std`, `min`, `max`, `p50`;
* categorical (or boolean) on both sides: `cardinality`, plus the top values
  that entered (`new_top`) or left (`vanished_top`) the top-k list;
* datetime on both sides: `min`, `max` (ISO strings: no delta).

`relative` is `delta / |a|` for counts and statistics; it is None for rates,
for strings and when `a` is 0 or unknown.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from modelward.data.profile import ColumnProfile, DatasetProfile

__all__ = ["ColumnDiff", "DatasetDiff", "DtypeChange", "Shift", "diff_profiles"]

Value = int | float | str | None


@dataclass(frozen=True)
class Shift:
    """One statistic on both sides; `delta` and `relative` are None where meaningless."""

    a: Value
    b: Value
    delta: int | float | None
    relative: float | None

    @property
    def changed(self) -> bool:
        """True when the two sides differ."""
        return self.a != self.b

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict with keys a, b, delta, relative."""
        return {"a": self.a, "b": self.b, "delta": self.delta, "relative": self.relative}


@dataclass(frozen=True)
class DtypeChange:
    """A column whose Arrow type differs between the two profiles."""

    name: str
    from_dtype: str
    to_dtype: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict with keys name, from, to."""
        return {"name": self.name, "from": self.from_dtype, "to": self.to_dtype}


@dataclass(frozen=True)
class ColumnDiff:
    """The shifts of one column present in both profiles."""

    name: str
    kind: str
    stats: Mapping[str, Shift] = field(default_factory=dict)
    new_top: tuple[str, ...] = ()
    vanished_top: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        """True when any statistic or the top-value list changed."""
        return bool(self.new_top or self.vanished_top) or any(
            s.changed for s in self.stats.values()
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict: name, kind, stats {stat: shift}, new_top, vanished_top."""
        return {
            "name": self.name,
            "kind": self.kind,
            "stats": {key: shift.to_dict() for key, shift in self.stats.items()},
            "new_top": list(self.new_top),
            "vanished_top": list(self.vanished_top),
        }


@dataclass(frozen=True)
class DatasetDiff:
    """What changed from profile a to profile b."""

    rows: Shift
    added: tuple[str, ...]
    removed: tuple[str, ...]
    dtype_changes: tuple[DtypeChange, ...]
    columns: tuple[ColumnDiff, ...]

    @property
    def has_changes(self) -> bool:
        """True when the schema, the row count or any column statistic changed."""
        return (
            self.rows.changed
            or bool(self.added or self.removed or self.dtype_changes)
            or any(c.changed for c in self.columns)
        )

    def column(self, name: str) -> ColumnDiff:
        """The diff of the column called `name` (KeyError if it is not in both profiles)."""
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict: rows, added, removed, dtype_changes, columns, has_changes."""
        return {
            "rows": self.rows.to_dict(),
            "added": list(self.added),
            "removed": list(self.removed),
            "dtype_changes": [c.to_dict() for c in self.dtype_changes],
            "columns": [c.to_dict() for c in self.columns],
            "has_changes": self.has_changes,
        }


def diff_profiles(a: DatasetProfile, b: DatasetProfile) -> DatasetDiff:
    """Compare two profiles: schema changes, row counts and per-column statistic shifts."""
    cols_a = _by_name(a)
    cols_b = _by_name(b)
    added = tuple(name for name in cols_b if name not in cols_a)
    removed = tuple(name for name in cols_a if name not in cols_b)
    common = [name for name in cols_a if name in cols_b]
    dtype_changes = tuple(
        DtypeChange(name, cols_a[name].dtype, cols_b[name].dtype)
        for name in common
        if cols_a[name].dtype != cols_b[name].dtype
    )
    columns = tuple(_diff_column(cols_a[name], cols_b[name], a.n_rows, b.n_rows) for name in common)
    return DatasetDiff(_shift(a.n_rows, b.n_rows), added, removed, dtype_changes, columns)


def _by_name(profile: DatasetProfile) -> dict[str, ColumnProfile]:
    out: dict[str, ColumnProfile] = {}
    for col in profile.columns:
        out.setdefault(col.name, col)
    return out


def _rate(count: int, n_rows: int) -> float | None:
    return count / n_rows if n_rows else None


def _diff_column(ca: ColumnProfile, cb: ColumnProfile, rows_a: int, rows_b: int) -> ColumnDiff:
    stats: dict[str, Shift] = {
        "missing": _shift(ca.missing, cb.missing),
        "missing_rate": _shift(
            _rate(ca.missing, rows_a), _rate(cb.missing, rows_b), relative=False
        ),
    }
    na, nb = ca.numeric, cb.numeric
    if na is not None and nb is not None:
        qa = na.quantiles or {}
        qb = nb.quantiles or {}
        stats["infinite"] = _shift(na.infinite, nb.infinite)
        stats["mean"] = _shift(na.mean, nb.mean)
        stats["std"] = _shift(na.std, nb.std)
        stats["min"] = _shift(na.min, nb.min)
        stats["max"] = _shift(na.max, nb.max)
        stats["p50"] = _shift(qa.get("p50"), qb.get("p50"))
    new_top: tuple[str, ...] = ()
    vanished_top: tuple[str, ...] = ()
    ka, kb = ca.categorical, cb.categorical
    if ka is not None and kb is not None:
        stats["cardinality"] = _shift(ka.cardinality, kb.cardinality)
        top_a = [value for value, _ in ka.top]
        top_b = [value for value, _ in kb.top]
        in_a, in_b = frozenset(top_a), frozenset(top_b)
        new_top = tuple(v for v in top_b if v not in in_a)
        vanished_top = tuple(v for v in top_a if v not in in_b)
    ta, tb = ca.datetime, cb.datetime
    if ta is not None and tb is not None:
        stats["min"] = _shift(ta.min, tb.min)
        stats["max"] = _shift(ta.max, tb.max)
    return ColumnDiff(cb.name, cb.kind, stats, new_top, vanished_top)


def _shift(a: Value, b: Value, *, relative: bool = True) -> Shift:
    """The shift from a to b; delta only for two finite numbers."""
    if a is None or b is None or isinstance(a, str) or isinstance(b, str):
        return Shift(a, b, None, None)
    delta = b - a
    if not math.isfinite(delta):  # an infinite side (an overflowed mean) has no delta
        return Shift(a, b, None, None)
    rel = delta / abs(a) if relative and a != 0 else None
    return Shift(a, b, delta, rel)
