"""The documented Python surface stays exactly what PRODUCT.md and the README promise."""

from __future__ import annotations

import importlib
import pkgutil

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
            "start_run",
            "tracking",
        ]
    )
    for name in modelward.__all__:
        assert getattr(modelward, name) is not None


def test_api_functions_are_not_shadowed_by_submodules() -> None:
    # Importing every module must not replace mw.data.transform (a function) by a module.
    for module in pkgutil.walk_packages(modelward.__path__, "modelward."):
        if module.name.endswith("__main__") or ".migrations" in module.name:
            continue
        importlib.import_module(module.name)
    for namespace in (modelward.data, modelward.models, modelward.tracking):
        for name in namespace.__all__:
            member = getattr(namespace, name)
            assert callable(member) and not isinstance(member, type(modelward)), name
