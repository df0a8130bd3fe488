"""MLflow's search syntax, parsed into clauses and then into modelward's run search.

    metrics.f1 > 0.8 and params.optimizer = 'adam' and tags.`team name` LIKE 'risk%'
    attributes.status = 'FINISHED' and attributes.start_time >= 1767225600000
    params.model IN ('a', 'b') and tags.reviewed IS NULL

MLflow joins comparisons with AND only. A clause is `entity.key op value`: entities
are metrics, params, tags and attributes (with MLflow's alternative spellings), keys
may be quoted with backticks or double quotes, strings take single or double quotes.
For runs the clauses become a modelward search tree (`run_condition`), so they run as
bound SQL in `RunRepository.search`; experiments, models and versions are few, and
their clauses are evaluated on the entities (`matches`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from modelward.errors import InvalidInput
from modelward.tracking.search import MAX_LENGTH, MAX_TERMS, BoolOp, Comparison, Key, Node, Not
from modelward.tracking.search import OrderBy as RunOrder

_ENTITIES = {
    "metric": "metric",
    "metrics": "metric",
    "param": "param",
    "params": "param",
    "parameter": "param",
    "parameters": "param",
    "tag": "tag",
    "tags": "tag",
    "attribute": "attribute",
    "attributes": "attribute",
    "attr": "attribute",
    "run": "attribute",
    "dataset": "dataset",
    "datasets": "dataset",
}
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'(?:[^']|'')*'|"(?:[^"\\]|\\.)*")
      | (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)(?![\w.])
      | (?P<op><=|>=|!=|<>|==|=|<|>)
      | (?P<punct>[(),])
      | (?P<ident>(?:`[^`]+`|[A-Za-z_]\w*)(?:\.(?:`[^`]+`|"[^"]+"|[\w.:/\-]+))?)
    )""",
    re.VERBOSE,
)
_WORDS = {"and", "like", "ilike", "in", "not", "is", "null", "asc", "desc"}
NUMERIC_OPS = ("=", "!=", "<", "<=", ">", ">=")
TEXT_OPS = ("=", "!=", "LIKE", "ILIKE", "IN", "NOT IN", "IS NULL", "IS NOT NULL")


@dataclass(frozen=True)
class Clause:
    """One comparison: `kind` is metric, param, tag, attribute or dataset."""

    kind: str
    key: str
    op: str
    value: Any  # float, str, a tuple of str (IN), or None (IS NULL)


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    position: int


def _tokens(text: str) -> list[_Token]:
    found: list[_Token] = []
    position = 0
    while text[position:].strip():
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            start = len(text) - len(text[position:].lstrip())
            raise InvalidInput(
                f"Invalid filter {_short(text)}: unexpected {text[start]!r} at position {start + 1}"
            )
        kind = match.lastgroup or ""
        found.append(_Token(kind, match.group(kind), match.start(kind)))
        position = match.end()
    return found


def _short(text: str) -> str:
    return repr(text if len(text) <= 80 else text[:77] + "...")


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "`\"'":
        body = text[1:-1]
        return body.replace("''", "'") if text[0] == "'" else body
    return text


