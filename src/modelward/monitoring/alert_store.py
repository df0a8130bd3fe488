"""Fired and resolved alerts, as stored for `mw monitor alerts`, and the state of each rule."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from modelward.errors import NotFound
from modelward.monitoring.alert_events import RuleStatus
from modelward.store.database import Database, as_utc
from modelward.store.tables import alert_states, alerts


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

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StoredAlert:
        """The alert a `to_dict()` describes."""
        return cls(
            id=int(data["id"]),
            rule=data["rule"],
            metric=data["metric"],
            state=data["state"],
            value=data["value"],
            model=data["model"],
            message=data["message"],
            details=data["details"],
            webhook=data["webhook"],
            at=datetime.fromisoformat(data["at"]),
        )


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
        client_id: str | None = None,
    ) -> int:
        """Record one transition; returns its id. An alert sent again with the same
        `client_id` (a remote monitor's retry) is stored once: the first one's id."""
        values = {
            "rule": rule,
            "metric": metric,
            "state": state,
            "value": value,
            "model_name": model,
            "message": message,
            "details": details,
            "webhook_status": webhook,
            "created_at": datetime.now(UTC),
        }
        with self.db.write() as conn:
            if client_id is None:
                return int(
                    conn.execute(
                        alerts.insert().values(**values).returning(alerts.c.id)
                    ).scalar_one()
                )
            conn.execute(
                self.db.upsert(alerts)
                .values(**values, client_id=client_id)
                .on_conflict_do_nothing(index_elements=["client_id"])
            )
            return int(
                conn.execute(
                    sa.select(alerts.c.id).where(alerts.c.client_id == client_id)
                ).scalar_one()
            )

    def set_webhook_status(self, alert_id: int, status: str) -> None:
        """Record how the webhook delivery went; NotFound for an unknown alert."""
        with self.db.write() as conn:
            updated = conn.execute(
                alerts.update().where(alerts.c.id == alert_id).values(webhook_status=status[:200])
            )
            if updated.rowcount == 0:
                raise NotFound(f"no alert has id {alert_id}: see `mw monitor alerts`")

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


class AlertStateRepository:
    """Where each alert rule of a model stands, kept so a restarted monitor resumes it.

    A state is stored with the digest of its rule: after the rule was edited, the
    old state no longer applies and is not returned.
    """

    def __init__(self, db: Database) -> None:
        self.db = db

    def load(self, model: str, digests: Mapping[str, str]) -> list[RuleStatus]:
        """The stored states of `model`'s rules, for the rules whose digest still matches."""
        stored = self.states(model)
        return [status for digest, status in stored if digests.get(status.rule) == digest]

    def states(self, model: str) -> list[tuple[str, RuleStatus]]:
        """(rule digest, status) of every stored rule of `model`, by rule name."""
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(alert_states)
                .where(alert_states.c.model_name == model)
                .order_by(alert_states.c.rule)
            ).all()
        return [
            (
                r.rule_digest,
                RuleStatus(
                    r.rule, "", r.state, r.since, r.fired_at, r.value, r.zscore, r.evaluated_at
                ),
            )
            for r in rows
        ]

    def clear(self, model: str) -> None:
        """Forget the stored states of `model`'s rules (its next monitor starts inactive)."""
        with self.db.write() as conn:
            conn.execute(alert_states.delete().where(alert_states.c.model_name == model))

    def save(self, model: str, statuses: Sequence[tuple[str, RuleStatus]]) -> None:
        """Store (digest, status) of each rule, replacing what was there, in one transaction."""
        if not statuses:
            return
        now = datetime.now(UTC)
        with self.db.write() as conn:
            for digest, status in statuses:
                values = {
                    "rule_digest": digest,
                    "state": status.state,
                    "since": status.since,
                    "fired_at": status.fired_at,
                    "value": _finite(status.value),
                    "zscore": _finite(status.zscore),
                    "evaluated_at": status.evaluated_at,
                    "updated_at": now,
                }
                upsert = self.db.upsert(alert_states)
                conn.execute(
                    upsert.values(
                        model_name=model, rule=status.rule, **values
                    ).on_conflict_do_update(index_elements=["model_name", "rule"], set_=values)
                )


def _finite(value: float | None) -> float | None:
    return value if value is None or math.isfinite(value) else None
