"""Fired and resolved alerts, as stored for `mw monitor alerts`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from modelward.store.database import Database, as_utc
from modelward.store.tables import alerts


@dataclass(frozen=True)
class StoredAlert:
    """One alert transition (firing or resolved) of a rule."""

    id: int
    rule: str
    metric: str
    state: str
    value: float | None
    model: str | None
    message: str
    details: dict[str, Any]
    webhook: str | None
    at: datetime

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description."""
        return {
            "id": self.id,
            "rule": self.rule,
            "metric": self.metric,
            "state": self.state,
            "value": self.value,
            "model": self.model,
            "message": self.message,
            "details": self.details,
            "webhook": self.webhook,
            "at": self.at.isoformat(),
        }


class AlertRepository:
    """Stores alert transitions and lists them, newest first."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(
        self,
        *,
        rule: str,
        metric: str,
        state: str,
        value: float | None,
        model: str | None,
        message: str,
        details: dict[str, Any],
        webhook: str | None = None,
    ) -> int:
        """Record one transition; returns its id."""
        with self.db.write() as conn:
            return int(
                conn.execute(
                    alerts.insert()
                    .values(
                        rule=rule,
                        metric=metric,
                        state=state,
                        value=value,
                        model_name=model,
                        message=message,
                        details=details,
                        webhook_status=webhook,
                        created_at=datetime.now(UTC),
                    )
                    .returning(alerts.c.id)
                ).scalar_one()
            )

    def set_webhook_status(self, alert_id: int, status: str) -> None:
        """Record how the webhook delivery went."""
        with self.db.write() as conn:
            conn.execute(
                alerts.update().where(alerts.c.id == alert_id).values(webhook_status=status[:200])
            )

    def list(
        self, *, model: str | None = None, state: str | None = None, limit: int = 100
    ) -> list[StoredAlert]:
        """Alert transitions, newest first."""
        query = sa.select(alerts).order_by(alerts.c.id.desc()).limit(limit)
        if model is not None:
            query = query.where(alerts.c.model_name == model)
        if state is not None:
            query = query.where(alerts.c.state == state)
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        return [
            StoredAlert(
                id=r.id,
                rule=r.rule,
                metric=r.metric,
                state=r.state,
                value=r.value,
                model=r.model_name,
                message=r.message,
                details=r.details,
                webhook=r.webhook_status,
                at=as_utc(r.created_at),
            )
            for r in rows
        ]