def parse_key(text: str, *, source: str) -> tuple[str, str]:
    """`metrics.f1` -> ("metric", "f1"); a bare name is an attribute."""
    if text.startswith("`") and text.endswith("`") and "." not in text.strip("`"):
        return "attribute", text[1:-1]
    head, dot, rest = text.partition(".")
    if not dot:
        return "attribute", _unquote(head)
    kind = _ENTITIES.get(_unquote(head).lower())
    if kind is None:
        raise InvalidInput(
            f"Invalid entity type {head!r} in {_short(source)}: use metrics, params, tags or "
            "attributes"
        )
    key = _unquote(rest)
    if not key:
        raise InvalidInput(f"Invalid filter {_short(source)}: {text!r} names no key")
    return kind, key


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.index = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def word(self) -> str:
        token = self.peek()
        return token.text.lower() if token is not None and token.kind == "ident" else ""

    def fail(self, expected: str) -> InvalidInput:
        token = self.peek()
        found = "the end" if token is None else repr(token.text)
        where = len(self.text) + 1 if token is None else token.position + 1
        return InvalidInput(
            f"Invalid filter {_short(self.text)}: expected {expected} at position {where}, "
            f"found {found} (MLflow's syntax: comparisons joined by AND)"
        )

    def take(self, expected: str) -> _Token:
        token = self.peek()
        if token is None:
            raise self.fail(expected)
        self.index += 1
        return token

    def clauses(self) -> list[Clause]:
        found = [self.clause()]
        while self.word() == "and":
            self.index += 1
            found.append(self.clause())
        if self.peek() is not None:
            raise self.fail("AND or the end")
        if len(found) > MAX_TERMS:
            raise InvalidInput(
                f"Invalid filter {_short(self.text)}: more than {MAX_TERMS} comparisons"
            )
        return found

    def clause(self) -> Clause:
        token = self.peek()
        if token is None or token.kind != "ident" or token.text.lower() in _WORDS:
            raise self.fail("a key such as metrics.f1, params.lr or attributes.status")
        self.index += 1
        kind, key = parse_key(token.text, source=self.text)
        op = self.operator()
        if op in ("IS NULL", "IS NOT NULL"):
            return Clause(kind, key, op, None)
        if op in ("IN", "NOT IN"):
            return Clause(kind, key, op, self.values())
        value = self.take("a value")
        if value.kind == "number":
            return Clause(kind, key, op, float(value.text))
        if value.kind == "string":
            return Clause(kind, key, op, _unquote(value.text))
        self.index -= 1
        raise self.fail("a number or a quoted string")

    def operator(self) -> str:
        token = self.peek()
        if token is not None and token.kind == "op":
            self.index += 1
            return {"==": "=", "<>": "!="}.get(token.text, token.text)
        word = self.word()
        if word in ("like", "ilike", "in"):
            self.index += 1
            return word.upper()
        if word == "not":
            self.index += 1
            if self.word() == "in":
                self.index += 1
                return "NOT IN"
            raise self.fail("IN after NOT")
        if word == "is":
            self.index += 1
            negated = self.word() == "not"
            if negated:
                self.index += 1
            if self.word() != "null":
                raise self.fail("NULL")
            self.index += 1
            return "IS NOT NULL" if negated else "IS NULL"
        raise self.fail("a comparison (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, IS NULL)")

    def values(self) -> tuple[str, ...]:
        if self.take("'('").text != "(":
            self.index -= 1
            raise self.fail("'(' to start the list")
        values: list[str] = []
        while True:
            value = self.take("a quoted string")
            if value.kind != "string":
                self.index -= 1
                raise self.fail("a quoted string in the list")
            values.append(_unquote(value.text))
            separator = self.take("',' or ')'")
            if separator.text == ")":
                return tuple(values)
            if separator.text != ",":
                self.index -= 1
                raise self.fail("',' or ')'")


def parse_clauses(text: str | None) -> list[Clause]:
    """The clauses of an MLflow filter (none for an empty one)."""
    if text is None or not text.strip():
        return []
    if len(text) > MAX_LENGTH:
        raise InvalidInput(f"a filter is limited to {MAX_LENGTH:,} characters, got {len(text):,}")
    return _Parser(text).clauses()


# -- runs ---------------------------------------------------------------------------
RUN_ATTRIBUTES = {
    "run_id": "id",
    "run_name": "name",
    "run name": "name",
    "Run name": "name",
    "Run Name": "name",
    "status": "status",
    "user_id": "user",
    "start_time": "start_time",
    "created": "start_time",
    "Created": "start_time",
    "end_time": "end_time",
}
_TIME_ATTRIBUTES = ("start_time", "end_time")
# MLflow's statuses as stored by modelward (KILLED runs are stored failed)
STATUS_TO_MODELWARD = {
    "RUNNING": "running",
    "SCHEDULED": "running",
    "FINISHED": "finished",
    "FAILED": "failed",
    "KILLED": "failed",
}


def _run_key(clause: Clause, source: str) -> Key:
    if clause.kind == "dataset":
        raise InvalidInput(f"Invalid filter {_short(source)}: dataset filters are not supported")
    if clause.kind != "attribute":
        return Key(clause.kind, clause.key)  # type: ignore[arg-type]
    name = RUN_ATTRIBUTES.get(clause.key)
    if name is None:
        raise InvalidInput(
            f"Invalid attribute key {clause.key!r} in {_short(source)}: use one of "
            "run_id, run_name, status, user_id, start_time, end_time"
        )
    return Key("attribute", name)


def _run_comparison(clause: Clause, source: str) -> Node:
    key = _run_key(clause, source)
    numeric = key.kind == "metric" or key.name in _TIME_ATTRIBUTES
    allowed = NUMERIC_OPS if numeric else TEXT_OPS
    if clause.op not in allowed:
        raise InvalidInput(
            f"Invalid comparator {clause.op!r} for {clause.kind} {clause.key!r} in "
            f"{_short(source)}: use one of {', '.join(allowed)}"
        )
    if clause.op in ("IS NULL", "IS NOT NULL"):
        present: Node = Comparison(key, "like", "%")
        return Not(present) if clause.op == "IS NULL" else present
    if numeric and not isinstance(clause.value, float):
        raise InvalidInput(
            f"Expected a number for {clause.kind} {clause.key!r} in {_short(source)}, "
            f"found {clause.value!r}"
        )
    if not numeric and isinstance(clause.value, float):
        raise InvalidInput(
            f"Expected a quoted string value for {clause.kind} {clause.key!r} in "
            f"{_short(source)} (e.g. 'my-value')"
        )
    value: Any = clause.value
    if key.name in _TIME_ATTRIBUTES and key.kind == "attribute":
        value = datetime.fromtimestamp(value / 1000, UTC).isoformat()
    elif key.name == "status" and key.kind == "attribute":
        value = (
            tuple(STATUS_TO_MODELWARD.get(v, v) for v in value)
            if isinstance(value, tuple)
            else STATUS_TO_MODELWARD.get(value, value)
        )
    op = clause.op.lower() if clause.op in ("LIKE", "ILIKE", "IN", "NOT IN") else clause.op
    return Comparison(key, op, value)


