"""Promotion gates: `--require "f1 >= production.f1 + 0.01 and roc_auc > 0.9"`.

A gate is a comparison (or several joined by `and`) of arithmetic over
numbers and metrics: a bare name (`f1`) is the candidate version's metric,
`ALIAS.metric` (`production.f1`) the metric of the version the alias points
at now. When that alias points nowhere yet, comparisons that use it pass and
say so. Parsed with Python's `ast` and evaluated by walking it: nothing is
executed.
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from modelward.errors import InvalidInput

_BINARY: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}
_COMPARE: dict[type[ast.cmpop], tuple[str, Callable[[float, float], bool]]] = {
    ast.Gt: (">", operator.gt),
    ast.GtE: (">=", operator.ge),
    ast.Lt: ("<", operator.lt),
    ast.LtE: ("<=", operator.le),
    ast.Eq: ("==", operator.eq),
    ast.NotEq: ("!=", operator.ne),
}


class _NoHolder(Exception):
    """The alias an expression refers to points at no version yet."""

    def __init__(self, alias: str) -> None:
        super().__init__(alias)
        self.alias = alias


@dataclass(frozen=True)
class Check:
    """One comparison of a gate, with the numbers it compared."""

    text: str
    left: float | None
    right: float | None
    passed: bool
    note: str | None = None

    def describe(self) -> str:
        """`f1 >= production.f1 + 0.01: 0.9512 >= 0.9711 (fails)`."""
        if self.note:
            return f"{self.text}: {self.note}"
        verdict = "passes" if self.passed else "FAILS"
        left, right = _distinct(self.left or 0.0, self.right or 0.0)
        return f"{self.text}: {left} vs {right} ({verdict})"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description."""
        return {
            "check": self.text,
            "left": self.left,
            "right": self.right,
            "passed": self.passed,
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Check:
        """The check a `to_dict()` describes."""
        return cls(data["check"], data["left"], data["right"], bool(data["passed"]), data["note"])


def _distinct(left: float, right: float) -> tuple[str, str]:
    """Both numbers with as few digits as show that they differ (when they do)."""
    for digits in (6, 10, 17):
        shown = f"{left:.{digits}g}", f"{right:.{digits}g}"
        if shown[0] != shown[1] or left == right:
            return shown
    return repr(left), repr(right)


@dataclass(frozen=True)
class Gate:
    """A parsed requirement: comparisons that must all hold."""

    text: str
    comparisons: tuple[ast.Compare, ...]

    @property
    def aliases(self) -> set[str]:
        """Aliases the gate refers to (`production` in `production.f1`)."""
        return {
            node.value.id
            for comparison in self.comparisons
            for node in ast.walk(comparison)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
        }

    def evaluate(
        self, candidate: Mapping[str, float], holders: Mapping[str, Mapping[str, float] | None]
    ) -> list[Check]:
        """Check every comparison for a candidate's metrics and the aliases' metrics."""
        checks = []
        for comparison in self.comparisons:
            text = ast.unparse(comparison)
            _, compare = _COMPARE[type(comparison.ops[0])]
            try:
                left = _value(comparison.left, candidate, holders)
                right = _value(comparison.comparators[0], candidate, holders)
            except _NoHolder as missing:
                note = f"passes: no version is {missing.alias!r} yet"
                checks.append(Check(text, None, None, True, note))
                continue
            checks.append(Check(text, left, right, compare(left, right)))
        return checks


MAX_LENGTH = 1_000
_EXAMPLE = "write comparisons such as f1 >= production.f1 + 0.01"


def parse_gate(text: str) -> Gate:
    """Parse a requirement; InvalidInput says what is not allowed, and where."""
    if not text or not text.strip():
        raise InvalidInput('empty --require: e.g. "f1 >= production.f1"')
    if len(text) > MAX_LENGTH:
        raise InvalidInput(f"--require is limited to {MAX_LENGTH} characters, got {len(text):,}")
    # Line breaks become spaces so that Python's offsets are positions in `text`.
    source = text.translate(_BLANKS)
    indent = len(source) - len(source.lstrip())
    try:
        tree = ast.parse(source[indent:], mode="eval").body
    except SyntaxError as exc:
        raise InvalidInput(_syntax_message(text, exc, indent)) from None
    except (RecursionError, MemoryError, ValueError):
        raise InvalidInput(
            f"cannot parse --require {_short(text)}: it is nested too deeply"
        ) from None
    parts = tree.values if isinstance(tree, ast.BoolOp) and isinstance(tree.op, ast.And) else [tree]
    comparisons = []
    for part in parts:
        if (
            not isinstance(part, ast.Compare)
            or len(part.ops) != 1
            or type(part.ops[0]) not in _COMPARE
        ):
            raise InvalidInput(
                f"--require {_short(text)}: each part must be one comparison "
                "(>=, >, <=, <, ==, !=) joined by 'and'"
            )
        for node in (part.left, part.comparators[0]):
            _check_term(node, text)
        comparisons.append(part)
    return Gate(text.strip(), tuple(comparisons))


_BLANKS = str.maketrans("\r\n\t", "   ")


def _syntax_message(text: str, exc: SyntaxError, indent: int) -> str:
    """Where parsing stopped, as a 1-based position in `text` (`indent` blanks were cut)."""
    end = len(text.rstrip()) + 1
    position = (exc.offset or 0) + indent
    if not exc.offset or position >= end:  # CPython says 0 when the text ends too early
        last = re.search(r"(\w+|[^\w\s]+)\s*$", text)
        after = f" after {last.group(1)!r}" if last else ""
        return (
            f"cannot parse --require {_short(text)}: it ends too early, at position {end} "
            f"(something is missing{after}); {_EXAMPLE}"
        )
    near = text[position - 1 : position + 11]
    return (
        f"cannot parse --require {_short(text)}: {exc.msg} at position {position} "
        f"(near {near!r}); {_EXAMPLE}"
    )


def _short(text: str) -> str:
    return repr(text if len(text) <= 80 else text[:77] + "...")


def _check_term(node: ast.expr, text: str) -> None:
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        _check_term(node.left, text)
        _check_term(node.right, text)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        _check_term(node.operand, text)
    elif isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        if isinstance(node.value, bool):
            raise InvalidInput(f"--require {_short(text)}: booleans are not metrics")
    elif isinstance(node, ast.Name) or (
        isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
    ):
        pass
    else:
        raise InvalidInput(
            f"--require {_short(text)}: {ast.unparse(node)!r} is not allowed; use numbers, metric "
            "names (f1), ALIAS.metric (production.f1) and + - * /"
        )


def _value(
    node: ast.expr,
    candidate: Mapping[str, float],
    holders: Mapping[str, Mapping[str, float] | None],
) -> float:
    if isinstance(node, ast.Constant):
        assert isinstance(node.value, int | float)  # checked by parse_gate
        return float(node.value)
    if isinstance(node, ast.UnaryOp):
        return -_value(node.operand, candidate, holders)
    if isinstance(node, ast.BinOp):
        left = _value(node.left, candidate, holders)
        right = _value(node.right, candidate, holders)
        if isinstance(node.op, ast.Div) and right == 0:
            raise InvalidInput(f"--require divides by zero in {ast.unparse(node)!r}")
        return _BINARY[type(node.op)](left, right)
    if isinstance(node, ast.Name):
        if node.id not in candidate:
            raise InvalidInput(
                f"the candidate has no metric {node.id!r}: it has {', '.join(sorted(candidate))}"
            )
        return float(candidate[node.id])
    assert isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
    alias, metric = node.value.id, node.attr
    metrics = holders.get(alias)
    if metrics is None:
        raise _NoHolder(alias)
    if metric not in metrics:
        raise InvalidInput(f"the {alias!r} version has no metric {metric!r}")
    return float(metrics[metric])
