"""The run filter language: what parses, into what, and what is refused (with where)."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelward.errors import InvalidInput
from modelward.store.workspace import Workspace
from modelward.tracking.search import (
    MAX_DEPTH,
    MAX_LENGTH,
    MAX_ORDER_KEYS,
    MAX_TERMS,
    BoolOp,
    Comparison,
    Key,
    Not,
    OrderBy,
    parse_filter,
    parse_order_by,
)
from tests.helpers import mw_in_process


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


def _alternating(depth: int, term: str = "metrics.f1 > {i}") -> str:
    """`(t0 or (t1 and (t2 or ...)))`: every level a new group in SQL as well."""
    opening = "".join(f"({term.format(i=i)} {'and' if i % 2 else 'or'} " for i in range(depth))
    return opening + "metrics.f1 = 0.25" + ")" * depth


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("(" * 400 + "metrics.f1 > 0" + ")" * 400, f"nested more than {MAX_DEPTH} levels"),
        ("not " * 400 + "metrics.f1 > 0", f"nested more than {MAX_DEPTH} levels"),
        (_alternating(MAX_DEPTH + 1), f"nested more than {MAX_DEPTH} levels"),
        (" or ".join(f"metrics.f1 > {i}" for i in range(1000)), "limited to 10000 characters"),
        (" or ".join(f"seed = {i}" for i in range(MAX_TERMS + 1)), f"more than {MAX_TERMS}"),
        ("metrics.f1 > 0 and " * 5000 + "seed = 1", "limited to 10000 characters"),
    ],
)
def test_a_filter_past_the_caps_is_one_short_line(text: str, fragment: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_filter(text)
    message = str(info.value)
    assert fragment in message and "\n" not in message and len(message) < 300


def test_a_cap_error_points_at_where_it_was_reached() -> None:
    with pytest.raises(InvalidInput) as info:
        parse_filter("(" * (MAX_DEPTH + 5) + "seed = 1" + ")" * (MAX_DEPTH + 5))
    assert f"at position {MAX_DEPTH + 1}" in str(info.value)
    many = " or ".join(f"seed = {i}" for i in range(MAX_TERMS + 1))
    with pytest.raises(InvalidInput) as info:
        parse_filter(many)
    assert f"at position {many.rindex('seed') + 1}" in str(info.value)


def test_too_many_sort_keys_are_refused() -> None:
    assert len(parse_order_by([f"metrics.m{i}" for i in range(MAX_ORDER_KEYS)])) == MAX_ORDER_KEYS
    with pytest.raises(InvalidInput, match=f"at most {MAX_ORDER_KEYS} sort keys"):
        parse_order_by([f"metrics.m{i}" for i in range(MAX_ORDER_KEYS + 1)])


def _python(text: str, f1: float) -> bool:
    """The filter's meaning for one run, computed by Python itself (the reference)."""
    return bool(eval(text.replace("metrics.f1", repr(f1)).replace(" = ", " == ")))


def test_filters_at_the_caps_run_on_the_database(workspace: Workspace) -> None:
    import modelward as mw

    ids = {}
    for f1 in (0.25, 0.5, 0.75, 3.5):
        with mw.start_run(experiment="caps") as run:
            run.log_metric("f1", f1)
            for i in range(MAX_ORDER_KEYS):
                run.log_metric(f"m{i}", f1 * i)
        ids[run.id] = f1
    deep = _alternating(MAX_DEPTH)
    wide = " or ".join(f"metrics.f1 = {i / 4}" for i in range(MAX_TERMS))
    nested_not = "not (" * (MAX_DEPTH // 2) + "metrics.f1 > 0.3" + ")" * (MAX_DEPTH // 2)
    both = "(" * MAX_DEPTH + " and ".join(["metrics.f1 > 0.3"] * MAX_TERMS) + ")" * MAX_DEPTH
    order = [f"-metrics.m{i}" for i in range(MAX_ORDER_KEYS)]
    for text in (deep, wide, nested_not, both):
        assert len(text) <= MAX_LENGTH
        found = mw.tracking.search_runs(text, experiment="caps", order_by=order)
        expected = {run_id for run_id, f1 in ids.items() if _python(text, f1)}
        assert {run.id for run in found} == expected, text[:60]
        assert [ids[run.id] for run in found] == sorted((ids[i] for i in expected), reverse=True)


def test_the_cli_refuses_a_filter_past_the_caps_with_exit_2(tmp_path: Path) -> None:
    text = "(" * 400 + "metrics.f1 > 0" + ")" * 400
    result = mw_in_process("runs", "list", "--filter", text, home=tmp_path / "home")
    assert result.code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"nested more than {MAX_DEPTH} levels" in lines[0]
    wide = " or ".join(f"metrics.f1 > {i}" for i in range(1000))
    result = mw_in_process("runs", "list", "--filter", wide, home=tmp_path / "home")
    assert result.code == 2 and len(result.stderr.strip().splitlines()) == 1