def run_condition(text: str | None, experiments: Sequence[str]) -> Node:
    """The modelward search tree of an MLflow run filter, within `experiments` (names)."""
    clauses = parse_clauses(text)
    within: Node = Comparison(Key("attribute", "experiment"), "in", tuple(experiments))
    nodes = [within, *(_run_comparison(clause, text or "") for clause in clauses)]
    return nodes[0] if len(nodes) == 1 else BoolOp("and", tuple(nodes))


def run_order(items: Sequence[str]) -> list[RunOrder]:
    """MLflow's `order_by` for runs: `metrics.f1 DESC`, `attributes.start_time ASC`, `params.p`."""
    orders = []
    for item in items:
        tokens = _tokens(item)
        descending = False
        if len(tokens) == 2 and tokens[1].text.lower() in ("asc", "desc"):
            descending = tokens[1].text.lower() == "desc"
            tokens = tokens[:1]
        if len(tokens) != 1 or tokens[0].kind != "ident":
            raise InvalidInput(f"Invalid order_by clause {item!r}: could not be parsed")
        kind, key = parse_key(tokens[0].text, source=item)
        orders.append(RunOrder(_run_key(Clause(kind, key, "=", ""), item), descending))
    return orders


# -- entities evaluated here (experiments, models, versions) ------------------------------
def _like(pattern: str, *, ignore_case: bool) -> re.Pattern[str]:
    parts = [".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern]
    return re.compile("".join(parts), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def holds(op: str, actual: Any, wanted: Any) -> bool:
    """Whether `actual op wanted`. A missing value (None) differs from every value, as
    MLflow's client expects: it excludes prompts with `tags.mlflow.prompt.is_prompt !=
    'true'` and means every model that lacks that tag."""
    if op == "IS NULL":
        return actual is None
    if op == "IS NOT NULL":
        return actual is not None
    if actual is None:
        return op in ("!=", "NOT IN")
    if op in ("LIKE", "ILIKE"):
        return _like(str(wanted), ignore_case=op == "ILIKE").fullmatch(str(actual)) is not None
    if op == "IN":
        return str(actual) in wanted
    if op == "NOT IN":
        return str(actual) not in wanted
    if isinstance(wanted, float):
        try:
            actual = float(actual)
        except (TypeError, ValueError):
            return False
    else:
        actual = str(actual)
    comparisons: dict[str, Callable[[Any, Any], bool]] = {
        "=": lambda a, b: bool(a == b),
        "!=": lambda a, b: bool(a != b),
        "<": lambda a, b: bool(a < b),
        "<=": lambda a, b: bool(a <= b),
        ">": lambda a, b: bool(a > b),
        ">=": lambda a, b: bool(a >= b),
    }
    return comparisons[op](actual, wanted)


def checked(
    clauses: list[Clause], attributes: dict[str, str], *, tags: bool, source: str
) -> list[Clause]:
    """Clauses limited to `attributes` (name -> "number"/"text") and, when `tags`, tags."""
    for clause in clauses:
        if clause.kind == "tag" and tags:
            continue
        if clause.kind != "attribute" or clause.key not in attributes:
            raise InvalidInput(
                f"Invalid filter {_short(source)}: {clause.kind} {clause.key!r} cannot be "
                f"searched here; use {', '.join(attributes)}{' or tags.<key>' if tags else ''}"
            )
        numeric = attributes[clause.key] == "number"
        allowed = NUMERIC_OPS if numeric else TEXT_OPS
        if clause.op not in allowed or (
            clause.op not in ("IN", "NOT IN", "IS NULL", "IS NOT NULL")
            and isinstance(clause.value, float) != numeric
        ):
            raise InvalidInput(
                f"Invalid filter {_short(source)}: {clause.key} {clause.op} {clause.value!r} "
                f"compares a {'number' if numeric else 'string'} with {', '.join(allowed)}"
            )
    return clauses


def matches(clauses: list[Clause], value_of: Callable[[Clause], Any]) -> bool:
    """Whether an entity (whose values `value_of` gives) satisfies every clause."""
    return all(holds(clause.op, value_of(clause), clause.value) for clause in clauses)
