"""The datasets port: what the catalog (and through it training, evaluation, batch
prediction, drift and the CLI) needs from wherever dataset versions are recorded,
a local store (`DatasetRepository`) or a team server (`RemoteDatasetStore`).
`dataset_store(workspace)` picks the adapter once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from modelward.data.entities import DatasetSummary, DatasetVersion, NewVersion
    from modelward.refs import Ref
    from modelward.store.workspace import Workspace


class DatasetStore(Protocol):
    """Datasets and their versions: numbering, lookup by reference, listing."""

    def add_version(self, name: str, new: NewVersion) -> tuple[DatasetVersion, bool]:
        """Record `new` as the next version of `name`; (version, created).

        Identical content (the same digest) returns the existing version, uncreated.
        """
        ...

    def get(self, ref: Ref) -> DatasetVersion:
        """The version a reference names; NotFound names what was missing."""
        ...

    def find_by_digest(self, name: str, digest: str) -> DatasetVersion | None:
        """The version of `name` holding exactly this content, if there is one."""
        ...

    def get_by_id(self, version_id: int) -> DatasetVersion:
        """A version by its id (the id other records point at)."""
        ...

    def versions(self, name: str) -> list[DatasetVersion]:
        """Every version of a dataset, oldest first."""
        ...

    def summaries(self) -> list[DatasetSummary]:
        """Every dataset with its newest version, by name."""
        ...

    def lineage(self, version: DatasetVersion) -> list[DatasetVersion]:
        """The chain of parents of `version`, nearest first."""
        ...


def dataset_store(workspace: Workspace) -> DatasetStore:
    """The datasets of `workspace`: its team server's when it has one, else its own store."""
    if workspace.remote is not None:
        from modelward.data.remote import RemoteDatasetStore

        return RemoteDatasetStore(workspace.remote)
    from modelward.data.repository import DatasetRepository

    return DatasetRepository(workspace.db)
