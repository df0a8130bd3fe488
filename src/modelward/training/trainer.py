"""`mw train`: split a dataset version, fit, evaluate on the hold-out, record everything."""

from __future__ import annotations

import inspect
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from modelward.data.catalog import DatasetCatalog
from modelward.errors import InvalidInput
from modelward.store.workspace import Workspace
from modelward.tracking.run import ActiveRun
from modelward.tracking.run_model import ModelInfo, log_model
from modelward.training.estimators import build_estimator
from modelward.training.features import feature_schema, split_target
from modelward.training.scoring import Scorer, default_scorer


def _quiet(_stage: str) -> None:
    return None


@dataclass(frozen=True)
class TrainingResult:
    """What a training run produced."""

    run_id: str
    run_name: str
    experiment: str
    model: str
    task: str
    metrics: dict[str, float]
    n_train: int
    n_test: int
    seconds: float
    model_info: ModelInfo
    warnings: list[str]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description."""
        return {
            "run_id": self.run_id,
            "run_name": self.run_name,
            "experiment": self.experiment,
            "model": self.model,
            "task": self.task,
            "metrics": self.metrics,
            "n_train": self.n_train,
            "n_test": self.n_test,
            "seconds": self.seconds,
            "model_format": self.model_info.format,
            "model_digest": self.model_info.digest,
            "warnings": self.warnings,
        }


def train(
    workspace: Workspace,
    *,
    data: str,
    target: str,
    model: str,
    params: Mapping[str, Any] | None = None,
    optimizer: str | None = None,
    experiment: str = "default",
    run_name: str | None = None,
    test_size: float = 0.2,
    seed: int = 0,
    model_format: str | None = None,
    progress: Callable[[str], None] = _quiet,
    score: Scorer | None = None,
    tags: Mapping[str, str] | None = None,
) -> TrainingResult:
    """Train `model` on dataset version `data` and record the run; see `mw train --help`.

    `score` computes the held-out metrics (default: the one the composition root wired in);
    `tags` are set on the run from its start (a pipeline's candidates carry their pipeline's).
    """
    from sklearn.base import is_classifier
    from sklearn.model_selection import train_test_split

    from modelward.serialization import FORMATS

    if model_format is not None and model_format not in FORMATS:
        raise InvalidInput(f"unknown --format {model_format!r}: use one of {', '.join(FORMATS)}")
    if not 0.0 < test_size < 1.0:
        raise InvalidInput(f"--test-size must be between 0 and 1, got {test_size}")
    # Everything the user gave is checked before a run is started.
    estimator = build_estimator(model, params or {}, optimizer)
    scorer = score or default_scorer()
    catalog = DatasetCatalog(workspace)
    version = catalog.get(data)
    progress(f"reading {version.ref}")
    X, y = split_target(catalog.load_frame(version), target, version.ref)
    task = "classification" if is_classifier(estimator) else "regression"
    stratify = y if task == "classification" and y.value_counts().min() >= 2 else None
    try:
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=test_size, random_state=seed, stratify=stratify
        )
    except ValueError as exc:
        raise InvalidInput(f"cannot split {version.ref}: {exc}") from None

    started = time.perf_counter()
    with ActiveRun(workspace, experiment=experiment, name=run_name, seed=seed, tags=tags) as run:
        run.log_params(
            run_params(
                {
                    "model": model,
                    "data": version.ref,
                    "target": target,
                    "test_size": test_size,
                    "seed": seed,
                },
                estimator.get_params(deep=False),
            )
        )
        run.set_tags({"task": task, "model.class": type(estimator).__name__})
        run.log_input(version, role="train")
        progress(f"fitting {type(estimator).__name__} on {len(X_train):,} rows")
        fit_warnings = _fit(estimator, X_train, y_train, run, progress)
        progress("evaluating on the hold-out")
        metrics = scorer(estimator, X_test, y_test, task)
        run.log_metrics(metrics)
        run.log_metrics({"n_train": float(len(X_train)), "n_test": float(len(X_test))})
        progress("storing the model")
        info = log_model(
            run,
            estimator,
            task=task,
            target=target,
            features=feature_schema(X),
            data=version.ref,
            format=model_format,
        )
    return TrainingResult(
        run_id=run.id,
        run_name=run.name,
        experiment=experiment,
        model=model,
        task=task,
        metrics=metrics,
        n_train=len(X_train),
        n_test=len(X_test),
        seconds=time.perf_counter() - started,
        model_info=info,
        warnings=fit_warnings,
    )


def run_params(run: Mapping[str, Any], estimator: Mapping[str, Any]) -> dict[str, Any]:
    """The params a training run records: the run's own and every estimator parameter
    under the name the user gives it (`optimizer`, `l2`, `n_estimators`), so a filter such
    as `params.optimizer = 'adam'` finds the run. An estimator parameter that shares a
    name with a run param (`model`, `data`, ...) is recorded as `model.<name>`.
    """
    recorded = dict(run)
    for key, value in estimator.items():
        # tuples such as MLPClassifier's hidden_layer_sizes=(100,) are recorded as written
        text = value if isinstance(value, str | int | float | bool) or value is None else str(value)
        recorded[f"model.{key}" if key in run else key] = text
    return recorded


def _fit(
    estimator: Any, X: Any, y: Any, run: ActiveRun, progress: Callable[[str], None]
) -> list[str]:
    fit_kwargs: dict[str, Any] = {}
    if "on_epoch" in inspect.signature(estimator.fit).parameters:
        max_epochs = getattr(estimator, "max_epochs", None)

        def on_epoch(epoch: int, loss: float) -> None:
            run.log_metric("loss", loss, step=epoch)
            progress(f"epoch {epoch + 1}/{max_epochs}: loss {loss:.5f}")

        fit_kwargs["on_epoch"] = on_epoch
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            estimator.fit(X, y, **fit_kwargs)
    except (ValueError, TypeError) as exc:
        text = " ".join(str(exc).split())
        raise InvalidInput(
            f"{type(estimator).__name__} cannot be fitted on this data: {text[:300]}"
        ) from None
    messages = sorted({" ".join(str(w.message).split())[:300] for w in caught})
    if messages:
        run.set_tag("warnings", " | ".join(messages))
    return messages
