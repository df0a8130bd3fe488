"""Evaluation records: which model was scored on which dataset version, with what result."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from modelward.store.database import Database, as_utc
from modelward.store.tables import dataset_versions, datasets, evaluations


@dataclass(frozen=True)
class EvaluationRecord:
    """A model scored on a dataset version: metrics, and plots by artifact digest."""

    id: int
    model_ref: str
    run_id: str | None
    data: str
    target: str
    task: str
    n_rows: int
    metrics: dict[str, float]
    plots: dict[str, str]
    created_at: datetime
    created_by: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description."""
        return {
            "id": self.id,
            "model": self.model_ref,
            "run_id": self.run_id,
            "data": self.data,
            "target": self.target,
            "task": self.task,
            "n_rows": self.n_rows,
            "metrics": self.metrics,
            "plots": self.plots,
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvaluationRecord:
        """The record `to_dict` described (what the team server answers)."""
        return cls(
            id=int(data["id"]),
            model_ref=data["model"],
            run_id=data["run_id"],
            data=data["data"],
            target=data["target"],
            task=data["task"],
            n_rows=int(data["n_rows"]),
            metrics=data["metrics"],
            plots=data["plots"],
            created_at=datetime.fromisoformat(data["created_at"]),
            created_by=data["created_by"],
        )


_SELECT = (
    sa.select(evaluations, datasets.c.name.label("dataset_name"), dataset_versions.c.version)
    .join(dataset_versions, dataset_versions.c.id == evaluations.c.dataset_version_id)
    .join(datasets, datasets.c.id == dataset_versions.c.dataset_id)
)


class EvaluationRepository:
    """Stores and lists evaluation records."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, values: dict[str, Any]) -> EvaluationRecord:
        """Insert one record (one transaction) and return it."""
        with self.db.write() as conn:
            new_id = conn.execute(
                evaluations.insert()
                .values(**values, created_at=datetime.now(UTC))
                .returning(evaluations.c.id)
            ).scalar_one()
            return _to_record(conn.execute(_SELECT.where(evaluations.c.id == new_id)).one())

    def for_run(self, run_id: str) -> list[EvaluationRecord]:
        """Every evaluation of the model a run trained, oldest first."""
        with self.db.read() as conn:
            rows = conn.execute(
                _SELECT.where(evaluations.c.run_id == run_id).order_by(evaluations.c.id)
            ).all()
        return [_to_record(row) for row in rows]


def _to_record(row: Any) -> EvaluationRecord:
    created = as_utc(row.created_at)
    return EvaluationRecord(
        id=row.id,
        model_ref=row.model_ref,
        run_id=row.run_id,
        data=f"{row.dataset_name}@{row.version}",
        target=row.target,
        task=row.task,
        n_rows=row.n_rows,
        metrics=row.metrics,
        plots=row.plots,
        created_at=created,
        created_by=row.created_by,
    )
