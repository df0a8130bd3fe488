"""`mw evaluate`: score a stored model on a dataset version, keep the metrics and plots."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from modelward.data.catalog import DatasetCatalog
from modelward.errors import InvalidInput
from modelward.evaluation.ports import evaluation_store
from modelward.evaluation.records import EvaluationRecord
from modelward.store.workspace import Workspace
from modelward.tracking.environment import current_user
from modelward.tracking.ports import run_store
from modelward.tracking.run_model import ModelInfo, check_features, load_run_model

if TYPE_CHECKING:
    import pandas as pd

    from modelward.data.entities import DatasetVersion
from modelward.training.features import split_target


def _quiet(_stage: str) -> None:
    return None


def evaluate_run_model(
    workspace: Workspace,
    run_id: str,
    data: str,
    *,
    target: str | None = None,
    trust: bool = False,
    plots_dir: Path | None = None,
    progress: Callable[[str], None] = _quiet,
    model_ref: str | None = None,
) -> EvaluationRecord:
    """Score the model of run `run_id` on dataset version `data`; store the record.

    When the model was trained on a transform's output and `data` is not such an
    output itself (raw rows, as `mw predict` takes), the stored fitted transform is
    applied first, filters included, as it was to the training rows. `model_ref`
    names the model in the record (default `run:<id>`; a registered version's ref).
    """
    if plots_dir is not None and plots_dir.exists() and not plots_dir.is_dir():
        raise InvalidInput(f"--plots {plots_dir} is a file, not a folder")
    runs = run_store(workspace)
    run = runs.get(run_id)
    progress("loading the model")
    model, info = load_run_model(workspace, run.id, trust=trust)
    catalog = DatasetCatalog(workspace)
    version = catalog.get(data)
    progress(f"reading {version.ref}")
    frame = prepared_like_training(catalog, info, version, catalog.load_frame(version))
    check_features(info, [str(c) for c in frame.columns])
    column = target or info.target
    X, y = split_target(
        frame[[*info.feature_names, column]] if column in frame else frame, column, version.ref
    )
    progress("predicting")
    predictions = model.predict(X[info.feature_names])
    metrics, plots = _score(model, info, X[info.feature_names], y, predictions)
    history = runs.metric_history(run.id, "loss")
    if history:
        from modelward.evaluation.plots import learning_curve_png

        plots["learning_curve"] = learning_curve_png(
            {"training loss": [(p.step, p.value) for p in history]},
            xlabel="epoch",
            ylabel="loss",
        )
    progress("storing plots")
    digests = {name: workspace.artifacts.put_bytes(png) for name, png in plots.items()}
    runs.add_artifacts(
        run.id,
        [
            (f"evaluations/{version.ref}/{name}.png", digest, len(plots[name]))
            for name, digest in digests.items()
        ],
    )
    if plots_dir is not None:
        plots_dir.mkdir(parents=True, exist_ok=True)
        for name, png in plots.items():
            (plots_dir / f"{name}.png").write_bytes(png)
    return evaluation_store(workspace).add(
        {
            "run_id": run.id,
            "model_ref": model_ref or f"run:{run.id}",
            "dataset_version_id": version.id,
            "target": column,
            "task": info.task,
            "n_rows": len(y),
            "metrics": metrics,
            "plots": digests,
            "created_by": current_user(),
        }
    )


def prepared_like_training(
    catalog: DatasetCatalog, info: ModelInfo, version: DatasetVersion, frame: pd.DataFrame
) -> pd.DataFrame:
    """`frame` (the rows of `version`) as the model's training rows were prepared.

    A version made by the same transform spec as the training data is already
    prepared; any other version gets the training data's fitted transform.
    """
    if info.data is None:
        return frame
    training = catalog.get(info.data)
    if training.transform is None or version.spec_digest == training.spec_digest:
        return frame
    from modelward.data.preprocess import FittedTransform

    try:
        return FittedTransform.from_dict(training.transform).apply(frame)
    except InvalidInput as exc:
        raise InvalidInput(
            f"{version.ref} does not fit the transform that made {training.ref}, the model's "
            f"training data: {exc.message}"
        ) from None


def _score(
    model: Any, info: ModelInfo, X: Any, y: Any, predictions: Any
) -> tuple[dict[str, float], dict[str, bytes]]:
    from modelward.evaluation import plots
    from modelward.evaluation.metrics import classification_report, regression_report

    if info.task == "regression":
        report = regression_report(y, predictions)
        return report.to_dict(), {"residuals": plots.residuals_png(y, predictions)}
    proba = model.predict_proba(X) if hasattr(model, "predict_proba") else None
    labels = getattr(model, "classes_", None)
    result = classification_report(y, predictions, proba=proba, labels=labels)
    images = {
        "confusion_matrix": plots.confusion_matrix_png(result.confusion_matrix, result.labels)
    }
    if proba is not None and np.unique(np.asarray(y)).size > 1:
        if len(result.labels) == 2:
            images["roc_curve"] = plots.roc_curve_png(y, proba[:, 1], pos_label=result.labels[1])
        else:
            images["roc_curve"] = plots.roc_curve_png(y, proba, labels=result.labels)
    return result.to_dict(), images
