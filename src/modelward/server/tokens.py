"""API tokens of the team server: roles, hashing, expiry, revocation.

A token is `mw_` + 43 random URL-safe characters (256 bits). Only its sha256 is
stored; the secret is shown once, when it is created. Presented tokens are hashed
and looked up by hash, then compared in constant time. Roles are ordered:
`reader` reads everything, `writer` also writes data, runs, models, unprotected
aliases and feedback, `admin` also moves protected aliases, deletes and manages
tokens.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from modelward.errors import AlreadyExists, InvalidInput, NotFound, Unauthorized
from modelward.identity import current_user
from modelward.refs import validate_name
from modelward.store.database import Database, as_utc
from modelward.store.tables import api_tokens

READER, WRITER, ADMIN = "reader", "writer", "admin"
ROLES = (READER, WRITER, ADMIN)  # each role may do what the ones before it may
TOKEN_PREFIX = "mw_"
_EXPIRY = re.compile(r"(\d{1,5})([mhdw])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_MAX_EXPIRY = timedelta(days=3660)
# a verified token is trusted this long without asking the database again (revocation
# and expiry reach every worker within this time)
_CACHE_SECONDS = 1.0


def check_role(role: str) -> str:
    """`role` if it is one of reader, writer, admin."""
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}: use reader, writer or admin", field="role")
    return role


def role_allows(role: str, required: str) -> bool:
    """Whether a token of `role` may do what `required` may."""
    return ROLES.index(role) >= ROLES.index(required)


def parse_expiry(text: str, *, now: datetime | None = None) -> datetime:
    """`30d`, `12h`, `90m`, `2w` from now, as an aware UTC time."""
    match = _EXPIRY.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise InvalidInput(
            f"bad expiry {text!r}: use a number and a unit, e.g. 90m, 12h, 30d or 2w",
            field="expires",
        )
    span = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    if span <= timedelta(0) or span > _MAX_EXPIRY:
        raise InvalidInput(f"bad expiry {text!r}: between 1 minute and 10 years", field="expires")
    return (now or datetime.now(UTC)) + span


def hash_secret(secret: str) -> str:
    """The stored form of a token (sha256 hex of its UTF-8 bytes)."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: the token's name and role."""

    name: str
    role: str

    def allows(self, required: str) -> bool:
        """Whether this principal's role covers `required`."""
        return role_allows(self.role, required)


