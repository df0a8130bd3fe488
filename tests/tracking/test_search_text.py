"""A parsed filter written back as text parses into the same filter, within the same caps."""

from __future__ import annotations

import pytest

from modelward.errors import InvalidInput
from modelward.tracking.search import (
    MAX_DEPTH,
    MAX_TERMS,
    BoolOp,
    Comparison,
    Key,
    Not,
    OrderBy,
    parse_filter,
    parse_order_by,
)
from modelward.tracking.search_text import format_filter, format_order_by

FILTERS = [
    "metrics.f1 > 0.8 and params.optimizer = 'adam'",
    "(tags.team = 'risk' or tags.team like 'fraud%') and status != 'failed'",
    "params.model in ('logistic', 'linear') and not metrics.loss >= 0.5",
    "not (status = 'failed' or seed = 3) and metrics.`val loss` < 1e-05",
    "metrics.a = -2.5e300 or metrics.b > 1e999 or metrics.c < -1e999",
    r"params.path = 'C:\\data\\it''s' and tags.`odd key/with.dots` = 'a\'b'",
    "params.lr = 0.10 and params.n not in ('1', '2') and start_time > '2026-11-28T10:00'",
    "not not not metrics.x = 1",
    "attributes.status = 'x' and run.name = 'y'",
]


@pytest.mark.parametrize("text", FILTERS)
def test_a_filter_written_back_parses_into_the_same_filter(text: str) -> None:
    parsed = parse_filter(text)
    written = format_filter(parsed)
    assert written is not None
    assert parse_filter(written) == parsed


def test_text_values_survive_quotes_and_backslashes() -> None:
    for value in ["it's", "\\", "\\'", "''", "a\nb", "%_", "é"]:
        node = Comparison(Key("param", "p"), "=", value)
        assert parse_filter(format_filter(node)) == node


def test_writing_back_adds_no_nesting_so_the_caps_still_hold() -> None:
    deepest = "not " * (MAX_DEPTH - 1) + "(metrics.x = 1 or metrics.y = 2)"
    assert parse_filter(format_filter(parse_filter(deepest))) == parse_filter(deepest)
    widest = " and ".join(f"metrics.m{i} > {i}" for i in range(MAX_TERMS))
    assert parse_filter(format_filter(parse_filter(widest))) == parse_filter(widest)
    nested = "metrics.a = 1 and (metrics.b = 2 or (metrics.c = 3 and metrics.d = 4))"
    assert format_filter(parse_filter(nested)) == (
        "metrics.`a` = 1.0 and (metrics.`b` = 2.0 or metrics.`c` = 3.0 and metrics.`d` = 4.0)"
    )


def test_a_tree_no_text_can_spell_is_refused() -> None:
    with pytest.raises(InvalidInput, match="backtick"):
        format_filter(Comparison(Key("metric", "a`b"), "=", 1.0))
    with pytest.raises(InvalidInput, match="NaN"):
        format_filter(Not(BoolOp("or", (Comparison(Key("metric", "a"), "=", float("nan")),))))


def test_sort_keys_written_back_parse_the_same() -> None:
    orders = parse_order_by(["-metrics.`val loss`", "params.lr asc", "start_time desc"])
    assert parse_order_by(format_order_by(orders)) == orders
    tricky = [OrderBy(Key("metric", "x desc"), False), OrderBy(Key("tag", "-y"), True)]
    assert parse_order_by(format_order_by(tricky)) == tricky
