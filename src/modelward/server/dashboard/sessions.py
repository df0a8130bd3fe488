"""Dashboard sessions: paste a token once, then an HttpOnly, SameSite=Strict cookie.

The cookie holds a random session id; the store keeps only its sha256, the token
it stands for and the session's CSRF secret. A session lives at most
`SESSION_HOURS` and never past its token: a revoked or expired token ends every
session made with it at the next request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from modelward.errors import Unauthorized
from modelward.server.tokens import Principal, TokenRepository, hash_secret
from modelward.store.database import Database, as_utc
from modelward.store.tables import api_tokens, dashboard_sessions

SESSION_HOURS = 12


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
        now = datetime.now(UTC)
        session_id = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        with self.db.write() as conn:
            row = conn.execute(
                sa.select(api_tokens.c.id, api_tokens.c.expires_at).where(
                    api_tokens.c.secret_sha256 == hash_secret(token)
                )
            ).one()
            expires = now + timedelta(hours=hours)
            if row.expires_at is not None:
                expires = min(expires, as_utc(row.expires_at))
            conn.execute(
                dashboard_sessions.insert().values(
                    id_sha256=_hash(session_id),
                    token_id=row.id,
                    csrf=csrf,
                    created_at=now,
                    expires_at=expires,
                )
            )
        return session_id, Session(principal=principal, csrf=csrf, expires_at=expires)

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
        if row.revoked_at is not None or (
            row.token_expires_at is not None and as_utc(row.token_expires_at) <= now
        ):
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


def csrf_matches(session: Session, presented: str | None) -> bool:
    """Whether a form's CSRF field is this session's secret (constant-time)."""
    return bool(presented) and hmac.compare_digest(session.csrf, str(presented))
