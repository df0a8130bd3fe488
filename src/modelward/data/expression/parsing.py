"""Row-filter expressions, parsed and checked: a small, safe language over columns.

    age >= 18 and city in ['Lyon', 'Paris']
    `annual income` / 12 > 2000 or isnull(income)

The text is parsed with Python's `ast` module and every node is checked against
an allow-list; nothing is ever handed to eval, exec, pandas.eval or query.
Allowed: column names (bare, or in backticks when they are not identifiers),
number/text/bool/None constants, comparisons (chained too), `in`/`not in` a
list literal, `and`/`or`/`not`, `+ - * / %`, unary minus, parentheses, and
`isnull(x)` / `notnull(x)`. A filter is capped at MAX_LENGTH characters and
MAX_DEPTH levels of nesting.

Parsing needs no data (and imports neither numpy nor pandas); the evaluation
over a DataFrame is `modelward.data.expression.evaluation`.
"""

from __future__ import annotations

import ast
import difflib
import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from modelward.errors import InvalidInput

if TYPE_CHECKING:
    import pandas as pd

    from modelward.data.expression.evaluation import Bools

MAX_LENGTH: Final = 10_000
MAX_DEPTH: Final = 100
FUNCTIONS: Final = frozenset({"isnull", "notnull"})

# The arithmetic the language allows, and what each operator does.
ARITHMETIC: Final[dict[type[ast.operator], Callable[[Any, Any], Any]]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Mod: operator.mod,
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
        from modelward.data.expression.evaluation import evaluate

        return evaluate(self, frame)


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
            f"cannot parse {short(text)}: it is too long or too deeply nested"
        ) from None
    checker = _Checker(text, names)
    try:
        checker.check(tree.body, 0)
    except RecursionError:
        raise InvalidInput(f"{short(text)} is nested too deeply") from None
    return Expression(text, frozenset(checker.columns), tree, names)


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
                    f"cannot parse {short(text)}: the backtick at position {position + 1} is "
                    "never closed; write column names with spaces as `annual income`"
                )
            name = text[position + 1 : end]
            if not name.strip():
                raise InvalidInput(
                    f"cannot parse {short(text)}: empty `` at position {position + 1}"
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
            f"cannot parse {short(text)}: single '=' at position {lone_equals + 1}; "
            "use '==' to compare values"
        )
    if not exc.offset:  # CPython reports offset 0 when the text ends too early
        return f"cannot parse {short(text)}: {exc.msg} at the end (is something missing?)"
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
    return f"cannot parse {short(text)}: {exc.msg} at position {position + 1} (near {near!r})"


class _Checker:
    """Walks the tree and refuses every node outside the allow-list."""

    def __init__(self, text: str, names: Mapping[str, str]) -> None:
        self.text = text
        self.names = names
        self.columns: set[str] = set()

    def refuse(self, what: str) -> InvalidInput:
        return InvalidInput(f"{short(self.text)}: not allowed: {what}; {_ALLOWED_HINT}")

    def check(self, node: ast.AST, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise InvalidInput(f"{short(self.text)} is nested more than {MAX_DEPTH} levels deep")
        depth += 1
        if isinstance(node, ast.Constant):
            literal_value(node, self.refuse)
        elif isinstance(node, ast.Name):
            self.name(node.id)
        elif isinstance(node, ast.UnaryOp):
            if type(node.op) in _REFUSED_OPERATORS:
                raise self.refuse(f"operator {_REFUSED_OPERATORS[type(node.op)]}")
            if isinstance(node.op, ast.USub | ast.UAdd) and _is_text(node.operand):
                raise self.refuse("arithmetic on text")
            self.check(node.operand, depth)
        elif isinstance(node, ast.BinOp):
            if type(node.op) not in ARITHMETIC:
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
                kinds = {literal_kind(literal_value(e, self.refuse)) for e in right.elts} - {"none"}
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
                f"{short(self.text)}: calling {called}() is not allowed; only isnull(col) and "
                "notnull(col) can be called"
            )
        if node.keywords or len(node.args) != 1 or isinstance(node.args[0], ast.Starred):
            raise InvalidInput(
                f"{short(self.text)}: {func.id}() takes exactly one column, e.g. {func.id}(age)"
            )
        self.check(node.args[0], depth)


def literal_value(node: ast.AST, refuse: Callable[[str], InvalidInput]) -> Any:
    """The value of a constant (or a signed number); refuse anything else."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        value = literal_value(node.operand, refuse)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise refuse("a sign in front of a non-number")
        return -value if isinstance(node.op, ast.USub) else value
    if not isinstance(node, ast.Constant):
        raise refuse("a list item that is not a constant")
    value = node.value
    if value is not None and not isinstance(value, bool | int | float | str):
        raise refuse(f"the constant {ast.unparse(node)}")
    return value


def literal_kind(value: Any) -> str:
    if value is None:
        return "none"
    return "text" if isinstance(value, str) else "number"


def short(text: str) -> str:
    """The expression quoted for a message, cut short so the message stays one line."""
    return repr(text if len(text) <= 80 else text[:77] + "...")


def _is_none(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _is_text(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)
