"""Live quality: metrics over the latest predictions whose labels came back."""

from __future__ import annotations

from collections.abc import Sequence

from modelward.monitoring.predictions import LabeledPrediction, pairs


def live_metrics(task: str, labeled: Sequence[LabeledPrediction]) -> dict[str, float]:
    """`live_accuracy` and `live_f1` (classification) or `live_mse` (regression), with `live_n`.

    Empty when no label has arrived yet. F1 is binary for two classes, macro otherwise.
    """
    from modelward.evaluation.metrics import classification_report, regression_report

    truths, predictions = pairs(labeled)
    if not truths:
        return {}
    try:
        if task == "regression":
            report = regression_report(truths, predictions).to_dict()
            return {"live_mse": report["mse"], "live_mae": report["mae"], "live_n": len(truths)}
        scores = classification_report(truths, predictions).to_dict()
    except ValueError:  # labels of another kind than the predictions: nothing to score
        return {}
    return {"live_accuracy": scores["accuracy"], "live_f1": scores["f1"], "live_n": len(truths)}
