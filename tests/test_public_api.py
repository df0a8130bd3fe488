"""The documented Python surface stays exactly what PRODUCT.md and the README promise."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType
from typing import Any

import pytest

import modelward


def test_top_level_exports() -> None:
    assert sorted(modelward.__all__) == sorted(
        [
            "AlreadyExists",
            "Conflict",
            "GateFailed",
            "IntegrityError",
            "InvalidInput",
            "ModelwardError",
            "NotFound",
            "__version__",
            "data",
            "models",
            "pipelines",
            "start_run",
            "tracking",
        ]
    )
    for name in modelward.__all__:
        assert getattr(modelward, name) is not None


def _import_everything() -> None:
    for module in pkgutil.walk_packages(modelward.__path__, "modelward."):
        if module.name.endswith("__main__") or ".migrations" in module.name:
            continue
        importlib.import_module(module.name)


def _facades() -> list[ModuleType]:
    return [modelward, modelward.data, modelward.tracking, modelward.models, modelward.pipelines]


def _is_submodule(facade: ModuleType, name: str, value: Any) -> bool:
    """Bound by the import system when `facade.name` was imported, not by the facade."""
    return isinstance(value, ModuleType) and value.__name__ == f"{facade.__name__}.{name}"


def _made_by_modelward(value: Any) -> bool:
    """Whether a value is modelward's own (a function, class, module): not a helper import
    such as `Path`, `Any`, `TYPE_CHECKING` or `annotations`."""
    if isinstance(value, ModuleType):
        return value.__name__.split(".")[0] == "modelward"
    return str(getattr(value, "__module__", "")).split(".")[0] == "modelward"


@pytest.mark.parametrize("name", ["modelward", "data", "tracking", "models", "pipelines"])
def test_each_facade_exports_exactly_its_public_members(name: str) -> None:
    # As httpx's tests/test_exported_members.py: what a facade holds is what __all__ says.
    _import_everything()  # submodules bound on the package must not count, nor hide anything
    facade = {f.__name__.rsplit(".", 1)[-1]: f for f in _facades()}[name]
    for member in facade.__all__:
        getattr(facade, member)  # lazy members resolve (and are then held by the facade)
    public = {
        member
        for member, value in vars(facade).items()
        if not member.startswith("_")
        and not _is_submodule(facade, member, value)
        and _made_by_modelward(value)
    }
    exported = {
        member
        for member in facade.__all__
        if not member.startswith("__")
        and not _is_submodule(facade, member, getattr(facade, member))
    }
    assert sorted(exported) == sorted(public)
    assert len(facade.__all__) == len(set(facade.__all__))


def test_api_functions_are_not_shadowed_by_submodules() -> None:
    # Importing every module must not replace mw.data.transform (a function) by a module.
    _import_everything()
    for namespace in (modelward.data, modelward.models, modelward.tracking):
        for name in namespace.__all__:
            member = getattr(namespace, name)
            assert callable(member) and not isinstance(member, type(modelward)), name


def test_the_models_facade_lives_in_the_registry() -> None:
    assert modelward.models.__name__ == "modelward.registry.models"
    from modelward import models

    assert models is modelward.models
