"""The runs of a team server, behind the same port as the local store (`RunStore`).

Every call is one or a few `/api/v1` requests through the workspace's ServerClient.
Writes are safe to resend: a run and its batches carry ids the client made, inputs
and artifact records are upserts, so each is marked idempotent and retried while
the server is briefly unreachable. A large batch goes in chunks, each with an id
derived from the batch's, so that resending the batch resends the same chunks.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import quote

from modelward.store.remote import ServerClient
from modelward.tracking.entities import Experiment, MetricPoint, MetricRow, Run
from modelward.tracking.search import Node, OrderBy
from modelward.tracking.search_text import format_filter, format_order_by

# what one request carries at most (the server refuses more: see server/api/runs.py)
MAX_BATCH_METRICS = 50_000
MAX_BATCH_PARAMS = 1_000
MAX_RECORDS = 10_000  # inputs or artifact records
HISTORY_PAGE = 100_000

# the provenance fields a client reports; who and when are the server's to set
_RUN_FIELDS = ("id", "experiment_id", "name", "git_commit", "git_dirty", "source", "seed")


class RemoteRunStore:
    """Runs on a team server (`/api/v1/experiments`, `/api/v1/runs`)."""

    def __init__(self, client: ServerClient) -> None:
        self.client = client

    @staticmethod
    def _run(run_id: str) -> str:
        return f"/runs/{quote(run_id, safe='')}"

    # -- experiments -----------------------------------------------------------
    def experiment(self, name: str, *, create: bool = False) -> Experiment:
        """The experiment called `name`, created on demand when `create`."""
        if create:
            found = self.client.post("/experiments", {"name": name}, idempotent=True)
        else:
            found = self.client.get(f"/experiments/{quote(name, safe='')}")
        return Experiment.from_dict(found)

    def experiments(self) -> list[Experiment]:
        """Every experiment, by name."""
        return [Experiment.from_dict(e) for e in self.client.get("/experiments")["experiments"]]

    # -- writes ----------------------------------------------------------------
    def create_run(self, values: dict[str, Any]) -> None:
        """Start a run on the server (its user and start time are the server's)."""
        body = {field: values.get(field) for field in _RUN_FIELDS}
        body["environment"] = values.get("environment") or {}
        self.client.post("/runs", body, idempotent=True)

    def log_batch(
        self,
        run_id: str,
        *,
        params: Sequence[tuple[str, str]] = (),
        tags: Sequence[tuple[str, str]] = (),
        metrics: Sequence[MetricRow] = (),
        batch_id: str | None = None,
    ) -> bool:
        """Send one batch (in chunks of at most MAX_BATCH_* values), each chunk once."""
        if not (params or tags or metrics):
            return True
        if batch_id is None:
            import uuid

            batch_id = uuid.uuid4().hex
        chunks = max(
            -(-len(metrics) // MAX_BATCH_METRICS),
            -(-len(params) // MAX_BATCH_PARAMS),
            -(-len(tags) // MAX_BATCH_PARAMS),
        )
        stored = False
        for index in range(chunks):
            m, p = index * MAX_BATCH_METRICS, index * MAX_BATCH_PARAMS
            body = {
                "batch_id": batch_id if chunks == 1 else f"{batch_id}.{index}",
                "params": params[p : p + MAX_BATCH_PARAMS],
                "tags": tags[p : p + MAX_BATCH_PARAMS],
                "metrics": metrics[m : m + MAX_BATCH_METRICS],
            }
            answer = self.client.post(f"{self._run(run_id)}/batches", body, idempotent=True)
            stored = bool(answer["stored"]) or stored
        return stored

    def finish_run(self, run_id: str, status: str, error: str | None = None) -> None:
        """Record the final status (the server sets the end time)."""
        body = {"status": status, "error": error[:10_000] if error else None}
        self.client.post(f"{self._run(run_id)}/finish", body, idempotent=True)

    def add_inputs(self, run_id: str, inputs: Iterable[tuple[int, str]]) -> None:
        """Record dataset versions (by the server's ids) the run read."""
        rows = [{"dataset_version_id": vid, "role": role} for vid, role in inputs]
        for start in range(0, len(rows), MAX_RECORDS):
            body = {"inputs": rows[start : start + MAX_RECORDS]}
            self.client.post(f"{self._run(run_id)}/inputs", body, idempotent=True)

    def add_artifacts(self, run_id: str, artifacts: Iterable[tuple[str, str, int]]) -> None:
        """Record files already uploaded to the server's artifact store."""
        rows = [
            {"path": path, "digest": digest, "size_bytes": size} for path, digest, size in artifacts
        ]
        if rows:
            body = {"artifacts": rows}
            self.client.post(f"{self._run(run_id)}/artifacts", body, idempotent=True)

    # -- reads -----------------------------------------------------------------
    def get(self, run_id: str) -> Run:
        """One run with everything logged to it; a unique id prefix is enough."""
        return Run.from_dict(self.client.get(self._run(run_id)))

    def metric_history(self, run_id: str, key: str) -> list[MetricPoint]:
        """Every logged point of one metric, by step then time (fetched in pages)."""
        points: list[MetricPoint] = []
        after: str | None = None
        while True:
            params = {"key": key, "limit": HISTORY_PAGE}
            if after is not None:
                params["after"] = after
            page = self.client.get(f"{self._run(run_id)}/metrics/history", params=params)
            points.extend(MetricPoint(key, v, s, t) for v, s, t in page["points"])
            after = page["next"]
            if after is None:
                return points

    def count_metric_points(self, run_id: str) -> int:
        """How many metric points a run has (all keys)."""
        return int(self.client.get(f"{self._run(run_id)}/metrics/count")["count"])

    def search(
        self,
        *,
        where: Node | None = None,
        order_by: Sequence[OrderBy] = (),
        experiment: str | None = None,
        limit: int = 1000,
    ) -> list[Run]:
        """Runs matching a filter; the server parses the filter's text again."""
        body = {
            "filter": format_filter(where),
            "order_by": format_order_by(order_by),
            "experiment": experiment,
            "limit": limit,
        }
        found = self.client.post("/runs/search", body, idempotent=True)  # it only reads
        return [Run.from_dict(run) for run in found["runs"]]
