"""The run search language: parsed here, turned into bound SQL by the repository.

    metrics.f1 > 0.8 and params.optimizer = 'adam'
    (tags.team = 'risk' or tags.team like 'fraud%') and status != 'failed'
    params.model in ('logistic', 'linear') and not metrics.loss >= 0.5

Keys are `metrics.NAME`, `params.NAME`, `tags.NAME` (quote unusual names with
backticks: ``metrics.`val loss` ``) or a run attribute (`status`, `name`,
`user`, `experiment`, `id`, `git_commit`, `seed`, `start_time`, `end_time`,
optionally written `attributes.status`). Metrics and `seed` compare as
numbers; params, tags and the other attributes as text, with `=`, `!=`,
`like`, `ilike` and `in (...)`; times compare with ISO 8601 strings.

A filter is capped like the transform filter (`modelward.data.expression`):
at most MAX_LENGTH characters, MAX_DEPTH levels of parentheses and `not`, and
MAX_TERMS comparisons (lists of values go in one `in (...)`), so that a long
filter is refused in one line instead of failing in the parser or the
database: SQLite's parser overflows at about 30 nested and/or groups and its
expression trees stop at depth 1,000, and PostgreSQL plans 64 ANDed
comparisons (each a sub-select) in about a second, 250 in a minute.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

from modelward.errors import InvalidInput

MAX_LENGTH: Final = 10_000
MAX_DEPTH: Final = 24
MAX_TERMS: Final = 32
MAX_ORDER_KEYS: Final = 16

Kind = Literal["metric", "param", "tag", "attribute"]

ATTRIBUTES = (
    "id",
    "name",
    "status",
    "user",
    "experiment",
    "git_commit",
    "seed",
    "start_time",
    "end_time",
)
NUMERIC_ATTRIBUTES = ("seed",)
TIME_ATTRIBUTES = ("start_time", "end_time")
_PREFIXES: dict[str, Kind] = {
    "metrics": "metric",
    "metric": "metric",
    "params": "param",
    "param": "param",
    "tags": "tag",
    "tag": "tag",
    "attributes": "attribute",
    "attribute": "attribute",
    "attr": "attribute",
    "run": "attribute",
}
NUMERIC_OPS = ("=", "!=", "<", "<=", ">", ">=")
TEXT_OPS = ("=", "!=", "like", "ilike", "in", "not in")

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)(?![A-Za-z_])
      | (?P<string>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.)*")
      | (?P<op><=|>=|!=|<>|==|=|<|>)
      | (?P<punct>[(),])
      | (?P<ident>(?:[A-Za-z_][A-Za-z0-9_]*|`[^`]+`)(?:\.(?:[A-Za-z_][A-Za-z0-9_.\-/]*|`[^`]+`))?)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Key:
    """What a comparison is about: a metric, param, tag or run attribute, by name."""

    kind: Kind
    name: str

    def __str__(self) -> str:
        return self.name if self.kind == "attribute" else f"{self.kind}s.{self.name}"


@dataclass(frozen=True)
class Comparison:
    """`key op value`; for `in` / `not in` the value is a tuple."""

    key: Key
    op: str
    value: float | str | tuple[float | str, ...]


@dataclass(frozen=True)
class BoolOp:
    """`and` / `or` over two or more operands."""

    op: Literal["and", "or"]
    operands: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    """`not operand`."""

    operand: Node


Node = Comparison | BoolOp | Not


@dataclass(frozen=True)
class OrderBy:
    """One sort key: ascending unless `descending`."""

    key: Key
    descending: bool


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    position: int


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            start = len(text) - len(text[position:].lstrip())
            raise InvalidInput(
                f"cannot parse filter {_short(text)}: unexpected {text[start]!r} at position "
                f"{start + 1}"
            )
        kind = match.lastgroup or ""
        start = match.start(kind)
        tokens.append(_Token(kind, match.group(kind), start))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0
        self.depth = 0
        self.terms = 0

    def fail(self, expected: str) -> InvalidInput:
        token = self.peek()
        if token is None:
            found, where = "the end", len(self.text) + 1
        else:
            found, where = repr(token.text), token.position + 1
        return InvalidInput(
            f"cannot parse filter {_short(self.text)}: expected {expected} at position {where}, "
            f"found {found}"
        )

    def peek(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.peek()
        if token is None:
            raise self.fail("more input")
        self.index += 1
        return token

    def at_word(self, word: str) -> bool:
        token = self.peek()
        return token is not None and token.kind == "ident" and token.text.lower() == word

    def parse(self) -> Node:
        node = self.parse_or()
        if self.peek() is not None:
            raise self.fail("'and', 'or' or the end")
        return node

    def parse_or(self) -> Node:
        operands = [self.parse_and()]
        while self.at_word("or"):
            self.index += 1
            operands.append(self.parse_and())
        return operands[0] if len(operands) == 1 else BoolOp("or", tuple(operands))

    def parse_and(self) -> Node:
        operands = [self.parse_not()]
        while self.at_word("and"):
            self.index += 1
            operands.append(self.parse_not())
        return operands[0] if len(operands) == 1 else BoolOp("and", tuple(operands))

    def parse_not(self) -> Node:
        token = self.peek()
        if self.at_word("not") or (token is not None and token.text == "("):
            self.enter()
            try:
                return self.parse_group()
            finally:
                self.depth -= 1
        return self.parse_comparison()

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            token = self.peek()
            where = token.position + 1 if token is not None else len(self.text) + 1
            raise InvalidInput(
                f"filter {_short(self.text)} is nested more than {MAX_DEPTH} levels deep "
                f"(parentheses and 'not', at position {where}): write it flatter"
            )

    def parse_group(self) -> Node:
        if self.at_word("not"):
            self.index += 1
            return Not(self.parse_not())
        self.index += 1  # the '('
        node = self.parse_or()
        closing = self.peek()
        if closing is None or closing.text != ")":
            raise self.fail("')'")
        self.index += 1
        return node

    def parse_comparison(self) -> Comparison:
        token = self.peek()
        if token is None or token.kind != "ident" or token.text.lower() in ("and", "or"):
            raise self.fail("a key such as metrics.f1, params.lr or status")
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise InvalidInput(
                f"filter {_short(self.text)} has more than {MAX_TERMS} comparisons (the next "
                f"at position {token.position + 1}): use 'in (...)' for lists of values"
            )
        self.index += 1
        key = parse_key(token.text, self.text)
        op = self.parse_operator()
        as_text = not _is_numeric(key)
        if op in ("in", "not in"):
            return _checked(Comparison(key, op, self.parse_list(as_text)), self.text)
        value_token = self.peek()
        value = _literal(value_token, as_text) if value_token is not None else None
        if value is None:
            raise self.fail("a number or a 'quoted string'")
        self.index += 1
        return _checked(Comparison(key, op, value), self.text)

    def parse_operator(self) -> str:
        token = self.peek()
        if token is None:
            raise self.fail("a comparison operator (=, !=, <, <=, >, >=, like, ilike, in)")
        if token.kind == "op":
            self.index += 1
            return {"==": "=", "<>": "!="}.get(token.text, token.text)
        word = token.text.lower() if token.kind == "ident" else ""
        if word in ("like", "ilike", "in"):
            self.index += 1
            return word
        if word == "not":
            self.index += 1
            if self.at_word("in"):
                self.index += 1
                return "not in"
            raise self.fail("'in' after 'not'")
        raise self.fail("a comparison operator (=, !=, <, <=, >, >=, like, ilike, in)")

    def parse_list(self, as_text: bool) -> tuple[float | str, ...]:
        opening = self.peek()
        if opening is None or opening.text != "(":
            raise self.fail("'(' to start the list")
        self.index += 1
        values: list[float | str] = []
        while True:
            value = _literal(self.take(), as_text)
            if value is None:
                self.index -= 1
                raise self.fail("a number or a 'quoted string' in the list")
            values.append(value)
            separator = self.take()
            if separator.text == ")":
                return tuple(values)
            if separator.text != ",":
                self.index -= 1
                raise self.fail("',' or ')'")


def _is_numeric(key: Key) -> bool:
    return key.kind == "metric" or key.name in NUMERIC_ATTRIBUTES


def _literal(token: _Token, as_text: bool) -> float | str | None:
    # A number compared with text (a param, a tag) is matched as it was typed.
    if token.kind == "number":
        return token.text if as_text else float(token.text)
    if token.kind == "string":
        body = token.text[1:-1]
        if token.text[0] == "'":
            body = body.replace("''", "'")
        return re.sub(r"\\(.)", r"\1", body)
    return None


def parse_key(text: str, source: str | None = None) -> Key:
    """`metrics.f1` -> Key("metric", "f1"); a bare attribute -> Key("attribute", name)."""
    head, dot, rest = text.partition(".")
    head = head.strip("`")
    if dot:
        kind = _PREFIXES.get(head.lower())
        if kind is None:
            raise InvalidInput(
                f"unknown key {text!r}{_in(source)}: use metrics.NAME, params.NAME, tags.NAME "
                "or a run attribute"
            )
        name = rest.strip("`")
    else:
        kind, name = "attribute", head
    if kind == "attribute" and name not in ATTRIBUTES:
        raise InvalidInput(
            f"unknown run attribute {name!r}{_in(source)}: use one of {', '.join(ATTRIBUTES)}"
        )
    if not name:
        raise InvalidInput(f"empty key name in {text!r}{_in(source)}")
    return Key(kind, name)


def _in(source: str | None) -> str:
    return f" in {_short(source)}" if source else ""


def _short(text: str) -> str:
    """The filter quoted for a message, cut short so the message stays one line."""
    return repr(text if len(text) <= 80 else text[:77] + "...")


def _checked(comparison: Comparison, source: str) -> Comparison:
    key, op, value = comparison.key, comparison.op, comparison.value
    numeric = _is_numeric(key)
    if numeric and op not in NUMERIC_OPS:
        raise InvalidInput(
            f"{key} compares as a number: use =, !=, <, <=, >, >= (in {_short(source)})"
        )
    values = value if isinstance(value, tuple) else (value,)
    if numeric and not all(isinstance(v, float) for v in values):
        raise InvalidInput(f"{key} compares as a number, got {value!r} (in {_short(source)})")
    if key.kind in ("param", "tag") and op in ("<", "<=", ">", ">="):
        raise InvalidInput(
            f"{key} is text: use =, !=, like, ilike or in; compare metrics for numbers "
            f"(in {_short(source)})"
        )
    return comparison


def parse_filter(text: str | None) -> Node | None:
    """Parse a filter; None or blank means no filter. Errors say where parsing stopped."""
    if text is None or not text.strip():
        return None
    if len(text) > MAX_LENGTH:
        raise InvalidInput(f"a filter is limited to {MAX_LENGTH} characters, got {len(text):,}")
    return _Parser(text).parse()


def parse_order_by(items: Sequence[str] | str | None) -> list[OrderBy]:
    """Parse sort keys: `-metrics.f1`, `metrics.f1 desc`, `start_time asc`."""
    if items is None:
        return []
    if isinstance(items, str):
        items = [part for part in items.split(",") if part.strip()]
    orders: list[OrderBy] = []
    for item in items:
        text = item.strip()
        descending = False
        if text.startswith(("-", "+")):
            descending, text = text[0] == "-", text[1:].strip()
        words = text.rsplit(None, 1)
        if len(words) == 2 and words[1].lower() in ("asc", "desc"):
            text, descending = words[0], words[1].lower() == "desc"
        if not text:
            raise InvalidInput(f"empty --order-by key in {item!r}")
        orders.append(OrderBy(parse_key(text), descending))
    if len(orders) > MAX_ORDER_KEYS:
        raise InvalidInput(f"at most {MAX_ORDER_KEYS} sort keys, got {len(orders)}")
    return orders
