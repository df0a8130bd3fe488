"""Drift reference statistics: computed once per dataset version (and column set), kept in
the artifact store and reused by every later check."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa

from modelward.data.catalog import DatasetCatalog
from modelward.data.entities import DatasetVersion
from modelward.errors import InvalidInput
from modelward.monitoring.drift.reference import ReferenceStats, compute_reference
from modelward.registry.entities import ModelVersion
from modelward.store.tables import drift_references
from modelward.store.workspace import Workspace


def reference_dataset(workspace: Workspace, version: ModelVersion) -> DatasetVersion:
    """The data a model's live inputs should look like: its training data, before the
    stored transform (requests carry raw columns, so drift compares raw columns)."""
    if version.data is None:
        raise InvalidInput(
            f"{version.ref} records no training dataset: give --reference NAME@VERSION"
        )
    catalog = DatasetCatalog(workspace)
    data = catalog.get(version.data)
    if version.transform is not None and data.parent_ref is not None:
        return catalog.get(data.parent_ref)
    return data


def reference_stats(
    workspace: Workspace, dataset: DatasetVersion, columns: Sequence[str]
) -> ReferenceStats:
    """The reference statistics of `columns` of `dataset`, computed on first use only."""
    missing = [name for name in columns if name not in dataset.columns]
    if missing:
        raise InvalidInput(
            f"reference {dataset.ref} lacks column(s) {', '.join(missing)} the model takes"
        )
    key = hashlib.sha256(json.dumps(list(columns)).encode()).hexdigest()
    with workspace.db.read() as conn:
        cached = conn.execute(
            sa.select(drift_references.c.artifact_digest).where(
                drift_references.c.dataset_version_id == dataset.id,
                drift_references.c.columns_digest == key,
            )
        ).scalar()
    if cached is not None and workspace.artifacts.exists(cached):
        try:
            return ReferenceStats.from_bytes(workspace.artifacts.read_bytes(cached))
        except InvalidInput:
            pass  # written by an older format: compute it again below
    with workspace.db.write() as conn:  # (re)computed below: forget a stale entry
        conn.execute(
            drift_references.delete().where(
                drift_references.c.dataset_version_id == dataset.id,
                drift_references.c.columns_digest == key,
            )
        )
    frame = DatasetCatalog(workspace).load_table(dataset).select(list(columns))
    stats = compute_reference(frame, list(columns))
    digest = workspace.artifacts.put_bytes(stats.to_bytes())
    with workspace.db.write() as conn:
        conn.execute(
            workspace.db.upsert(drift_references)
            .values(
                dataset_version_id=dataset.id,
                columns_digest=key,
                artifact_digest=digest,
                created_at=datetime.now(UTC),
            )
            .on_conflict_do_update(
                index_elements=["dataset_version_id", "columns_digest"],
                set_={"artifact_digest": digest},
            )
        )
    return stats
