"""Dashboard sessions: paste a token once, then an HttpOnly, SameSite=Strict cookie.

The cookie holds a random session id; the store keeps only its sha256, the token
it stands for and the session's CSRF secret. A session lives at most
`SESSION_HOURS` and never past its token: a revoked or expired token ends every
session made with it at the next request.

A one-time sign-in link (`/login/once/CODE`, what `mw demo` prints) stands for a
token without showing it: the store keeps the code's sha256, the code works once
and for `LOGIN_CODE_MINUTES` at most, and what it opens is an ordinary session.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from modelward.errors import Unauthorized
from modelward.server.tokens import Principal, TokenRepository, hash_secret
from modelward.store.database import Database, as_utc
from modelward.store.tables import api_tokens, dashboard_login_codes, dashboard_sessions

SESSION_HOURS = 12
LOGIN_CODE_MINUTES = 15


@dataclass(frozen=True)
class Session:
    """A signed-in browser: who it acts as and the secret its forms must carry."""

    principal: Principal
    csrf: str
    expires_at: datetime


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).hexdigest()


class SessionRepository:
    """Dashboard sessions of one store."""

    def __init__(self, db: Database, tokens: TokenRepository) -> None:
        self.db = db
        self.tokens = tokens

    def open(self, token: str, *, hours: int = SESSION_HOURS) -> tuple[str, Session]:
        """A session for a valid token: (cookie value, session). Unauthorized otherwise."""
        principal = self.tokens.authenticate(token)
        with self.db.write() as conn:
            row = conn.execute(
                sa.select(api_tokens.c.id, api_tokens.c.expires_at).where(
                    api_tokens.c.secret_sha256 == hash_secret(token)
                )
            ).one()
            return _insert_session(conn, principal, row.id, row.expires_at, hours)

    def issue_login_code(self, token_name: str, *, minutes: int = LOGIN_CODE_MINUTES) -> str:
        """A code that signs a browser in once as the live token `token_name`."""
        now = datetime.now(UTC)
        code = secrets.token_urlsafe(32)
        with self.db.write() as conn:
            row = conn.execute(
                sa.select(api_tokens.c.id, api_tokens.c.revoked_at, api_tokens.c.expires_at).where(
                    api_tokens.c.name == token_name
                )
            ).first()
            if row is None or not _token_live(row.revoked_at, row.expires_at, now):
                raise Unauthorized(f"no live token is named {token_name!r}")
            conn.execute(
                dashboard_login_codes.insert().values(
                    code_sha256=_hash(code),
                    token_id=row.id,
                    created_at=now,
                    expires_at=now + timedelta(minutes=minutes),
                )
            )
        return code

    def login_code_holder(self, code: str) -> str:
        """The name of the token an unused, unexpired code signs in as; Unauthorized otherwise."""
        with self.db.read() as conn:
            row = _code_row(conn, code)
        return str(_live_code(row, datetime.now(UTC)).name)

    def redeem_login_code(self, code: str, *, hours: int = SESSION_HOURS) -> tuple[str, Session]:
        """The session a one-time code opens; the code is spent whether or not it still works."""
        now = datetime.now(UTC)
        with self.db.write() as conn:
            row = _code_row(conn, code)
            if row is not None:
                spent = conn.execute(
                    dashboard_login_codes.delete().where(
                        dashboard_login_codes.c.code_sha256 == row.code_sha256
                    )
                ).rowcount
                row = row if spent == 1 else None  # another request spent it first
            live = _live_code(row, now)
            principal = Principal(name=str(live.name), role=str(live.role))
            opened = _insert_session(conn, principal, live.token_id, live.expires_at, hours)
            conn.execute(
                dashboard_login_codes.delete().where(dashboard_login_codes.c.expires_at < now)
            )
        return opened

    def authenticate(self, session_id: str | None) -> Session:
        """The live session a cookie names; Unauthorized for a stale, forged or ended one."""
        if not session_id:
            raise Unauthorized("not signed in")
        digest = _hash(session_id)
        now = datetime.now(UTC)
        with self.db.read() as conn:
            row = conn.execute(
                sa.select(
                    dashboard_sessions.c.id_sha256,
                    dashboard_sessions.c.csrf,
                    dashboard_sessions.c.expires_at,
                    api_tokens.c.name,
                    api_tokens.c.role,
                    api_tokens.c.revoked_at,
                    api_tokens.c.expires_at.label("token_expires_at"),
                )
                .join(api_tokens, api_tokens.c.id == dashboard_sessions.c.token_id)
                .where(dashboard_sessions.c.id_sha256 == digest)
            ).first()
        if row is None or not hmac.compare_digest(str(row.id_sha256), digest):
            raise Unauthorized("the session is not valid: sign in again")
        if as_utc(row.expires_at) <= now:
            raise Unauthorized("the session expired: sign in again")
        if not _token_live(row.revoked_at, row.token_expires_at, now):
            raise Unauthorized(f"the token {row.name!r} of this session no longer works")
        return Session(
            principal=Principal(name=str(row.name), role=str(row.role)),
            csrf=str(row.csrf),
            expires_at=as_utc(row.expires_at),
        )

    def close(self, session_id: str | None) -> None:
        """End a session (logout); unknown ids are ignored."""
        if not session_id:
            return
        with self.db.write() as conn:
            conn.execute(
                dashboard_sessions.delete().where(
                    dashboard_sessions.c.id_sha256 == _hash(session_id)
                )
            )
            # expired sessions are swept on the way
            conn.execute(
                dashboard_sessions.delete().where(
                    dashboard_sessions.c.expires_at < datetime.now(UTC)
                )
            )


def _token_live(revoked_at: datetime | None, expires_at: datetime | None, now: datetime) -> bool:
    return revoked_at is None and (expires_at is None or as_utc(expires_at) > now)


def _insert_session(
    conn: sa.Connection,
    principal: Principal,
    token_id: int,
    token_expires_at: datetime | None,
    hours: int,
) -> tuple[str, Session]:
    now = datetime.now(UTC)
    session_id = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    expires = now + timedelta(hours=hours)
    if token_expires_at is not None:
        expires = min(expires, as_utc(token_expires_at))
    conn.execute(
        dashboard_sessions.insert().values(
            id_sha256=_hash(session_id),
            token_id=token_id,
            csrf=csrf,
            created_at=now,
            expires_at=expires,
        )
    )
    return session_id, Session(principal=principal, csrf=csrf, expires_at=expires)


def _code_row(conn: sa.Connection, code: str) -> Any:
    digest = _hash(code)
    row = conn.execute(
        sa.select(
            dashboard_login_codes.c.code_sha256,
            dashboard_login_codes.c.token_id,
            dashboard_login_codes.c.expires_at.label("code_expires_at"),
            api_tokens.c.name,
            api_tokens.c.role,
            api_tokens.c.revoked_at,
            api_tokens.c.expires_at,
        )
        .join(api_tokens, api_tokens.c.id == dashboard_login_codes.c.token_id)
        .where(dashboard_login_codes.c.code_sha256 == digest)
    ).first()
    if row is None or not hmac.compare_digest(str(row.code_sha256), digest):
        return None
    return row


def _live_code(row: Any, now: datetime) -> Any:
    if row is None or as_utc(row.code_expires_at) <= now:
        raise Unauthorized("this sign-in link was used already or has expired: ask for a new one")
    if not _token_live(row.revoked_at, row.expires_at, now):
        raise Unauthorized(f"the token {row.name!r} of this sign-in link no longer works")
    return row


def csrf_matches(session: Session, presented: str | None) -> bool:
    """Whether a form's CSRF field is this session's secret (constant-time)."""
    return bool(presented) and hmac.compare_digest(session.csrf, str(presented))
