"""MLflow's registered models and aliases over modelward's ModelRegistry.

Aliases follow /api/v1's rules: moving one is a writer's, a protected alias
(MODELWARD_PROTECTED_ALIASES) an admin's, deleting one an admin's (DELETE); every
move is in the audit log under the token's name. Model versions are in `versions`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from modelward.errors import AlreadyExists, InvalidInput, NotFound
from modelward.refs import LATEST, Ref, validate_alias
from modelward.registry.entities import RegisteredModel
from modelward.registry.service import ModelRegistry
from modelward.server.auth import require
from modelward.server.mlflow import convert, filters
from modelward.server.mlflow.calls import Call
from modelward.server.mlflow.fields import Fields
from modelward.server.mlflow.versions import (
    model_name,
    model_of,
    page_of,
    registry_of,
    sort_messages,
    version_json,
    version_number,
    version_of,
)
from modelward.server.tokens import ADMIN

MAX_MODELS_PER_PAGE = 1000
_VERSION_ALIAS = re.compile(r"[vV]\d+")


def model_json(registry: ModelRegistry, model: RegisteredModel) -> dict[str, Any]:
    """An MLflow RegisteredModel message, its latest version included."""
    created = convert.millis(model.created_at)
    latest: list[dict[str, Any]] = []
    updated = created
    if model.latest_version is not None:
        version = registry.repository.get(Ref(name=model.name, alias=LATEST))
        latest = [version_json(registry.workspace, version)]
        updated = max(created, convert.millis(version.created_at))
    message: dict[str, Any] = {
        "name": model.name,
        "creation_timestamp": created,
        "last_updated_timestamp": updated,
        "latest_versions": latest,
        "aliases": [{"alias": a, "version": str(v)} for a, v in sorted(model.aliases.items())],
        "tags": [],
    }
    if model.description:
        message["description"] = model.description
    return message


# -- registered models ----------------------------------------------------------------
def create_registered_model(call: Call) -> dict[str, Any]:
    """POST registered-models/create."""
    fields = call.fields
    name = model_name(fields)
    if fields.objects("tags"):
        raise InvalidInput("registered-model tags are not stored by this server: leave them out")
    registry = registry_of(call)
    try:
        model = registry.create_model(name, description=fields.text("description"))
    except AlreadyExists:
        raise AlreadyExists(f"Registered Model (name={name}) already exists.") from None
    return {"registered_model": model_json(registry, model)}


def get_registered_model(call: Call) -> dict[str, Any]:
    """GET registered-models/get."""
    registry = registry_of(call)
    return {"registered_model": model_json(registry, model_of(registry, model_name(call.fields)))}


def _values_of(model: RegisteredModel) -> Callable[[filters.Clause], Any]:
    # registered models carry no tags here: a tag clause matches only IS NULL
    return lambda clause: None if clause.kind == "tag" else model.name


def search_registered_models(call: Call) -> dict[str, Any]:
    """GET registered-models/search: `name = 'x'`, `name LIKE '%x%'`, order, pages."""
    fields = call.fields
    source = fields.text("filter") or ""
    clauses = filters.checked(
        filters.parse_clauses(source), {"name": "text"}, tags=True, source=source
    )
    registry = registry_of(call)
    messages = [
        model_json(registry, model)
        for model in registry.models()
        if filters.matches(clauses, _values_of(model))
    ]
    sort_messages(
        messages,
        fields.texts("order_by") or ["name ASC"],
        {
            "name": "name",
            "timestamp": "last_updated_timestamp",
            "last_updated_timestamp": "last_updated_timestamp",
            "creation_timestamp": "creation_timestamp",
        },
    )
    page, token = page_of(fields, messages, default=100, limit=MAX_MODELS_PER_PAGE)
    answer: dict[str, Any] = {"registered_models": page}
    if token:
        answer["next_page_token"] = token
    return answer


def get_latest_versions(call: Call) -> dict[str, Any]:
    """POST registered-models/get-latest-versions (a read): stages are all "None" here."""
    fields = call.fields
    registry = registry_of(call)
    model = model_of(registry, model_name(fields))
    stages = {stage.lower() for stage in fields.texts("stages")}
    if model.latest_version is None or (stages and "none" not in stages):
        return {"model_versions": []}
    latest = registry.repository.get(Ref(name=model.name, alias=LATEST))
    return {"model_versions": [version_json(registry.workspace, latest)]}


# -- aliases -------------------------------------------------------------------------------
def _alias(fields: Fields) -> str:
    alias = fields.required_text("alias", limit=255)
    if alias.lower() == LATEST:
        raise InvalidInput("'latest' alias name (case insensitive) is reserved.", field="alias")
    if _VERSION_ALIAS.fullmatch(alias):
        raise InvalidInput(f"Version alias name {alias!r} is reserved.", field="alias")
    return validate_alias(alias)


def set_alias(call: Call) -> dict[str, Any]:
    """POST registered-models/alias: a writer's, or an admin's for a protected alias."""
    fields = call.fields
    registry = registry_of(call)
    name, alias, number = model_name(fields), _alias(fields), version_number(fields)
    if alias in call.workspace.settings.protected_aliases:
        require(call.request, ADMIN, why=f"move the protected alias {alias!r}")
    version_of(registry, name, number)
    registry.set_alias(name, number, alias)
    return {}


def delete_alias(call: Call) -> dict[str, Any]:
    """DELETE registered-models/alias: an admin's (every DELETE is)."""
    fields = call.fields
    registry = registry_of(call)
    name, alias = model_name(fields), _alias(fields)
    require(call.request, ADMIN, why="delete an alias")
    model_of(registry, name)
    try:
        registry.delete_alias(name, alias)
    except NotFound:
        raise NotFound(f"Registered model alias {alias} not found.") from None
    return {}


def get_model_version_by_alias(call: Call) -> dict[str, Any]:
    """GET registered-models/alias."""
    fields = call.fields
    registry = registry_of(call)
    name, alias = model_name(fields), _alias(fields)
    model_of(registry, name)
    try:
        version = registry.repository.get(Ref(name=name, alias=alias))
    except NotFound:
        raise NotFound(f"Registered model alias {alias} not found.") from None
    return {"model_version": version_json(registry.workspace, version)}
