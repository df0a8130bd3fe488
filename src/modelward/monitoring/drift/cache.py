"""Drift reference statistics: computed once per dataset version (and column set), kept in
the artifact store and reused by every later check (the team server's store and cache
when the workspace is remote: one serving process computes them for all)."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Sequence

from modelward.data.catalog import DatasetCatalog
from modelward.data.entities import DatasetVersion
from modelward.errors import AccessDenied, InvalidInput
from modelward.monitoring.drift.reference import ReferenceStats, compute_reference
from modelward.monitoring.ports import drift_reference_store
from modelward.registry.entities import ModelVersion
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
    cache = drift_reference_store(workspace)
    cached = cache.find(dataset.id, key)
    if cached is not None and workspace.artifacts.exists(cached):
        try:
            return ReferenceStats.from_bytes(workspace.artifacts.read_bytes(cached))
        except InvalidInput:
            pass  # written by an older format: computed again below, and replaced
    frame = DatasetCatalog(workspace).load_table(dataset).select(list(columns))
    stats = compute_reference(frame, list(columns))
    # a reader's token may check drift, not fill the server's cache
    with contextlib.suppress(AccessDenied):
        cache.put(dataset.id, key, workspace.artifacts.put_bytes(stats.to_bytes()))
    return stats
