"""What a request to /api/v1 must be before a route sees it.

- A JSON body comes as `application/json` (or `application/*+json`) in UTF-8;
  anything else is a 415 that says what the route takes. FastAPI itself would
  hand a CSV or a pickle on to validation, or turn a parse failure into one
  vague 400.
- It is parsed by orjson: nesting past 1,024 levels, `NaN`/`Infinity` and numbers
  past a double's range are a 400 naming the problem.
- No NUL character, in the path, the query or the body: PostgreSQL cannot store
  one, so it is refused the same way on every backend.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request

from modelward.errors import InvalidInput, UnsupportedMediaType

JSON_MEDIA_TYPE = "application/json"
_UTF8 = frozenset({"utf-8", "utf8"})


class OrjsonRequest(Request):
    """A request whose JSON body is parsed by orjson (bounded depth, no NaN or Infinity)."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                parsed = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                problem = str(exc)
                if "infinity when parsed" in problem:  # past a double's range
                    problem = f"a number is too large ({problem})"
                raise InvalidInput(f"the body is not valid JSON: {problem}") from None
            where = _nul_at(parsed) if b"\\u0000" in body else None
            if where is not None:
                raise InvalidInput(
                    f"{where or 'the body'} holds a NUL character (\\u0000), "
                    "which no text may contain",
                    field=where or None,
                )
            self._json = parsed
        return self._json

    async def json_body(self) -> None:
        """Check the content type and parse a JSON body, with modelward's errors (415, 400).

        FastAPI's own parsing turns every failure into one vague 400 and passes a
        body of another type on to validation; parsed here first, it finds it cached.
        """
        if not await self.body():
            return  # a missing body is the validation's to name
        declared = self.headers.get("content-type", "")
        media, charset = media_type(declared)
        if not (
            media == JSON_MEDIA_TYPE
            or (media.startswith("application/") and media.endswith("+json"))
        ):
            got = f"Content-Type {declared[:80]!r}" if declared else "no Content-Type"
            raise UnsupportedMediaType(
                f"this route takes a JSON body (Content-Type: {JSON_MEDIA_TYPE}), "
                f"but the request has {got}",
                field="content-type",
            )
        if charset is not None and charset not in _UTF8:
            raise UnsupportedMediaType(
                f"this route takes a JSON body in UTF-8 (Content-Type: {JSON_MEDIA_TYPE}), "
                f"not charset={charset[:40]!r}",
                field="content-type",
            )
        await self.json()


def media_type(header: str) -> tuple[str, str | None]:
    """The media type of a Content-Type header (lower case) and its charset, if given."""
    media, *parameters = header.split(";")
    charset = None
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    return media.strip().lower(), charset


def refuse_nul(request: Request) -> None:
    """InvalidInput if the path or the query holds a NUL character (no database takes it)."""
    if "\x00" in request.scope["path"]:
        raise InvalidInput("the path holds a NUL character (%00), which no name may contain")
    if any("\x00" in k or "\x00" in v for k, v in request.query_params.multi_items()):
        raise InvalidInput("the query holds a NUL character (%00), which no value may contain")


def _nul_at(value: Any) -> str | None:
    """The dotted path of the first text holding a NUL ("" for the body itself), or None."""
    pending: list[tuple[str, Any]] = [("", value)]
    while pending:
        path, item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return path
        elif isinstance(item, dict):
            for key, inner in item.items():
                child = f"{path}.{key}" if path else str(key)
                if "\x00" in str(key):
                    return path
                pending.append((child, inner))
        elif isinstance(item, list):
            pending.extend(
                (f"{path}.{i}" if path else str(i), inner) for i, inner in enumerate(item)
            )
    return None
