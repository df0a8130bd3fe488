"""Row-filter expressions: a small, safe language evaluated column-wise over a DataFrame.

    age >= 18 and city in ['Lyon', 'Paris']
    `annual income` / 12 > 2000 or isnull(income)

The text is parsed with Python's `ast` module and every node is checked against
an allow-list; nothing is ever handed to eval, exec, pandas.eval or query.
Allowed: column names (bare, or in backticks when they are not identifiers),
number/text/bool/None constants, comparisons (chained too), `in`/`not in` a
list literal, `and`/`or`/`not`, `+ - * / %`, unary minus, parentheses, and
`isnull(x)` / `notnull(x)`.

Missing values follow SQL's three-valued logic: a comparison with a missing
operand is unknown, `and`/`or`/`not` propagate unknowns (False and unknown is
False), and rows whose result is unknown are dropped. `x == None` and
`x is None` mean isnull(x).
"""

from __future__ import annotations

import ast
import difflib
import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd
from pandas.api import types as ptypes

from modelward.errors import InvalidInput

__all__ = ["Expression", "parse_expression", "unknown_columns_message"]

MAX_LENGTH: Final = 10_000
MAX_DEPTH: Final = 100
FUNCTIONS: Final = frozenset({"isnull", "notnull"})

Bools = npt.NDArray[np.bool_]
Truth = Bools | bool

