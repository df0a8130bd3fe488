"""Parsed run filters and sort keys written back as text, in the grammar of `search`.

A remote run search sends the filter as text: the team server parses it again with
the same grammar and the same caps, so a client cannot hand it a tree the parser
would have refused. Writing a parsed filter back never adds nesting, so anything
within the caps when parsed here stays within them there:
`parse_filter(format_filter(parse_filter(text)))` is the same filter.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from modelward.errors import InvalidInput
from modelward.tracking.search import BoolOp, Comparison, Key, Node, Not, OrderBy


def format_key(key: Key) -> str:
    """`metrics.`val loss``, `params.`lr``, or a bare attribute name."""
    if key.kind == "attribute":
        return key.name
    if "`" in key.name or not key.name:
        raise InvalidInput(f"a {key.kind} name cannot contain a backtick: {key.name!r}")
    return f"{key.kind}s.`{key.name}`"


def _literal(value: float | str) -> str:
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace("'", "\\'")
        return f"'{escaped}'"
    if math.isinf(value):  # `1e999` is how a filter spells an infinite bound
        return "1e999" if value > 0 else "-1e999"
    if math.isnan(value):
        raise InvalidInput("a filter cannot compare with NaN")
    return repr(float(value))


def _comparison(node: Comparison) -> str:
    if isinstance(node.value, tuple):
        values = ", ".join(_literal(v) for v in node.value)
        return f"{format_key(node.key)} {node.op} ({values})"
    return f"{format_key(node.key)} {node.op} {_literal(node.value)}"


def format_filter(node: Node | None) -> str | None:
    """The text of a parsed filter (None for no filter)."""
    if node is None:
        return None
    return _format(node)


def _format(node: Node) -> str:
    if isinstance(node, Comparison):
        return _comparison(node)
    if isinstance(node, Not):
        inner = _format(node.operand)
        return f"not ({inner})" if isinstance(node.operand, BoolOp) else f"not {inner}"
    parts = []
    for operand in node.operands:
        text = _format(operand)
        # `and` binds tighter than `or`: only an `or` inside an `and` needs parentheses
        if node.op == "and" and isinstance(operand, BoolOp) and operand.op == "or":
            text = f"({text})"
        parts.append(text)
    return f" {node.op} ".join(parts)


def format_order_by(orders: Sequence[OrderBy]) -> list[str]:
    """Sort keys as `parse_order_by` reads them (`metrics.`f1` desc`)."""
    return [f"{format_key(o.key)} {'desc' if o.descending else 'asc'}" for o in orders]
