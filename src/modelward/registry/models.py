"""The model registry in Python: `mw.models`.

import modelward as mw
version = mw.models.register(run_id, "churn-clf")           # churn-clf@1
mw.models.set_alias("churn-clf", 1, "production", require="f1 >= production.f1")
model = mw.models.load("churn-clf@production")              # verified, safe format
model.predict(frame)                                        # applies the stored transform
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from modelward.registry.entities import AliasChange, ModelVersion, RegisteredModel
    from modelward.registry.loading import LoadedModel
    from modelward.registry.ports import Registry

__all__ = ["audit", "get", "list", "load", "register", "set_alias", "versions"]


def _registry() -> Registry:
    from modelward.registry.ports import model_registry
    from modelward.store.workspace import open_workspace

    return model_registry(open_workspace())


def register(run_id: str, name: str, *, description: str | None = None) -> ModelVersion:
    """Register the model a run stored as the next version of `name`."""
    return _registry().register_run(run_id, name, description=description)


def get(ref: str) -> ModelVersion:
    """The version `ref` names: `name@3`, `name@production`, `name` (= latest)."""
    return _registry().get(ref)


def list() -> builtins.list[RegisteredModel]:
    """Every registered model."""
    return _registry().models()


def versions(name: str) -> builtins.list[ModelVersion]:
    """Every version of `name`, oldest first."""
    return _registry().versions(name)


def set_alias(
    name: str, version: int, alias: str, *, require: str | None = None, reason: str | None = None
) -> ModelVersion:
    """Point `alias` at `version` (atomic, audited); `require` is a gate such as
    "f1 >= production.f1 + 0.01" and raises GateFailed, showing the numbers, when it fails."""
    return _registry().set_alias(name, version, alias, require=require, reason=reason)[1]


def audit(name: str | None = None) -> builtins.list[AliasChange]:
    """Alias moves (when, who, from, to, why), newest first."""
    return _registry().audit(name)


def load(ref: str, *, trust: bool = False) -> LoadedModel:
    """Load a version verified against its sha256; pickles only with `trust=True`."""
    return _registry().load(ref, trust=trust)
