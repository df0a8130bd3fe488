"""The id of a request: the client's `X-Request-ID` when it is sane, else a fresh one."""

from __future__ import annotations

import os
import re

from starlette.types import Scope

REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")  # used with fullmatch: no "\n" at the end
_SCOPE_KEY = "modelward.request_id"


def is_request_id(value: object) -> bool:
    """Whether `value` is a string a request id may be."""
    return isinstance(value, str) and REQUEST_ID.fullmatch(value) is not None


def request_id_of(scope: Scope) -> str:
    """The request's id, chosen once per request (kept in its ASGI scope)."""
    known = scope.get(_SCOPE_KEY)
    if known is not None:
        return str(known)
    given = None
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            given = value
            break
    return set_request_id(scope, given)


def set_request_id(scope: Scope, given: bytes | None) -> str:
    """Choose the request's id from its `X-Request-ID` header value (None: absent)."""
    chosen = given.decode("latin-1") if given is not None else None
    if chosen is None or not is_request_id(chosen):
        chosen = os.urandom(16).hex()  # 128 random bits (uuid4 has 122), at a fifth of its cost
    scope[_SCOPE_KEY] = chosen
    return chosen
