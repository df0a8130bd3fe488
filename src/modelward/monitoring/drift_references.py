"""Where each dataset version's drift reference statistics are kept: a table of the store.

Apart from the drift package so that the team server can answer for it without
loading the statistics code (numpy, pyarrow).
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from modelward.errors import NotFound
from modelward.store.database import Database
from modelward.store.tables import dataset_versions, drift_references


class DriftReferenceRepository:
    """The drift reference cache in the metadata database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def find(self, dataset_version_id: int, columns_digest: str) -> str | None:
        """The artifact digest of the statistics, if they were computed before."""
        with self.db.read() as conn:
            found: str | None = conn.execute(
                sa.select(drift_references.c.artifact_digest).where(
                    drift_references.c.dataset_version_id == dataset_version_id,
                    drift_references.c.columns_digest == columns_digest,
                )
            ).scalar()
        return found

    def put(self, dataset_version_id: int, columns_digest: str, artifact_digest: str) -> None:
        """Remember (or replace) where the statistics are; NotFound for an unknown version."""
        with self.db.write() as conn:
            known = conn.execute(
                sa.select(dataset_versions.c.id).where(dataset_versions.c.id == dataset_version_id)
            ).first()
            if known is None:
                raise NotFound(f"no dataset version has id {dataset_version_id}")
            conn.execute(
                self.db.upsert(drift_references)
                .values(
                    dataset_version_id=dataset_version_id,
                    columns_digest=columns_digest,
                    artifact_digest=artifact_digest,
                    created_at=datetime.now(UTC),
                )
                .on_conflict_do_update(
                    index_elements=["dataset_version_id", "columns_digest"],
                    set_={"artifact_digest": artifact_digest, "created_at": datetime.now(UTC)},
                )
            )
