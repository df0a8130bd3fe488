"""modelward: one tool for a model's whole life (data, training, evaluation, registry,
serving, monitoring).

    import modelward as mw
    ds = mw.data.add("data.csv", name="churn")

Submodules load on first use, so `import modelward` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from modelward.errors import (
    AlreadyExists,
    Conflict,
    GateFailed,
    IntegrityError,
    InvalidInput,
    ModelwardError,
    NotFound,
)

if TYPE_CHECKING:
    from modelward import data, models, tracking
    from modelward.tracking import start_run

__version__ = "0.1.0"

__all__ = [
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

_LAZY_SUBMODULES = {"data", "models", "tracking"}
_LAZY_FUNCTIONS = {"start_run": "modelward.tracking"}


def __getattr__(name: str) -> Any:
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"modelward.{name}")
    if name in _LAZY_FUNCTIONS:
        return getattr(importlib.import_module(_LAZY_FUNCTIONS[name]), name)
    raise AttributeError(f"module 'modelward' has no attribute {name!r}")
