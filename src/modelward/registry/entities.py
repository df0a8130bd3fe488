"""Registry domain objects: plain frozen values, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class ModelVersion:
    """One immutable version of a registered model."""

    id: int
    name: str
    version: int
    digest: str
    format: str
    flavor: str
    class_name: str
    task: str
    signature: dict[str, Any]
    transform: dict[str, Any] | None
    run_id: str | None
    data: str | None
    metrics: dict[str, float]
    description: str | None
    tags: dict[str, str]
    created_at: datetime
    created_by: str
    aliases: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        """The exact reference, `name@version`."""
        return f"{self.name}@{self.version}"

    def to_dict(self, *, full: bool = False) -> dict[str, Any]:
        """A JSON-able description; `full` adds what a remote client needs to load and follow
        the version (its id and its stored transform)."""
        described: dict[str, Any] = {
            "ref": self.ref,
            "name": self.name,
            "version": self.version,
            "aliases": list(self.aliases),
            "digest": self.digest,
            "format": self.format,
            "flavor": self.flavor,
            "class": self.class_name,
            "task": self.task,
            "signature": self.signature,
            "has_transform": self.transform is not None,
            "run_id": self.run_id,
            "data": self.data,
            "metrics": self.metrics,
            "description": self.description,
            "tags": self.tags,
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
        }
        if full:
            described["id"] = self.id
            described["transform"] = self.transform
        return described

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelVersion:
        """The version a `to_dict(full=True)` describes (a team server's answer)."""
        return cls(
            id=int(data["id"]),
            name=data["name"],
            version=int(data["version"]),
            digest=data["digest"],
            format=data["format"],
            flavor=data["flavor"],
            class_name=data["class"],
            task=data["task"],
            signature=data["signature"],
            transform=data["transform"],
            run_id=data["run_id"],
            data=data["data"],
            metrics=data["metrics"],
            description=data["description"],
            tags=data["tags"],
            created_at=datetime.fromisoformat(data["created_at"]),
            created_by=data["created_by"],
            aliases=tuple(data["aliases"]),
        )


@dataclass(frozen=True)
class RegisteredModel:
    """A named model: its versions and where its aliases point."""

    name: str
    description: str | None
    created_at: datetime
    latest_version: int | None
    aliases: dict[str, int] = field(default_factory=dict)
    n_versions: int = 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description."""
        return {
            "name": self.name,
            "description": self.description,
            "created_at": self.created_at.isoformat(),
            "latest_version": self.latest_version,
            "versions": self.n_versions,
            "aliases": self.aliases,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RegisteredModel:
        """The model a `to_dict()` describes."""
        return cls(
            name=data["name"],
            description=data["description"],
            created_at=datetime.fromisoformat(data["created_at"]),
            latest_version=data["latest_version"],
            aliases={str(k): int(v) for k, v in data["aliases"].items()},
            n_versions=int(data["versions"]),
        )


@dataclass(frozen=True)
class AliasChange:
    """One move of an alias, as recorded in the audit log (`gate`: the gate it passed)."""

    model: str
    alias: str
    from_version: int | None
    to_version: int | None
    actor: str
    reason: str | None
    at: datetime
    gate: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description."""
        return {
            "model": self.model,
            "alias": self.alias,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "actor": self.actor,
            "reason": self.reason,
            "at": self.at.isoformat(),
            "gate": self.gate,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AliasChange:
        """The change a `to_dict()` describes."""
        return cls(
            model=data["model"],
            alias=data["alias"],
            from_version=data["from_version"],
            to_version=data["to_version"],
            actor=data["actor"],
            reason=data["reason"],
            at=datetime.fromisoformat(data["at"]),
            gate=data.get("gate"),
        )


@dataclass(frozen=True)
class NewModelVersion:
    """What is needed to record a version; the repository numbers it."""

    digest: str
    format: str
    flavor: str
    class_name: str
    task: str
    signature: dict[str, Any]
    transform: dict[str, Any] | None
    run_id: str | None
    dataset_version_id: int | None
    metrics: dict[str, float]
    description: str | None
    tags: dict[str, str]
    created_by: str
