"""The error types of modelward, named by meaning.

    ModelwardError            anything modelward refuses or fails to do (exit 1)
    +-- InvalidInput          bad usage or bad input: a file, a spec, a name (exit 2, HTTP 400)
    |   +-- NotFound          an unknown dataset, version, alias, run, model (exit 2, HTTP 404)
    |   +-- AlreadyExists     a name that is taken (exit 2, HTTP 409)
    +-- Conflict              the state changed under us; retrying may help (exit 1, HTTP 409)
    |   +-- GateFailed        a promotion gate's requirement does not hold (exit 1, HTTP 409)
    +-- IntegrityError        stored bytes do not match their digest (exit 1, HTTP 500)

Each error carries a one-line message that says what was wrong and, where it
helps, what to do. Exit codes and HTTP statuses are read from the class, in
one place each: the CLI's boundary and the server's boundary.
"""

from __future__ import annotations


class ModelwardError(Exception):
    """Base class: the work failed."""

    exit_code: int = 1
    http_status: int = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidInput(ModelwardError):
    """The caller asked for something malformed or impossible."""

    exit_code = 2
    http_status = 400


class NotFound(InvalidInput):
    """A named thing (dataset, version, alias, run, model) does not exist."""

    http_status = 404


class AlreadyExists(InvalidInput):
    """A name that must be unique is already taken."""

    http_status = 409


class Conflict(ModelwardError):
    """A concurrent change prevented the operation."""

    http_status = 409


class GateFailed(Conflict):
    """A promotion gate refused to move an alias; the message shows the numbers."""


class IntegrityError(ModelwardError):
    """Stored content does not match the digest it is addressed by."""
