"""Reading logged metrics back: histories, pages of them, chart series, latest points.

The read side of `RunRepository` (which inherits it), apart from the writes and search.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelward.store.database import Database
from modelward.store.tables import run_latest_metrics, run_metrics
from modelward.tracking.entities import MetricPoint


class MetricReads:
    """Metric queries over the store's `run_metrics` and `run_latest_metrics`."""

    db: Database

    def metric_history_page(
        self, run_id: str, key: str, *, after: tuple[int, int, int] | None, limit: int
    ) -> tuple[list[MetricPoint], tuple[int, int, int] | None]:
        """Up to `limit` points of one metric after the position `after`, and the
        position to ask for next (None on the last page); see `metric_history`."""
        order = (run_metrics.c.step, run_metrics.c.timestamp, run_metrics.c.id)
        query = sa.select(run_metrics.c.value, *order).where(
            run_metrics.c.run_id == run_id, run_metrics.c.key == key
        )
        if after is not None:
            query = query.where(sa.tuple_(*order) > sa.tuple_(*after))
        with self.db.read() as conn:
            rows = conn.execute(query.order_by(*order).limit(limit + 1)).all()
        more = len(rows) > limit
        rows = rows[:limit]
        points = [MetricPoint(key, r.value, r.step, r.timestamp) for r in rows]
        last = rows[-1] if more else None
        return points, (None if last is None else (last.step, last.timestamp, last.id))

    def metric_history(self, run_id: str, key: str) -> list[MetricPoint]:
        """Every logged point of one metric, by step then time."""
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(
                    run_metrics.c.key,
                    run_metrics.c.value,
                    run_metrics.c.step,
                    run_metrics.c.timestamp,
                )
                .where(run_metrics.c.run_id == run_id, run_metrics.c.key == key)
                .order_by(run_metrics.c.step, run_metrics.c.timestamp, run_metrics.c.id)
            ).all()
        return [MetricPoint(r.key, r.value, r.step, r.timestamp) for r in rows]

    def metric_series(
        self, run_id: str, key: str, *, max_points: int | None = None
    ) -> tuple[list[float], list[float]]:
        """(steps, values) of one metric by step: `metric_history` without an object per
        point, for charts (read in the order of the covering (run, key, step, value) index).

        With `max_points`, a longer series comes back as each step bucket's minimum and
        maximum (at the bucket's middle step), computed in the database: extremes
        survive and no more than `max_points` rows cross into Python.
        """
        where = sa.and_(run_metrics.c.run_id == run_id, run_metrics.c.key == key)
        with self.db.read() as conn:
            if max_points is not None:
                count, low, high = conn.execute(
                    sa.select(
                        sa.func.count(),
                        sa.func.min(run_metrics.c.step),
                        sa.func.max(run_metrics.c.step),
                    ).where(where)
                ).one()
                if count > max_points and high > low:
                    return self._bucketed(conn, where, int(low), int(high), max_points)
            result = conn.execute(
                sa.select(run_metrics.c.step, run_metrics.c.value)
                .where(where)
                .order_by(run_metrics.c.step)
            )
            try:
                rows = result.cursor.fetchall()
            finally:
                result.close()
        if not rows:
            return [], []
        steps, values = zip(*rows, strict=True)
        return [float(s) for s in steps], list(values)

    @staticmethod
    def _bucketed(
        conn: Connection, where: Any, low: int, high: int, max_points: int
    ) -> tuple[list[float], list[float]]:
        buckets = max(max_points // 2 - 1, 1)  # the last step makes one bucket more
        width = (high - low) / buckets
        bucket = sa.cast((run_metrics.c.step - low) / width, sa.Integer).label("bucket")
        rows = conn.execute(
            sa.select(
                bucket,
                sa.func.min(run_metrics.c.step),
                sa.func.max(run_metrics.c.step),
                sa.func.min(run_metrics.c.value),
                sa.func.max(run_metrics.c.value),
            )
            .where(where)
            .group_by(bucket)
            .order_by(bucket)
        ).all()
        steps: list[float] = []
        values: list[float] = []
        for _bucket, first, last, smallest, largest in rows:
            middle = (float(first) + float(last)) / 2
            steps += [middle, middle]
            values += [float(smallest), float(largest)]
        return steps, values

    def count_metric_points(self, run_id: str) -> int:
        """How many metric points a run has (all keys)."""
        with self.db.read() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.count())
                    .select_from(run_metrics)
                    .where(run_metrics.c.run_id == run_id)
                ).scalar_one()
            )

    def latest_metric_points(self, run_ids: Sequence[str]) -> dict[str, list[MetricPoint]]:
        """The latest point of every metric of each run (value, step and timestamp)."""
        found: dict[str, list[MetricPoint]] = {}
        if not run_ids:
            return found
        table = run_latest_metrics.c
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(table.run_id, table.key, table.value, table.step, table.timestamp)
                .where(table.run_id.in_(list(run_ids)))
                .order_by(table.run_id, table.key)
            ).all()
        for row in rows:
            found.setdefault(row.run_id, []).append(
                MetricPoint(row.key, row.value, row.step, row.timestamp)
            )
        return found

    def metric_history_slice(
        self, run_id: str, key: str, *, offset: int = 0, limit: int | None = None
    ) -> list[MetricPoint]:
        """Points of one metric, by step then time, from `offset`, at most `limit` of them."""
        query = (
            sa.select(
                run_metrics.c.key, run_metrics.c.value, run_metrics.c.step, run_metrics.c.timestamp
            )
            .where(run_metrics.c.run_id == run_id, run_metrics.c.key == key)
            .order_by(run_metrics.c.step, run_metrics.c.timestamp, run_metrics.c.id)
            .offset(offset)
        )
        if limit is not None:
            query = query.limit(limit)
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        return [MetricPoint(r.key, r.value, r.step, r.timestamp) for r in rows]
