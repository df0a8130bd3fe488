"""Evaluation records on a team server (`/api/v1/evaluations`), behind `EvaluationStore`."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from modelward.evaluation.records import EvaluationRecord
from modelward.store.remote import ServerClient

# what the client reports; who made the record and when are the server's to set
_FIELDS = (
    "run_id",
    "model_ref",
    "dataset_version_id",
    "target",
    "task",
    "n_rows",
    "metrics",
    "plots",
)


class RemoteEvaluationStore:
    """Evaluation records of a team server."""

    def __init__(self, client: ServerClient) -> None:
        self.client = client

    def add(self, values: dict[str, Any]) -> EvaluationRecord:
        """Record one evaluation on the server (plots must be uploaded already)."""
        body = {field: values.get(field) for field in _FIELDS}
        return EvaluationRecord.from_dict(self.client.post("/evaluations", body))

    def for_run(self, run_id: str) -> list[EvaluationRecord]:
        """Every evaluation of the model a run trained, oldest first."""
        found = self.client.get(f"/runs/{quote(run_id, safe='')}/evaluations")
        return [EvaluationRecord.from_dict(record) for record in found["evaluations"]]
