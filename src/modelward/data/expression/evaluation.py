"""Evaluating a parsed filter expression column-wise over a pandas DataFrame.

Missing values follow SQL's three-valued logic: a comparison with a missing
operand is unknown, `and`/`or`/`not` propagate unknowns (False and unknown is
False), and rows whose result is unknown are dropped. `x == None` and
`x is None` mean isnull(x). Everything is vectorised: one numpy operation per
node of the expression, none per row.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd
from pandas.api import types as ptypes

from modelward.data.expression.parsing import (
    ARITHMETIC,
    Expression,
    literal_kind,
    literal_value,
    short,
    unknown_columns_message,
)
from modelward.errors import InvalidInput

Bools = npt.NDArray[np.bool_]
Truth = Bools | bool

_ORDERING: Final[dict[type[ast.cmpop], Callable[[Any, Any], Any]]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
_NULL_WORDS: Final = frozenset({"null", "NULL", "Null", "nan", "NaN", "NA", "none"})

_COMPARABLE: Final = frozenset(
    {
        ("number", "number"),
        ("number", "bool"),
        ("bool", "number"),
        ("bool", "bool"),
        ("text", "text"),
        ("datetime", "datetime"),
        ("datetime", "text"),
        ("text", "datetime"),
    }
)


def evaluate(expression: Expression, frame: pd.DataFrame) -> Bools:
    """One bool per row of `frame`: True where `expression` holds (unknown is False)."""
    missing = sorted(c for c in expression.columns if c not in frame.columns)
    if missing:
        hint = ""
        if any(m in _NULL_WORDS for m in missing):
            hint = " (to test for missing values use isnull(col) or notnull(col))"
        raise InvalidInput(
            f"{short(expression.text)}: {unknown_columns_message(missing, frame.columns)}{hint}"
        )
    evaluator = _Evaluator(frame, expression)
    try:
        truth, unknown = evaluator.condition(expression.tree.body)
    except (TypeError, ValueError, OverflowError, ZeroDivisionError) as exc:
        raise InvalidInput(f"cannot evaluate {short(expression.text)}: {exc}") from None
    mask = np.logical_and(truth, np.logical_not(unknown))
    return np.broadcast_to(mask, (len(frame),)).copy()


@dataclass(frozen=True)
class _Value:
    """An operand: a Series, a bool array (a condition) or a Python constant."""

    data: Any
    unknown: Truth


class _Evaluator:
    def __init__(self, frame: pd.DataFrame, expression: Expression) -> None:
        self.frame = frame
        self.expression = expression
        self.cache: dict[str, _Value] = {}

    def describe(self, node: ast.AST) -> str:
        text = ast.unparse(node)
        for ident, name in sorted(self.expression.names.items(), key=lambda p: -len(p[0])):
            text = text.replace(ident, f"`{name}`")
        return text if len(text) <= 40 else text[:37] + "..."

    def fail(self, node: ast.AST, problem: str) -> InvalidInput:
        return InvalidInput(f"{short(self.expression.text)}: {self.describe(node)} {problem}")

    def column(self, ident: str) -> _Value:
        if ident not in self.cache:
            name = self.expression.names.get(ident, ident)
            series = self.frame[name]
            if isinstance(series, pd.DataFrame):
                raise InvalidInput(f"column {name!r} appears more than once in the data")
            series = series.reset_index(drop=True)
            if isinstance(series.dtype, pd.CategoricalDtype):
                series = series.astype(series.cat.categories.dtype)
            self.cache[ident] = _Value(series, series.isna().to_numpy())
        return self.cache[ident]

    def value(self, node: ast.AST) -> _Value:
        if isinstance(node, ast.Constant):
            return _Value(node.value, node.value is None)
        if isinstance(node, ast.Name):
            return self.column(node.id)
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.Not):
                truth, unknown = self.condition(node.operand)
                return _Value(np.logical_not(truth), unknown)
            operand = self.number(node.operand)
            data = -operand.data if isinstance(node.op, ast.USub) else operand.data
            return _Value(data, operand.unknown)
        if isinstance(node, ast.BinOp):
            left, right = self.number(node.left), self.number(node.right)
            data = ARITHMETIC[type(node.op)](left.data, right.data)
            unknown = np.logical_or(left.unknown, right.unknown)
            if isinstance(data, pd.Series):  # 0/0 and x % 0 give NaN: unknown, not a value
                unknown = np.logical_or(unknown, data.isna().to_numpy())
            return _Value(data, unknown)
        if isinstance(node, ast.BoolOp | ast.Compare | ast.Call):
            return _Value(*self.condition(node))
        raise self.fail(node, "is not allowed")  # the checker has refused it already

    def number(self, node: ast.AST) -> _Value:
        value = self.value(node)
        if _kind(value.data) != "number":
            raise self.fail(node, f"is {_kind(value.data)}, not a number; arithmetic needs numbers")
        return value

    def condition(self, node: ast.AST) -> tuple[Truth, Truth]:
        """(truth, unknown) of a boolean sub-expression."""
        if isinstance(node, ast.BoolOp):
            parts = [self.condition(v) for v in node.values]
            truth, unknown = parts[0]
            for other_truth, other_unknown in parts[1:]:
                truth, unknown = _kleene(
                    isinstance(node.op, ast.And), truth, unknown, other_truth, other_unknown
                )
            return truth, unknown
        if isinstance(node, ast.Compare):
            return self.compare(node)
        if isinstance(node, ast.Call):
            unknown = self.value(node.args[0]).unknown
            if isinstance(node.func, ast.Name) and node.func.id == "isnull":
                return unknown, False
            return np.logical_not(unknown), False
        value = self.value(node)
        if _kind(value.data) != "bool":
            raise self.fail(
                node, f"is {_kind(value.data)}, not a condition; compare it, e.g. 'x > 0'"
            )
        return _bools(value.data), value.unknown

    def compare(self, node: ast.Compare) -> tuple[Truth, Truth]:
        left_node: ast.AST = node.left
        left = self.value(left_node)
        truth: Truth = True
        unknown: Truth = False
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            if isinstance(op, ast.In | ast.NotIn):  # the checker allows no chain here
                assert isinstance(right_node, ast.List | ast.Tuple | ast.Set)
                return self.membership(left_node, left, right_node, isinstance(op, ast.NotIn))
            else:
                right = self.value(right_node)
                part = self.ordering(op, left_node, left, right_node, right)
            truth, unknown = _kleene(True, truth, unknown, *part)
            left_node, left = right_node, right
        return truth, unknown

    def ordering(
        self, op: ast.cmpop, left_node: ast.AST, left: _Value, right_node: ast.AST, right: _Value
    ) -> tuple[Truth, Truth]:
        negate = isinstance(op, ast.NotEq | ast.IsNot)
        if left.data is None or right.data is None:  # x == None means isnull(x)
            is_null = np.logical_and(left.unknown, right.unknown)
            return (np.logical_not(is_null) if negate else is_null), False
        pair = (_kind(left.data), _kind(right.data))
        if "other" not in pair and pair not in _COMPARABLE:
            raise InvalidInput(
                f"{short(self.expression.text)}: cannot compare {self.describe(left_node)} "
                f"({pair[0]}) with {self.describe(right_node)} ({pair[1]})"
            )
        result = _ORDERING[type(op)](left.data, right.data)
        return _bools(result), np.logical_or(left.unknown, right.unknown)

    def membership(
        self, left_node: ast.AST, left: _Value, items: ast.List | ast.Tuple | ast.Set, negate: bool
    ) -> tuple[Truth, Truth]:
        literals = [literal_value(e, lambda what: self.fail(items, what)) for e in items.elts]
        values = [v for v in literals if v is not None]
        kind = _kind(left.data)
        if values and kind != "other" and (kind, literal_kind(values[0])) not in _COMPARABLE:
            raise self.fail(left_node, f"is {kind}; it cannot be compared with {values[0]!r}")
        data = left.data
        truth: Truth
        if isinstance(data, pd.Series):
            truth = data.isin(values).to_numpy(dtype=bool)
        elif isinstance(data, np.ndarray):
            truth = np.isin(data, values)
        else:
            truth = data in values
        unknown = left.unknown
        if len(values) < len(literals):  # None in the list matches missing values
            truth, unknown = np.logical_or(truth, unknown), False
        return (np.logical_not(truth) if negate else truth), unknown


def _kleene(
    conjunction: bool, a: Truth, a_unknown: Truth, b: Truth, b_unknown: Truth
) -> tuple[Truth, Truth]:
    """Three-valued and/or: a definite False (and) or True (or) wins over unknown."""
    a_true = np.logical_and(a, np.logical_not(a_unknown))
    b_true = np.logical_and(b, np.logical_not(b_unknown))
    a_false = np.logical_and(np.logical_not(a), np.logical_not(a_unknown))
    b_false = np.logical_and(np.logical_not(b), np.logical_not(b_unknown))
    if conjunction:
        truth, known = np.logical_and(a_true, b_true), np.logical_or(a_false, b_false)
    else:
        truth, known = np.logical_or(a_true, b_true), np.logical_and(a_false, b_false)
    return truth, np.logical_not(np.logical_or(truth, known))


def _bools(data: Any) -> Truth:
    if isinstance(data, pd.Series):
        if data.dtype == np.bool_:
            return data.to_numpy()
        return data.to_numpy(dtype=bool, na_value=False)
    if isinstance(data, np.ndarray):
        return data.astype(bool, copy=False)
    return bool(data)


def _kind(data: Any) -> str:
    """number, bool, text, datetime or other: what a value can be compared with."""
    if isinstance(data, np.ndarray):
        return "bool"
    if isinstance(data, pd.Series):
        dtype = data.dtype
        if ptypes.is_bool_dtype(dtype):
            return "bool"
        if getattr(dtype, "kind", "O") in "iuf":
            return "number"
        if ptypes.is_datetime64_any_dtype(dtype):
            return "datetime"
        if isinstance(dtype, pd.StringDtype):
            return "text"
        if ptypes.is_object_dtype(dtype):
            inferred = pd.api.types.infer_dtype(data, skipna=True)
            return {
                "string": "text",
                "integer": "number",
                "floating": "number",
                "boolean": "bool",
                "empty": "other",
            }.get(inferred, "other")
        return "other"
    if isinstance(data, bool | np.bool_):
        return "bool"
    if isinstance(data, int | float):
        return "number"
    if isinstance(data, str):
        return "text"
    return "other"
