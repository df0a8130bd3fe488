"""The run filter language: what parses, into what, and what is refused (with where)."""

from __future__ import annotations

import pytest

from modelward.errors import InvalidInput
from modelward.tracking.search import (
    BoolOp,
    Comparison,
    Key,
    Not,
    OrderBy,
    parse_filter,
    parse_order_by,
)


def test_the_issue_example_parses() -> None:
    node = parse_filter("metrics.f1 > 0.8 and params.optimizer = 'adam'")
    assert node == BoolOp(
        "and",
        (
            Comparison(Key("metric", "f1"), ">", 0.8),
            Comparison(Key("param", "optimizer"), "=", "adam"),
        ),
    )


def test_precedence_not_binds_tighter_than_and_than_or() -> None:
    node = parse_filter("status = 'failed' or not metrics.f1 < 0.5 and tags.team = 'x'")
    assert isinstance(node, BoolOp) and node.op == "or"
    right = node.operands[1]
    assert isinstance(right, BoolOp) and right.op == "and"
    assert isinstance(right.operands[0], Not)


def test_parentheses_group() -> None:
    node = parse_filter("(metrics.a > 1 or metrics.b > 1) and metrics.c > 1")
    assert isinstance(node, BoolOp) and node.op == "and"
    assert isinstance(node.operands[0], BoolOp) and node.operands[0].op == "or"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("metrics.loss <= 1e-3", Comparison(Key("metric", "loss"), "<=", 0.001)),
        ("metrics.`val loss` == 2", Comparison(Key("metric", "val loss"), "=", 2.0)),
        ("params.lr = 1e-3", Comparison(Key("param", "lr"), "=", "1e-3")),
        ("tags.note != 'it''s'", Comparison(Key("tag", "note"), "!=", "it's")),
        ("params.m in ('a', \"b\")", Comparison(Key("param", "m"), "in", ("a", "b"))),
        ("params.m not in ('a')", Comparison(Key("param", "m"), "not in", ("a",))),
        ("name like 'grid-%'", Comparison(Key("attribute", "name"), "like", "grid-%")),
        ("attributes.status = 'finished'", Comparison(Key("attribute", "status"), "=", "finished")),
        ("seed >= 3", Comparison(Key("attribute", "seed"), ">=", 3.0)),
    ],
)
def test_comparisons(text: str, expected: Comparison) -> None:
    assert parse_filter(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("metrics.f1 >> 2", "position 13"),
        ("metrics.f1 >", "position 13"),
        ("metrics.f1 > 0.8 and", "position 21"),
        ("(metrics.f1 > 1", "expected ')'"),
        ("metrics.f1 > 0.8 params.x = 'a'", "expected 'and', 'or' or the end"),
        ("metrics.f1 = 'high'", "compares as a number"),
        ("params.lr > 0.1", "is text"),
        ("colour = 'red'", "unknown run attribute 'colour'"),
        ("things.x = 1", "unknown key"),
        ("metrics.f1 > 0.8; DROP TABLE runs", "unexpected ';'"),
        ("params.x in 'a'", "'(' to start the list"),
    ],
)
def test_bad_filters_say_what_and_where(text: str, fragment: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_filter(text)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


def test_blank_filter_is_no_filter() -> None:
    assert parse_filter(None) is None and parse_filter("  ") is None


def test_order_by_forms() -> None:
    assert parse_order_by("-metrics.f1") == [OrderBy(Key("metric", "f1"), True)]
    assert parse_order_by(["metrics.f1 desc", "start_time"]) == [
        OrderBy(Key("metric", "f1"), True),
        OrderBy(Key("attribute", "start_time"), False),
    ]
    with pytest.raises(InvalidInput):
        parse_order_by("-")
