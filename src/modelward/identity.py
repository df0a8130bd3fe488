"""Who is acting: the login name locally, the token's name on the team server.

Every record that says who made it (a dataset version, a run, a model version, an
alias move) asks `current_user()`. The team server runs each request inside
`acting_as(token_name)`, so its records name the token, never the server's own
login, and a client cannot claim to be someone else.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_acting: ContextVar[str | None] = ContextVar("modelward_acting_as", default=None)


def current_user() -> str:
    """The name records are made under: the acting token's, else the login name."""
    acting = _acting.get()
    if acting is not None:
        return acting
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # some containers have no passwd entry
        return "unknown"


@contextmanager
def acting_as(name: str) -> Iterator[None]:
    """Make `current_user()` answer `name` inside the block (this thread/task only)."""
    reset = _acting.set(name)
    try:
        yield
    finally:
        _acting.reset(reset)
