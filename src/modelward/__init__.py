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
from modelward.tracking.registration import use_registrar as _use_registrar
from modelward.training.scoring import use_scorer as _use_scorer

if TYPE_CHECKING:
    from modelward import data, pipelines, tracking
    from modelward.registry import models
    from modelward.registry.entities import ModelVersion
    from modelward.store.workspace import Workspace
    from modelward.tracking import start_run

from modelward.version import __version__

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
    "pipelines",
    "start_run",
    "tracking",
]

_LAZY_MODULES = {
    "data": "modelward.data",
    "models": "modelward.registry.models",
    "pipelines": "modelward.pipelines",
    "tracking": "modelward.tracking",
}
_LAZY_FUNCTIONS = {"start_run": "modelward.tracking"}


def __getattr__(name: str) -> Any:
    if name in _LAZY_MODULES:
        value = importlib.import_module(_LAZY_MODULES[name])
    elif name in _LAZY_FUNCTIONS:
        value = getattr(importlib.import_module(_LAZY_FUNCTIONS[name]), name)
    else:
        raise AttributeError(f"module 'modelward' has no attribute {name!r}")
    globals()[name] = value  # found once; later lookups skip this function
    return value


# -- the composition root: later stages plugged into the ports of earlier ones ----------
# Each import happens on first use, so `import modelward` stays cheap.


def _register_run(workspace: Workspace, run_id: str, name: str) -> ModelVersion:
    from modelward.registry.ports import model_registry

    return model_registry(workspace).register_run(run_id, name)


def _holdout_metrics(estimator: Any, X: Any, y: Any, task: str) -> dict[str, float]:
    from modelward.evaluation.holdout import holdout_metrics

    return holdout_metrics(estimator, X, y, task)


_use_registrar(_register_run)
_use_scorer(_holdout_metrics)
