"""/api/v1/models and /api/v1/audit: registered models, versions, aliases, their audit log.

Every route calls the registry service over the server's own store, so what a
remote client gets is what a local one gets. The checks that must not be
bypassed are made here, never on the client: a version is registered only from a
run of this store (the server reads the run's stored model itself and fetches
nothing a client names), a `require` gate is evaluated inside the alias move's
transaction, a protected alias (MODELWARD_PROTECTED_ALIASES of the server) moves
only for an admin token, and the audit log names the token that moved it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from modelward.registry.ports import MAX_AUDIT
from modelward.registry.service import ModelRegistry
from modelward.server.api.base import new_router, workspace_of
from modelward.server.auth import require
from modelward.server.tokens import ADMIN

router = new_router(tags=["models"])

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
ALIAS_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]{0,63}$"
ModelName = Annotated[
    str, Path(pattern=NAME_PATTERN, max_length=128, description="registered model name")
]
AliasName = Annotated[str, Path(pattern=ALIAS_PATTERN, max_length=64, description="alias name")]
TagKey = Annotated[str, StringConstraints(min_length=1, max_length=250)]
TagValue = Annotated[str, StringConstraints(max_length=5_000)]
Text = Annotated[str, StringConstraints(max_length=1_000)]


class NewVersion(BaseModel):
    """A version to register: the model a run of this server's store logged."""

    model_config = ConfigDict(extra="forbid")

    run_id: str = Field(
        pattern=r"^[0-9a-f]{1,32}$",
        description="id (or unique prefix) of a run in this server's store; never a path or URL",
    )
    description: str | None = Field(default=None, max_length=10_000)
    tags: dict[TagKey, TagValue] = Field(default_factory=dict, max_length=100)


class AliasMove(BaseModel):
    """Where an alias should point, and the gate the move must pass."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(
        ge=1, le=2**31 - 1, strict=True, description="the version the alias will name"
    )
    require: Text | None = Field(
        default=None, description='a gate, e.g. "f1 >= production.f1 + 0.01"; checked here'
    )
    reason: Text | None = Field(default=None, description="why (kept in the audit log)")
    evaluated_on: Text | None = Field(
        default=None,
        description="a dataset version: the gate judges each version by its latest "
        "evaluation on it instead of the metrics recorded with it",
    )


def _registry(request: Request) -> ModelRegistry:
    return ModelRegistry(workspace_of(request))


def _guard_protected(request: Request, alias: str) -> None:
    if alias in workspace_of(request).settings.protected_aliases:
        require(request, ADMIN, why=f"move the protected alias {alias!r}")


@router.get("/models", summary="Every registered model, its latest version and aliases")
def list_models(request: Request) -> dict[str, Any]:
    return {"models": [model.to_dict() for model in _registry(request).models()]}


@router.get("/models/{name}/versions", summary="Every version of a model, oldest first")
def list_versions(request: Request, name: ModelName) -> dict[str, Any]:
    versions = _registry(request).versions(name)
    return {"versions": [version.to_dict(full=True) for version in versions]}


@router.post(
    "/models/{name}/versions",
    status_code=201,
    summary="Register the model a run of this store logged as the next version of NAME",
)
def register_version(request: Request, name: ModelName, body: NewVersion) -> dict[str, Any]:
    version = _registry(request).register_run(
        body.run_id, name, description=body.description, tags=body.tags
    )
    return version.to_dict(full=True)


@router.get(
    "/models/{name}/versions/{ref}",
    summary="The version a number, an alias or `latest` names",
)
def get_version(
    request: Request,
    name: ModelName,
    ref: Annotated[str, Path(max_length=64, description="3, production or latest")],
) -> dict[str, Any]:
    return _registry(request).get(f"{name}@{ref}").to_dict(full=True)


@router.put(
    "/models/{name}/aliases/{alias}",
    summary="Point an alias at a version, if its gate holds (protected aliases: admin)",
)
def set_alias(
    request: Request, name: ModelName, alias: AliasName, body: AliasMove
) -> dict[str, Any]:
    _guard_protected(request, alias)
    previous, current, checks = _registry(request).set_alias(
        name,
        body.version,
        alias,
        require=body.require,
        reason=body.reason,
        evaluated_on=body.evaluated_on,
    )
    return {
        "model": name,
        "alias": alias,
        "from_version": previous.version if previous is not None else None,
        "to_version": current.version,
        "checks": [check.to_dict() for check in checks],
        "previous": previous.to_dict(full=True) if previous is not None else None,
        "current": current.to_dict(full=True),
    }


@router.delete("/models/{name}/aliases/{alias}", summary="Remove an alias; admin only")
def delete_alias(
    request: Request,
    name: ModelName,
    alias: AliasName,
    reason: Annotated[Text | None, Query(description="why (kept in the audit log)")] = None,
) -> dict[str, Any]:
    require(request, ADMIN, why="remove aliases")
    previous = _registry(request).delete_alias(name, alias, reason=reason)
    return {
        "model": name,
        "alias": alias,
        "from_version": previous.version,
        "previous": previous.to_dict(full=True),
    }


@router.get("/audit", summary="Alias moves (when, who, from, to, why), newest first")
def audit(
    request: Request,
    model: Annotated[str | None, Query(pattern=NAME_PATTERN, max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_AUDIT)] = 1_000,
) -> dict[str, Any]:
    changes = _registry(request).audit(model, limit=limit)
    return {"changes": [change.to_dict() for change in changes]}
