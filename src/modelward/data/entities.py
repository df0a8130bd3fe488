"""Dataset domain objects: plain frozen values, no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class ColumnSchema:
    """One column's name and Arrow type."""

    name: str
    dtype: str


@dataclass(frozen=True, repr=False)
class DatasetVersion:
    """An immutable version of a dataset, identified by the sha256 of its stored bytes."""

    id: int
    name: str
    version: int
    digest: str
    format: str
    size_bytes: int
    n_rows: int
    schema: tuple[ColumnSchema, ...]
    profile: dict[str, Any]
    source: dict[str, Any]
    created_at: datetime
    created_by: str
    parent_id: int | None = None
    parent_ref: str | None = None
    spec_digest: str | None = None
    transform: dict[str, Any] | None = None
    description: str | None = None

    def __repr__(self) -> str:
        # The profile and schema can run to megabytes: show what identifies the version.
        parent = f", parent={self.parent_ref!r}" if self.parent_ref else ""
        return (
            f"DatasetVersion({self.ref!r}, rows={self.n_rows}, columns={len(self.schema)}, "
            f"format={self.format!r}, sha256={self.digest[:12]!r}{parent}, "
            f"created={self.created_at:%Y-%m-%d %H:%M:%S})"
        )

    @property
    def ref(self) -> str:
        """The exact reference, `name@version`."""
        return f"{self.name}@{self.version}"

    @property
    def columns(self) -> list[str]:
        """Column names in order."""
        return [column.name for column in self.schema]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description (what `--json` prints)."""
        return {
            "ref": self.ref,
            "name": self.name,
            "version": self.version,
            "digest": self.digest,
            "format": self.format,
            "size_bytes": self.size_bytes,
            "n_rows": self.n_rows,
            "n_columns": len(self.schema),
            "schema": [{"name": c.name, "dtype": c.dtype} for c in self.schema],
            "source": self.source,
            "parent": self.parent_ref,
            "spec_digest": self.spec_digest,
            "transform": self.transform,
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
            "description": self.description,
            "profile": self.profile,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DatasetVersion:
        """The version `to_dict()` described, given also its `id` and `parent_id`
        (the team server's answers carry both)."""
        return cls(
            id=int(data["id"]),
            name=data["name"],
            version=int(data["version"]),
            digest=data["digest"],
            format=data["format"],
            size_bytes=int(data["size_bytes"]),
            n_rows=int(data["n_rows"]),
            schema=tuple(ColumnSchema(c["name"], c["dtype"]) for c in data["schema"]),
            profile=data["profile"],
            source=data["source"],
            created_at=datetime.fromisoformat(data["created_at"]),
            created_by=data["created_by"],
            parent_id=None if data.get("parent_id") is None else int(data["parent_id"]),
            parent_ref=data.get("parent"),
            spec_digest=data.get("spec_digest"),
            transform=data.get("transform"),
            description=data.get("description"),
        )


@dataclass(frozen=True)
class DatasetSummary:
    """A dataset with its version count and newest version."""

    name: str
    versions: int
    latest: DatasetVersion

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description."""
        return {
            "name": self.name,
            "versions": self.versions,
            "latest": self.latest.version,
            "digest": self.latest.digest,
            "n_rows": self.latest.n_rows,
            "n_columns": len(self.latest.schema),
            "format": self.latest.format,
            "created_at": self.latest.created_at.isoformat(),
        }


@dataclass(frozen=True)
class NewVersion:
    """What is needed to record a version; the repository numbers it."""

    digest: str
    format: str
    size_bytes: int
    n_rows: int
    schema: tuple[ColumnSchema, ...]
    profile: dict[str, Any]
    source: dict[str, Any]
    created_by: str
    parent_id: int | None = None
    spec_digest: str | None = None
    transform: dict[str, Any] | None = None
    description: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
