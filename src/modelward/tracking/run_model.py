"""A trained model stored with its run: `model/model.<suffix>` plus `model/model.json`."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from modelward.errors import InvalidInput, NotFound
from modelward.serialization import SUFFIXES, load_model, save_model

if TYPE_CHECKING:
    from modelward.data.entities import DatasetVersion
    from modelward.store.workspace import Workspace
    from modelward.tracking.entities import Run
    from modelward.tracking.run import ActiveRun

MODEL_DIR = "model"
METADATA = f"{MODEL_DIR}/model.json"


@dataclass(frozen=True)
class ModelInfo:
    """What is needed to use a stored model again: format, inputs, target, task."""

    format: str
    flavor: str
    class_name: str
    digest: str
    task: str  # "classification" | "regression"
    target: str
    features: list[dict[str, str]]
    classes: list[Any] = field(default_factory=list)
    data: str | None = None

    @property
    def feature_names(self) -> list[str]:
        """Input column names, in training order."""
        return [feature["name"] for feature in self.features]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description."""
        return asdict(self)


def log_model(
    run: ActiveRun,
    model: Any,
    *,
    task: str,
    target: str,
    features: list[dict[str, str]],
    data: str | None = None,
    format: str | None = None,
) -> ModelInfo:
    """Serialize `model` safely and store it (and its description) with the run."""
    serialized = save_model(model, format=format)
    path = f"{MODEL_DIR}/model{SUFFIXES[serialized.format]}"
    digest = run.log_bytes(serialized.data, path)
    classes = getattr(model, "classes_", None)
    info = ModelInfo(
        format=serialized.format,
        flavor=serialized.flavor,
        class_name=serialized.class_name,
        digest=digest,
        task=task,
        target=target,
        features=features,
        classes=[_plain(c) for c in classes] if classes is not None else [],
        data=data,
    )
    run.log_bytes(json.dumps(info.to_dict(), indent=2).encode(), METADATA)
    return info


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def read_model_info(workspace: Workspace, run: Run) -> ModelInfo:
    """The description of the model a run stored (the model itself is not loaded)."""
    artifacts = {artifact.path: artifact for artifact in run.artifacts}
    if METADATA not in artifacts:
        raise NotFound(f"run {run.id[:8]} has no model: train one with `mw train`")
    return ModelInfo(**json.loads(workspace.artifacts.read_bytes(artifacts[METADATA].digest)))


def load_run_model(
    workspace: Workspace, run_id: str, *, trust: bool = False
) -> tuple[Any, ModelInfo]:
    """The model a run stored, verified against its digest, and its description."""
    from modelward.tracking.ports import run_store

    info = read_model_info(workspace, run_store(workspace).get(run_id))
    model = load_model(workspace.artifacts.read_bytes(info.digest), info.format, trust=trust)
    return model, info


def check_features(info: ModelInfo, columns: list[str]) -> None:
    """Refuse data that lacks a column the model was trained on."""
    missing = [name for name in info.feature_names if name not in columns]
    if missing:
        raise InvalidInput(
            f"the data lacks column(s) the model needs: {', '.join(missing)} "
            f"(it was trained on {', '.join(info.feature_names)})"
        )


def describe_and_log(
    run: ActiveRun,
    model: Any,
    *,
    data: DatasetVersion | str | None = None,
    target: str | None = None,
    format: str | None = None,
) -> ModelInfo:
    """Work out a fitted model's inputs, target and task, then store it with the run."""
    from sklearn.base import is_classifier

    names = getattr(model, "feature_names_in_", None)
    version = None
    if data is not None:
        from modelward.data.catalog import DatasetCatalog

        version = DatasetCatalog(run.workspace).get(data) if isinstance(data, str) else data
        run.log_input(version, role="train")
    dtypes = {column.name: column.dtype for column in version.schema} if version else {}
    if names is not None:
        features = [str(name) for name in names]
    elif version is not None:
        features = [c for c in version.columns if c != target]
    else:
        count = getattr(model, "n_features_in_", None)
        if count is None:
            raise InvalidInput("the model is not fitted, or its inputs are unknown: pass data=")
        features = [f"f{i}" for i in range(int(count))]
    missing = [name for name in features if version is not None and name not in dtypes]
    if missing:
        raise InvalidInput(
            f"the model takes column(s) {', '.join(missing)} that {version.ref if version else ''}"
            " does not have"
        )
    if target is None and version is not None:
        rest = [c for c in version.columns if c not in features]
        target = rest[0] if len(rest) == 1 else None
    return log_model(
        run,
        model,
        task="classification" if is_classifier(model) else "regression",
        target=target or "",
        features=[{"name": f, "dtype": dtypes.get(f, "double")} for f in features],
        data=version.ref if version else None,
        format=format,
    )
