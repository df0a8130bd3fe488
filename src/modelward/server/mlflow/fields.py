"""The fields of an MLflow request (a JSON body, or a GET's query string), checked as MLflow does.

    fields = Fields(body)
    run_id = fields.text("run_id", required=True)      # "Missing value for required ..."
    step = fields.integer("step", default=0)            # 5 or "5", as protobuf's JSON allows

Every problem is an `InvalidInput` naming the field, which MLflow's clients get as
INVALID_PARAMETER_VALUE with MLflow's own wording. Page tokens are opaque to clients:
base64 of a small JSON object holding the offset of the next page.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

import orjson

from modelward.errors import InvalidInput

_INT64 = (-(2**63), 2**63 - 1)


def parse_body(body: bytes) -> dict[str, Any]:
    """A request's JSON object; an empty body is `{}`. NaN and Infinity are refused by name."""
    if not body.strip():
        return {}
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if str(exc).startswith("depth limit exceeded"):  # not for the fallback to read
            raise InvalidInput(
                "the request body is nested deeper than 1,024 levels: not a message MLflow sends"
            ) from None
        data = _lenient_json(body)
    if not isinstance(data, dict):
        raise InvalidInput("the request body must be a JSON object")
    return data


def _lenient_json(body: bytes) -> Any:
    # Python's json (which MLflow's client uses) writes NaN for float('nan'); orjson
    # refuses it, so the body is read again only to say what was wrong with it.
    def constant(name: str) -> Any:
        raise InvalidInput(f"a value is {name}: only finite numbers can be logged")

    try:
        return json.loads(body, parse_constant=constant)
    except (ValueError, RecursionError) as exc:
        raise InvalidInput(f"the request body is not valid JSON: {exc}") from None


def query_fields(items: list[tuple[str, str]]) -> dict[str, Any]:
    """A query string as fields: a repeated key becomes a list."""
    fields: dict[str, Any] = {}
    for key, value in items:
        if key in fields:
            previous = fields[key]
            fields[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            fields[key] = value
    return fields


def invalid_value(name: str, value: Any, why: str = "") -> InvalidInput:
    """MLflow's message for a bad field value."""
    shown = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    if len(shown) > 200:
        shown = shown[:197] + "..."
    tail = f": {why}" if why else "."
    return InvalidInput(f"Invalid value {shown} for parameter '{name}' supplied{tail}", field=name)


def missing_value(name: str) -> InvalidInput:
    """MLflow's message for a required field left out."""
    return InvalidInput(f"Missing value for required parameter '{name}'.", field=name)


class Fields:
    """Typed access to the fields of one request or one nested object of it."""

    def __init__(self, data: Mapping[str, Any], prefix: str = "") -> None:
        self.data = data
        self.prefix = prefix

    def _name(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def has(self, name: str) -> bool:
        """Whether the field was sent (null counts as not sent, as in protobuf)."""
        return self.data.get(name) is not None

    def text(
        self, name: str, *, required: bool = False, default: str | None = None, limit: int = 0
    ) -> str | None:
        """A string field; `required` also refuses an empty string (MLflow does)."""
        value = self.data.get(name)
        if value is None or value == "":
            if required:
                raise missing_value(self._name(name))
            return default
        if not isinstance(value, str):
            raise invalid_value(self._name(name), value, f"expected a string, got {_kind(value)}")
        if limit and len(value) > limit:
            raise InvalidInput(
                f"'{self._name(name)}' exceeds the maximum length of {limit} characters",
                field=self._name(name),
            )
        return value

    def required_text(self, name: str, *, limit: int = 0) -> str:
        """A string field that must be sent and not be empty."""
        value = self.text(name, required=True, limit=limit)
        assert value is not None
        return value

    def integer(
        self, name: str, *, required: bool = False, default: int | None = None
    ) -> int | None:
        """A 64-bit integer field, sent as a number or as a string of digits."""
        value = self.data.get(name)
        if value is None or value == "":
            if required:
                raise missing_value(self._name(name))
            return default
        number: int | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        elif isinstance(value, str) and value.strip().lstrip("+-").isdigit():
            number = int(value.strip())
        if number is None or not _INT64[0] <= number <= _INT64[1]:
            raise invalid_value(self._name(name), value, "expected a 64-bit integer")
        return number

    def number(self, name: str, *, required: bool = False) -> float | None:
        """A double field, sent as a number or as a numeric string ("NaN" is refused)."""
        value = self.data.get(name)
        if value is None or value == "":
            if required:
                raise missing_value(self._name(name))
            return None
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise invalid_value(self._name(name), value, "expected a number")
        try:
            return float(value)
        except (ValueError, OverflowError):
            raise invalid_value(self._name(name), value, "expected a number") from None

    def texts(self, name: str, *, limit: int = 10_000) -> list[str]:
        """A repeated string field (a JSON list, or a query key given once or more)."""
        value = self.data.get(name)
        if value is None:
            return []
        items = value if isinstance(value, list) else [value]
        if len(items) > limit:
            raise InvalidInput(
                f"'{self._name(name)}' holds {len(items):,} values; at most {limit:,} are allowed",
                field=self._name(name),
            )
        for item in items:
            if not isinstance(item, str):
                raise invalid_value(self._name(name), value, "expected a list of strings")
        return list(items)

    def objects(self, name: str) -> list[Fields]:
        """A repeated message field: a JSON list of objects."""
        value = self.data.get(name)
        if value is None:
            return []
        if not isinstance(value, list):
            raise invalid_value(self._name(name), value, "expected a list")
        found = []
        for index, item in enumerate(value):
            if not isinstance(item, dict):
                raise invalid_value(f"{self._name(name)}[{index}]", item, "expected an object")
            found.append(Fields(item, f"{self._name(name)}[{index}]."))
        return found

    def key_values(self, name: str) -> list[tuple[str, str]]:
        """A repeated {key, value} field (tags), each key required, values strings."""
        pairs = []
        for item in self.objects(name):
            key = item.required_text("key")
            value = item.text("value", default="")
            assert value is not None
            pairs.append((key, value))
        return pairs


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


def page_token(offset: int) -> str:
    """The opaque token of the page that starts at `offset`."""
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def page_offset(token: str | None) -> int:
    """The offset a page token names (0 without one); a bad token is INVALID_PARAMETER_VALUE."""
    if not token:
        return 0
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError):
        raise InvalidInput(f"Invalid page token {token[:40]!r}: it could not be decoded") from None
    offset = decoded.get("offset") if isinstance(decoded, dict) else None
    if not isinstance(offset, int) or isinstance(offset, bool) or not 0 <= offset < 2**53:
        raise InvalidInput(f"Invalid page token {token[:40]!r}: it names no offset")
    return offset


def max_results(fields: Fields, *, default: int, limit: int, name: str = "max_results") -> int:
    """A page size: positive, at most `limit` (MLflow's bound), else INVALID_PARAMETER_VALUE."""
    value = fields.integer(name, default=default)
    assert value is not None
    if value <= 0 or value > limit:
        raise invalid_value(
            name, value, f"it must be between 1 and {limit:,} (MLflow's bound for this search)"
        )
    return value
