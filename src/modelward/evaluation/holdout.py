"""Held-out metrics of a freshly fitted estimator: what `mw train` records for a run."""

from __future__ import annotations

from typing import Any

from modelward.evaluation.metrics import classification_report, regression_report


def holdout_metrics(estimator: Any, X: Any, y: Any, task: str) -> dict[str, float]:
    """Metrics of a fitted estimator on held-out rows (classification or regression)."""
    predictions = estimator.predict(X)
    if task == "regression":
        return regression_report(y, predictions).to_dict()
    proba = estimator.predict_proba(X) if hasattr(estimator, "predict_proba") else None
    labels = getattr(estimator, "classes_", None)
    return classification_report(y, predictions, proba=proba, labels=labels).to_dict()
