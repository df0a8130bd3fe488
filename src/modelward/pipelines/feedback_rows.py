"""Training rows from serving: the logged inputs of a model's answered requests joined
with the labels that came back for them (`data: {feedback: MODEL, window: 7d}`)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from modelward.errors import InvalidInput

if TYPE_CHECKING:
    import pandas as pd

    from modelward.store.workspace import Workspace


def feedback_frame(
    workspace: Workspace, model: str, window_seconds: float, target: str
) -> pd.DataFrame:
    """The rows `model` was asked about in the last `window_seconds` that got a label,
    the label in column `target`; InvalidInput when there are none.

    A row asked about again with the same label counts once: duplicates would land on
    both sides of a hold-out split and make the gate judge a model on rows it saw.
    """
    import pandas as pd

    from modelward.monitoring.ports import MAX_RECORDS, prediction_log_store

    log = prediction_log_store(workspace)
    since_ms = int((time.time() - window_seconds) * 1000)
    labels = {
        item.request_id: item.label
        for item in log.labeled(model, last=MAX_RECORDS)
        if item.created_ms >= since_ms
    }
    columns: dict[str, list[Any]] = {}
    truths: list[Any] = []
    for record in log.records(model, since_ms=since_ms):
        if (
            record.request_id not in labels
            or not isinstance(record.inputs, dict)
            or not record.inputs
        ):
            continue  # unlabeled, or logged without its inputs
        label = labels[record.request_id]
        rows = label if isinstance(label, list) else [label]
        if any(len(values) != len(rows) for values in record.inputs.values()):
            continue  # checked when the label arrived; skip anything inconsistent
        if columns and set(record.inputs) != set(columns):
            continue  # a request of another signature (an older version's columns)
        for name, values in record.inputs.items():
            columns.setdefault(name, []).extend(values)
        truths.extend(rows)
    if not truths:
        raise InvalidInput(
            f"no labeled predictions of {model!r} in the window: serve it and post "
            "labels to /feedback first"
        )
    if target in columns:
        raise InvalidInput(f"the logged inputs of {model!r} already have a column {target!r}")
    frame = pd.DataFrame({**columns, target: truths})
    return frame.drop_duplicates(ignore_index=True)
