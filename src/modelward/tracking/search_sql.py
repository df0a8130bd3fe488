"""Run filters and sort keys as SQLAlchemy expressions: values are always bound parameters."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from modelward.errors import InvalidInput
from modelward.store.tables import experiments, run_latest_metrics, run_params, run_tags, runs
from modelward.tracking.search import TIME_ATTRIBUTES, BoolOp, Comparison, Key, Node, Not

_ATTRIBUTE_COLUMNS: dict[str, Any] = {
    "id": runs.c.id,
    "name": runs.c.name,
    "status": runs.c.status,
    "user": runs.c.user,
    "experiment": experiments.c.name,
    "git_commit": runs.c.git_commit,
    "seed": runs.c.seed,
    "start_time": runs.c.start_time,
    "end_time": runs.c.end_time,
}


def condition(node: Node) -> ColumnElement[bool]:
    """The WHERE clause of a parsed filter."""
    if isinstance(node, BoolOp):
        parts = [condition(operand) for operand in node.operands]
        return sa.and_(*parts) if node.op == "and" else sa.or_(*parts)
    if isinstance(node, Not):
        return sa.not_(condition(node.operand))
    return _comparison(node)


def _compare(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    if op == "in":
        return column.in_(list(value))  # type: ignore[no-any-return]
    if op == "not in":
        return column.not_in(list(value))  # type: ignore[no-any-return]
    if op == "like":
        return column.like(value)  # type: ignore[no-any-return]
    if op == "ilike":
        return column.ilike(value)  # type: ignore[no-any-return]
    operators = {
        "=": column.__eq__,
        "!=": column.__ne__,
        "<": column.__lt__,
        "<=": column.__le__,
        ">": column.__gt__,
        ">=": column.__ge__,
    }
    return operators[op](value)  # type: ignore[no-any-return]


def _comparison(node: Comparison) -> ColumnElement[bool]:
    key = node.key
    if key.kind == "attribute":
        value: Any = node.value
        if key.name in TIME_ATTRIBUTES:
            value = _parse_time(node.value)
        return _compare(_ATTRIBUTE_COLUMNS[key.name], node.op, value)
    table = {"metric": run_latest_metrics, "param": run_params, "tag": run_tags}[key.kind]
    # A run without the key never matches, whatever the operator. IN (not a
    # correlated EXISTS) lets the database drive the search from the
    # (key, value) index of the latest metrics.
    return runs.c.id.in_(
        sa.select(table.c.run_id).where(
            table.c.key == key.name, _compare(table.c.value, node.op, node.value)
        )
    )


def _parse_time(value: Any) -> Any:
    def one(text: Any) -> datetime:
        try:
            moment = datetime.fromisoformat(str(text))
        except ValueError:
            raise InvalidInput(
                f"not an ISO 8601 time: {text!r} (e.g. '2026-11-28T10:00')"
            ) from None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

    if isinstance(value, tuple):
        return tuple(one(v) for v in value)
    return one(value)


def order_column(key: Key, index: int) -> Any:
    """A sort column, or (subquery to outer-join, its column) for metrics, params, tags."""
    if key.kind == "attribute":
        return _ATTRIBUTE_COLUMNS[key.name]
    table = {"metric": run_latest_metrics, "param": run_params, "tag": run_tags}[key.kind]
    joined = (
        sa.select(table.c.run_id, table.c.value)
        .where(table.c.key == key.name)
        .subquery(f"order_{index}")
    )
    return joined, joined.c.value
