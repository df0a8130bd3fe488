"""The error types of modelward, named by meaning.

    ModelwardError                anything modelward refuses or fails to do
    +-- InvalidInput              bad usage or bad input: a file, a spec, a name, a body
    |   +-- NotFound              an unknown dataset, version, alias, run, model, request
    |   +-- AlreadyExists         a name that is taken
    |   +-- DoesNotFit            well-formed, but does not fit the model (its signature,
    |   |                         its classes, the rows a request had)
    |   +-- TooLarge              over a size limit (a body, a batch)
    |   +-- UnsupportedMediaType  a body of a content type the route does not read
    +-- Conflict                  the state changed under us; retrying may help
    |   +-- GateFailed            a promotion gate's requirement does not hold
    +-- IntegrityError            stored bytes do not match their digest
    +-- AccessDenied              the team server refused the caller
    |   +-- Unauthorized          no token, or a wrong, expired or revoked one
    |   +-- Forbidden             a valid token whose role may not do this
    +-- Unavailable               the team server could not be reached or is overloaded

Each error carries a one-line message that says what was wrong and, where it
helps, what to do, and optionally the input `field` at fault. The errors know
nothing of their audiences: each boundary maps them in one table, the CLI to
exit codes (`modelward.cli.main.EXIT_CODES`), the servers to HTTP statuses
(`modelward.serving.errors.HTTP_ERRORS`), and the remote client back from them
(`modelward.store.remote.ERROR_TYPES`).
"""

from __future__ import annotations


class ModelwardError(Exception):
    """Base class: the work failed."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return self.message


class InvalidInput(ModelwardError):
    """The caller asked for something malformed or impossible."""


class NotFound(InvalidInput):
    """A named thing (dataset, version, alias, run, model) does not exist."""


class AlreadyExists(InvalidInput):
    """A name that must be unique is already taken."""


class DoesNotFit(InvalidInput):
    """Well-formed input that does not fit what it is for (a model's signature or classes)."""


class TooLarge(InvalidInput):
    """Input over a size limit: a request body, the rows of a batch."""


class UnsupportedMediaType(InvalidInput):
    """A body declared as a content type that the receiver does not read."""


class Conflict(ModelwardError):
    """A concurrent change prevented the operation."""


class GateFailed(Conflict):
    """A promotion gate refused to move an alias; the message shows the numbers."""


class IntegrityError(ModelwardError):
    """Stored content does not match the digest it is addressed by."""


class AccessDenied(ModelwardError):
    """The team server refused the request's credentials."""


class Unauthorized(AccessDenied):
    """No token, or one that is wrong, expired or revoked."""


class Forbidden(AccessDenied):
    """A valid token whose role does not allow the operation."""


class Unavailable(ModelwardError):
    """The team server could not be reached (after retries) or asked to come back later."""
