"""The datasets of a team server, behind the same port as the local store (`DatasetStore`).

Each call is one `/api/v1/datasets...` request through the workspace's ServerClient.
The bytes of a version travel separately, as an artifact (`RemoteArtifactStore`),
before its record: the server records a version only if its store holds those bytes.
Recording is safe to resend (the same content returns the same version), so it is
retried while the server is briefly unreachable. Who made a version is the server's
to say (the token's name); a client does not send it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from modelward.data.entities import DatasetSummary, DatasetVersion, NewVersion
from modelward.errors import NotFound
from modelward.refs import Ref
from modelward.store.remote import ServerClient


def _name(name: str) -> str:
    return f"/datasets/{quote(name, safe='')}"


def new_version_body(new: NewVersion) -> dict[str, Any]:
    """The body of `POST /datasets/{name}/versions`: what the client measured."""
    return {
        "digest": new.digest,
        "format": new.format,
        "size_bytes": new.size_bytes,
        "n_rows": new.n_rows,
        "schema": [{"name": c.name, "dtype": c.dtype} for c in new.schema],
        "profile": new.profile,
        "source": new.source,
        "parent_id": new.parent_id,
        "spec_digest": new.spec_digest,
        "transform": new.transform,
        "description": new.description,
    }


class RemoteDatasetStore:
    """Datasets on a team server (`/api/v1/datasets`, `/api/v1/dataset-versions`)."""

    def __init__(self, client: ServerClient) -> None:
        self.client = client

    def add_version(self, name: str, new: NewVersion) -> tuple[DatasetVersion, bool]:
        """Record a version whose bytes the server already holds; (version, created)."""
        answer = self.client.post(f"{_name(name)}/versions", new_version_body(new), idempotent=True)
        return DatasetVersion.from_dict(answer["version"]), bool(answer["created"])

    def get(self, ref: Ref) -> DatasetVersion:
        """The version a reference names."""
        selector = str(ref.version) if ref.version is not None else str(ref.alias)
        found = self.client.get(f"{_name(ref.name)}/versions/{quote(selector, safe='')}")
        return DatasetVersion.from_dict(found)

    def find_by_digest(self, name: str, digest: str) -> DatasetVersion | None:
        """The version of `name` holding exactly this content, if there is one."""
        try:
            found = self.client.get(f"{_name(name)}/digests/{quote(digest, safe='')}")
        except NotFound:
            return None
        return DatasetVersion.from_dict(found)

    def get_by_id(self, version_id: int) -> DatasetVersion:
        """A version by its id on the server."""
        return DatasetVersion.from_dict(self.client.get(f"/dataset-versions/{int(version_id)}"))

    def versions(self, name: str) -> list[DatasetVersion]:
        """Every version of a dataset, oldest first."""
        answer = self.client.get(f"{_name(name)}/versions")
        return [DatasetVersion.from_dict(item) for item in answer["versions"]]

    def summaries(self) -> list[DatasetSummary]:
        """Every dataset with its newest version, by name."""
        return [
            DatasetSummary(
                name=item["name"],
                versions=int(item["versions"]),
                latest=DatasetVersion.from_dict(item["latest"]),
            )
            for item in self.client.get("/datasets")["datasets"]
        ]

    def lineage(self, version: DatasetVersion) -> list[DatasetVersion]:
        """The chain of parents of `version`, nearest first."""
        if version.parent_id is None:
            return []
        answer = self.client.get(f"/dataset-versions/{int(version.id)}/lineage")
        return [DatasetVersion.from_dict(item) for item in answer["lineage"]]