_ARITHMETIC: Final[dict[type[ast.operator], Callable[[Any, Any], Any]]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Mod: operator.mod,
}
_ORDERING: Final[dict[type[ast.cmpop], Callable[[Any, Any], Any]]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
_REFUSED_OPERATORS: Final[dict[type[ast.AST], str]] = {
    ast.Pow: "'**'",
    ast.FloorDiv: "'//'",
    ast.MatMult: "'@'",
    ast.LShift: "'<<'",
    ast.RShift: "'>>'",
    ast.BitAnd: "'&' (use 'and')",
    ast.BitOr: "'|' (use 'or')",
    ast.BitXor: "'^'",
    ast.Invert: "'~' (use 'not')",
}
_REFUSED_NODES: Final[dict[type[ast.AST], str]] = {
    ast.Attribute: "attribute access ('.name')",
    ast.Subscript: "indexing ('x[...]')",
    ast.Lambda: "lambda",
    ast.ListComp: "comprehensions",
    ast.SetComp: "comprehensions",
    ast.DictComp: "comprehensions",
    ast.GeneratorExp: "comprehensions",
    ast.IfExp: "'... if ... else ...'",
    ast.NamedExpr: "assignment (':=')",
    ast.JoinedStr: "f-strings",
    ast.Dict: "dict literals",
    ast.Set: "a set literal outside 'in {...}'",
    ast.List: "a list outside 'in [...]'",
    ast.Tuple: "a tuple outside 'in (...)'",
    ast.Starred: "'*' unpacking",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
}
_ALLOWED_HINT: Final = (
    "use column names, constants, comparisons, and/or/not, + - * / %, "
    "'in [...]', isnull(col) and notnull(col)"
)
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


def unknown_columns_message(missing: Iterable[str], available: Iterable[Any]) -> str:
    """'no column 'x' in the data (did you mean 'y'?); available columns: a, b, ...'."""
    names = [str(c) for c in available]
    missing = list(missing)
    label = "column" if len(missing) == 1 else "columns"
    text = f"no {label} " + ", ".join(repr(m) for m in missing) + " in the data"
    close = difflib.get_close_matches(missing[0], names, n=1, cutoff=0.7) if missing else []
    if close:
        text += f" (did you mean {close[0]!r}?)"
    shown = ", ".join(names[:20]) + (f", ... ({len(names) - 20} more)" if len(names) > 20 else "")
    return f"{text}; available columns: {shown or '(none)'}"


@dataclass(frozen=True)
class Expression:
    """A parsed, checked filter expression; build it with `parse_expression`."""

    text: str
    columns: frozenset[str] = field(compare=False)
    tree: ast.Expression = field(compare=False, repr=False)
    names: Mapping[str, str] = field(compare=False, repr=False)  # identifier -> column name

    def evaluate(self, frame: pd.DataFrame) -> Bools:
        """One bool per row of `frame`: True where the expression holds (unknown is False)."""
        missing = sorted(c for c in self.columns if c not in frame.columns)
        if missing:
            hint = ""
            if any(m in _NULL_WORDS for m in missing):
                hint = " (to test for missing values use isnull(col) or notnull(col))"
            raise InvalidInput(
                f"{_short(self.text)}: {unknown_columns_message(missing, frame.columns)}{hint}"
            )
        evaluator = _Evaluator(frame, self)
        try:
            truth, unknown = evaluator.condition(self.tree.body)
        except (TypeError, ValueError, OverflowError, ZeroDivisionError) as exc:
            raise InvalidInput(f"cannot evaluate {_short(self.text)}: {exc}") from None
        mask = np.logical_and(truth, np.logical_not(unknown))
        return np.broadcast_to(mask, (len(frame),)).copy()


def parse_expression(text: str) -> Expression:
    """Parse and check `text` without any data; raise InvalidInput naming what is wrong."""
    if not isinstance(text, str):
        raise InvalidInput(f"a filter must be text, got {type(text).__name__}")
    if not text.strip():
        raise InvalidInput("a filter cannot be empty; write a condition such as 'age >= 18'")
    if len(text) > MAX_LENGTH:
        raise InvalidInput(f"a filter is limited to {MAX_LENGTH} characters, got {len(text)}")
    source, names, spans, lone_equals = _prepare(text)
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        raise InvalidInput(_syntax_message(text, exc, spans, lone_equals)) from None
    except (RecursionError, MemoryError, ValueError):
        raise InvalidInput(
            f"cannot parse {_short(text)}: it is too long or too deeply nested"
        ) from None
    checker = _Checker(text, names)
    try:
        checker.check(tree.body, 0)
    except RecursionError:
        raise InvalidInput(f"{_short(text)} is nested too deeply") from None
    return Expression(text, frozenset(checker.columns), tree, names)


# -- parsing -------------------------------------------------------------------------


def _prepare(text: str) -> tuple[str, dict[str, str], list[tuple[int, int, int, int]], int | None]:
    """Swap `quoted names` for identifiers; note where a lone '=' is, outside strings.

    Returns the Python source, identifier -> column name, the replaced spans
    (new start, new length, original start, original length) and the position of
    the first lone '='.
    """
    prefix = "_mwcol"
    while prefix in text:
        prefix += "_"
    out: list[str] = []
    names: dict[str, str] = {}
    by_name: dict[str, str] = {}
    spans: list[tuple[int, int, int, int]] = []
    lone_equals: int | None = None
    position, length, quote, new_length = 0, len(text), "", 0
    while position < length:
        char = text[position]
        if quote:
            if char == "\\" and position + 1 < length:
                char = text[position : position + 2]
            elif char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "`":
            end = text.find("`", position + 1)
            if end == -1:
                raise InvalidInput(
                    f"cannot parse {_short(text)}: the backtick at position {position + 1} is "
                    "never closed; write column names with spaces as `annual income`"
                )
            name = text[position + 1 : end]
            if not name.strip():
                raise InvalidInput(
                    f"cannot parse {_short(text)}: empty `` at position {position + 1}"
                )
            ident = by_name.setdefault(name, f"{prefix}{len(by_name)}")
            names[ident] = name
            spans.append((new_length, len(ident), position, end + 1 - position))
            out.append(ident)
            new_length += len(ident)
            position = end + 1
            continue
        elif char in "\r\n\t":
            char = " "
        elif (
            char == "="
            and lone_equals is None
            and (position == 0 or text[position - 1] not in "=!<>:")
            and text[position + 1 : position + 2] != "="
        ):
            lone_equals = position
        out.append(char)
        new_length += len(char)
        position += len(char)
    return "".join(out), names, spans, lone_equals


def _syntax_message(
    text: str,
    exc: SyntaxError,
    spans: list[tuple[int, int, int, int]],
    lone_equals: int | None,
) -> str:
    if lone_equals is not None:
        return (
            f"cannot parse {_short(text)}: single '=' at position {lone_equals + 1}; "
            "use '==' to compare values"
        )
    if not exc.offset:  # CPython reports offset 0 when the text ends too early
        return f"cannot parse {_short(text)}: {exc.msg} at the end (is something missing?)"
    offset = exc.offset - 1
    shift = 0
    for new_start, new_len, old_start, old_len in spans:
        if offset >= new_start + new_len:
            shift += old_len - new_len
        elif offset >= new_start:
            offset, shift = old_start, 0
            break
    position = min(max(offset + shift, 0), len(text))
    near = text[position : position + 12] or "end of text"
    return f"cannot parse {_short(text)}: {exc.msg} at position {position + 1} (near {near!r})"


class _Checker:
    """Walks the tree and refuses every node outside the allow-list."""

    def __init__(self, text: str, names: Mapping[str, str]) -> None:
        self.text = text
        self.names = names
        self.columns: set[str] = set()

    def refuse(self, what: str) -> InvalidInput:
        return InvalidInput(f"{_short(self.text)}: not allowed: {what}; {_ALLOWED_HINT}")

    def check(self, node: ast.AST, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise InvalidInput(f"{_short(self.text)} is nested more than {MAX_DEPTH} levels deep")
        depth += 1
        if isinstance(node, ast.Constant):
            _literal(node, self.refuse)
        elif isinstance(node, ast.Name):
            self.name(node.id)
        elif isinstance(node, ast.UnaryOp):
            if type(node.op) in _REFUSED_OPERATORS:
                raise self.refuse(f"operator {_REFUSED_OPERATORS[type(node.op)]}")
            if isinstance(node.op, ast.USub | ast.UAdd) and _is_text(node.operand):
                raise self.refuse("arithmetic on text")
            self.check(node.operand, depth)
        elif isinstance(node, ast.BinOp):
            if type(node.op) not in _ARITHMETIC:
                raise self.refuse(f"operator {_REFUSED_OPERATORS.get(type(node.op), '?')}")
            if _is_text(node.left) or _is_text(node.right):
                raise self.refuse("arithmetic on text")
            self.check(node.left, depth)
            self.check(node.right, depth)
        elif isinstance(node, ast.BoolOp):
            for value in node.values:
                self.check(value, depth)
        elif isinstance(node, ast.Compare):
            self.compare(node, depth)
        elif isinstance(node, ast.Call):
            self.call(node, depth)
        else:
            what = _REFUSED_NODES.get(type(node), f"{type(node).__name__} syntax")
            raise self.refuse(what)

    def name(self, ident: str) -> None:
        if ident in self.names:
            self.columns.add(self.names[ident])
        elif ident.startswith("__"):
            raise self.refuse(f"the name {ident!r} (names starting with '__')")
        else:
            self.columns.add(ident)

    def compare(self, node: ast.Compare, depth: int) -> None:
        self.check(node.left, depth)
        left: ast.expr = node.left
        for op, right in zip(node.ops, node.comparators, strict=True):
            if isinstance(op, ast.In | ast.NotIn):
                if not isinstance(right, ast.List | ast.Tuple | ast.Set):
                    raise self.refuse("'in' with anything but a list literal such as [1, 2]")
                if len(node.ops) > 1:
                    raise self.refuse("chaining 'in' with other comparisons (use 'and')")
                kinds = {_literal_kind(_literal(e, self.refuse)) for e in right.elts} - {"none"}
                if len(kinds) > 1:
                    raise self.refuse("a list that mixes text and numbers")
            elif isinstance(op, ast.Is | ast.IsNot):
                if not _is_none(right):
                    raise self.refuse("'is' except in 'is None' / 'is not None' (use '==')")
            elif (_is_none(left) or _is_none(right)) and not isinstance(op, ast.Eq | ast.NotEq):
                raise self.refuse("ordering against None (use isnull(col) or notnull(col))")
            else:
                self.check(right, depth)
            left = right

    def call(self, node: ast.Call, depth: int) -> None:
        func = node.func
        if not isinstance(func, ast.Name) or func.id not in FUNCTIONS:
            called = func.id if isinstance(func, ast.Name) else ast.unparse(func)
            raise InvalidInput(
                f"{_short(self.text)}: calling {called}() is not allowed; only isnull(col) and "
                "notnull(col) can be called"
            )
        if node.keywords or len(node.args) != 1 or isinstance(node.args[0], ast.Starred):
            raise InvalidInput(
                f"{_short(self.text)}: {func.id}() takes exactly one column, e.g. {func.id}(age)"
            )
        self.check(node.args[0], depth)


def _literal(node: ast.AST, refuse: Callable[[str], InvalidInput]) -> Any:
    """The value of a constant (or a signed number); refuse anything else."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        value = _literal(node.operand, refuse)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise refuse("a sign in front of a non-number")
        return -value if isinstance(node.op, ast.USub) else value
    if not isinstance(node, ast.Constant):
        raise refuse("a list item that is not a constant")
    value = node.value
    if value is not None and not isinstance(value, bool | int | float | str):
        raise refuse(f"the constant {ast.unparse(node)}")
    return value


def _literal_kind(value: Any) -> str:
    if value is None:
        return "none"
    return "text" if isinstance(value, str) else "number"


def _short(text: str) -> str:
    """The expression quoted for a message, cut short so the message stays one line."""
    return repr(text if len(text) <= 80 else text[:77] + "...")


def _is_none(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _is_text(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


# -- evaluation ------------------------------------------------------------------------


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
        return InvalidInput(f"{_short(self.expression.text)}: {self.describe(node)} {problem}")

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
            data = _ARITHMETIC[type(node.op)](left.data, right.data)
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
                f"{_short(self.expression.text)}: cannot compare {self.describe(left_node)} "
                f"({pair[0]}) with {self.describe(right_node)} ({pair[1]})"
            )
        result = _ORDERING[type(op)](left.data, right.data)
        return _bools(result), np.logical_or(left.unknown, right.unknown)

    def membership(
        self, left_node: ast.AST, left: _Value, items: ast.List | ast.Tuple | ast.Set, negate: bool
    ) -> tuple[Truth, Truth]:
        literals = [_literal(e, lambda what: self.fail(items, what)) for e in items.elts]
        values = [v for v in literals if v is not None]
        kind = _kind(left.data)
        if values and kind != "other" and (kind, _literal_kind(values[0])) not in _COMPARABLE:
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