@dataclass(frozen=True)
class TokenInfo:
    """A token as listed (never its secret)."""

    name: str
    role: str
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    revoked_at: datetime | None

    def state(self, now: datetime | None = None) -> str:
        """active, expired or revoked."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= (now or datetime.now(UTC)):
            return "expired"
        return "active"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for `mw token list --json` and the API)."""
        return {
            "name": self.name,
            "role": self.role,
            "state": self.state(),
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


class TokenRepository:
    """Tokens of one store."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._verified: dict[str, tuple[float, Principal]] = {}
        self._cache_lock = threading.Lock()

    def create(self, name: str, role: str, *, expires: str | None = None) -> tuple[TokenInfo, str]:
        """A new token; returns it and its secret (shown this once, never stored)."""
        values, secret = _new_token(name, role, expires)
        taken = AlreadyExists(
            f"a token named {name!r} exists (tokens are never renamed or reused): "
            "choose another name"
        )
        try:
            with self.db.write() as conn:
                same = sa.select(api_tokens.c.id).where(api_tokens.c.name == name)
                if conn.execute(same).first() is not None:
                    raise taken
                conn.execute(api_tokens.insert().values(**values))
        except sa.exc.IntegrityError:  # the same name, created by another writer meanwhile
            raise taken from None
        return _info(values), secret

    def create_first(self, name: str, role: str) -> tuple[TokenInfo, str] | None:
        """A token made only if the store has none at all, else None.

        Check and insert are one transaction that excludes every other such
        transaction (SQLite's writers queue; PostgreSQL takes a table lock), so of
        several servers or workers starting on one empty store, one makes the token.
        """
        values, secret = _new_token(name, role, None)
        with self.db.write() as conn:
            if self.db.dialect == "postgresql":
                # SHARE ROW EXCLUSIVE conflicts with itself and with inserts
                conn.execute(sa.text("LOCK TABLE api_tokens IN SHARE ROW EXCLUSIVE MODE"))
            if conn.execute(sa.select(api_tokens.c.id).limit(1)).first() is not None:
                return None
            conn.execute(api_tokens.insert().values(**values))
        return _info(values), secret

    def list(self) -> list[TokenInfo]:
        """Every token, oldest first."""
        with self.db.read() as conn:
            rows = conn.execute(sa.select(api_tokens).order_by(api_tokens.c.id)).mappings()
            return [_info(dict(row)) for row in rows]

    def count_active(self) -> int:
        """How many tokens could authenticate now."""
        return sum(1 for token in self.list() if token.state() == "active")

    def revoke(self, name: str) -> TokenInfo:
        """Revoke a token by name (at once in this process; within a second elsewhere)."""
        now = datetime.now(UTC)
        with self.db.write() as conn:
            row = (
                conn.execute(sa.select(api_tokens).where(api_tokens.c.name == name))
                .mappings()
                .first()
            )
            if row is None:
                raise NotFound(f"no token named {name!r} (see `mw token list`)")
            values = dict(row)
            if values["revoked_at"] is None:
                conn.execute(
                    api_tokens.update().where(api_tokens.c.id == row["id"]).values(revoked_at=now)
                )
                values["revoked_at"] = now
        with self._cache_lock:
            self._verified.clear()
        return _info(values)

    def authenticate(self, secret: str | None) -> Principal:
        """The principal a presented token stands for; Unauthorized if it stands for none."""
        if not secret:
            raise Unauthorized(
                "no API token: send `Authorization: Bearer <token>` (MODELWARD_TOKEN, "
                "or MLFLOW_TRACKING_TOKEN for the MLflow client)"
            )
        digest = hash_secret(secret)
        now = time.monotonic()
        with self._cache_lock:
            cached = self._verified.get(digest)
        if cached is not None and now - cached[0] < _CACHE_SECONDS:
            return cached[1]
        with self.db.read() as conn:
            row = (
                conn.execute(sa.select(api_tokens).where(api_tokens.c.secret_sha256 == digest))
                .mappings()
                .first()
            )
        # the lookup is by hash; the compare is constant-time all the same
        if row is None or not hmac.compare_digest(str(row["secret_sha256"]), digest):
            raise Unauthorized("the API token is not valid")
        info = _info(dict(row))
        state = info.state()
        if state != "active":
            raise Unauthorized(f"the API token {info.name!r} is {state}")
        principal = Principal(name=info.name, role=info.role)
        with self._cache_lock:
            if len(self._verified) > 10_000:
                self._verified.clear()
            self._verified[digest] = (now, principal)
        return principal


def _new_token(name: str, role: str, expires: str | None) -> tuple[dict[str, Any], str]:
    """The row of a new token (checked) and its secret."""
    validate_name(name, "token name")
    check_role(role)
    now = datetime.now(UTC)
    expires_at = parse_expiry(expires, now=now) if expires else None
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    values = {
        "name": name,
        "role": role,
        "secret_sha256": hash_secret(secret),
        "created_at": now,
        "created_by": current_user(),
        "expires_at": expires_at,
        "revoked_at": None,
    }
    return values, secret


def _info(values: dict[str, Any]) -> TokenInfo:
    return TokenInfo(
        name=str(values["name"]),
        role=str(values["role"]),
        created_at=as_utc(values["created_at"]),
        created_by=str(values["created_by"]),
        expires_at=as_utc(values["expires_at"]) if values["expires_at"] else None,
        revoked_at=as_utc(values["revoked_at"]) if values["revoked_at"] else None,
    )
