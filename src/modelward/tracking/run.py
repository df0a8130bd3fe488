"""A live run: cheap logging calls, buffered and written in batches.

`log_metric` only validates and appends to an in-memory buffer; a background
thread writes the buffer every `flush_interval` seconds, and a full buffer is
written at once. Nothing is lost: the buffer is flushed when the run ends,
when the `with` block raises (Ctrl-C included), and at interpreter exit.
"""

from __future__ import annotations

import atexit
import contextlib
import threading
import time
import uuid
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from modelward.errors import InvalidInput, ModelwardError
from modelward.refs import validate_name
from modelward.store.artifacts import safe_relative_path
from modelward.tracking.entities import (
    FAILED,
    FINISHED,
    RUNNING,
    MetricRow,
    Run,
    metric_value,
    param_value,
    validate_key,
)
from modelward.tracking.environment import current_user, environment, git_state, source
from modelward.tracking.ports import RunStore, run_store
from modelward.tracking.registration import Registrar, default_registrar

if TYPE_CHECKING:
    from modelward.data.entities import DatasetVersion
    from modelward.store.workspace import Workspace

DEFAULT_EXPERIMENT = "default"
_BUFFER_LIMIT = 5000  # points that wake the flusher
_MAX_BUFFERED = 200_000  # points after which logging waits for the flusher

_live_runs: weakref.WeakSet[ActiveRun] = weakref.WeakSet()


class ActiveRun:
    """A run in progress. Use as a context manager, or call `end()` yourself."""

    def __init__(
        self,
        workspace: Workspace,
        *,
        experiment: str = DEFAULT_EXPERIMENT,
        name: str | None = None,
        tags: Mapping[str, Any] | None = None,
        seed: int | None = None,
        flush_interval: float = 1.0,
        registrar: Registrar | None = None,
    ) -> None:
        validate_name(experiment, "experiment name")
        self.workspace = workspace
        self._registrar = registrar
        self.repository: RunStore = run_store(workspace)
        self.id = uuid.uuid4().hex
        self.experiment = experiment
        self.name = name or f"run-{self.id[:8]}"
        self.status = RUNNING
        self._lock = threading.Lock()
        self._metrics: list[MetricRow] = []
        self._params: dict[str, str] = {}
        self._tags: dict[str, str] = {}
        self._steps: dict[str, int] = {}
        self._keys: set[str] = set()
        self._flush_lock = threading.Lock()
        self._flush_error: BaseException | None = None
        # a batch taken off the buffer whose write failed: resent as it was, same id
        self._unsent: _Batch | None = None

        experiment_row = self.repository.experiment(experiment, create=True)
        commit, dirty = git_state()
        self.repository.create_run(
            {
                "id": self.id,
                "experiment_id": experiment_row.id,
                "name": self.name,
                "status": RUNNING,
                "start_time": datetime.now(UTC),
                "user": current_user(),
                "git_commit": commit,
                "git_dirty": dirty,
                "source": source(),
                "environment": environment(),
                "seed": seed,
            }
        )
        if seed is not None:
            _seed_everything(seed)
        if tags:
            self.set_tags(tags)
        _live_runs.add(self)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._flusher = threading.Thread(
            target=self._flush_periodically, args=(flush_interval,), daemon=True
        )
        self._flusher.start()

    # -- logging (cheap: validate and buffer) ----------------------------------
    def _key(self, key: str, what: str) -> str:
        if key not in self._keys:
            validate_key(key, what)
            self._keys.add(key)
        return key

    def log_metric(
        self, key: str, value: float, step: int | None = None, timestamp: float | None = None
    ) -> None:
        """Append one point to a metric series (step defaults to the previous step + 1)."""
        self._ensure_running()
        millis = int((time.time() if timestamp is None else timestamp) * 1000)
        row = self._row(key, value, step, millis)
        with self._lock:
            self._metrics.append(row)
            size = len(self._metrics)
        if size >= _BUFFER_LIMIT:
            self._backpressure(size)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Log several metrics at the same step (one timestamp, one buffer append)."""
        self._ensure_running()
        millis = int(time.time() * 1000)
        rows = [self._row(key, value, step, millis) for key, value in metrics.items()]
        with self._lock:
            self._metrics.extend(rows)
            size = len(self._metrics)
        if size >= _BUFFER_LIMIT:
            self._backpressure(size)

    def _row(self, key: str, value: Any, step: int | None, millis: int) -> MetricRow:
        if key not in self._keys:
            self._key(key, "metric")
        number = metric_value(key, value, step)
        if step is None:
            step = self._steps.get(key, -1) + 1
        elif type(step) is not int:
            if isinstance(step, bool) or not isinstance(step, int):
                raise InvalidInput(f"metric {key!r}: step must be an integer, got {step!r}")
            step = int(step)
        self._steps[key] = step
        return (key, number, step, millis)

    def _backpressure(self, size: int) -> None:
        # Writes happen on the flusher thread only, so Ctrl-C (delivered to the
        # main thread) can never interrupt a transaction half-way. A full buffer
        # wakes the flusher; a buffer far over the limit waits for it.
        self._wake.set()
        while size >= _MAX_BUFFERED and self._flusher.is_alive() and not self._stop.is_set():
            time.sleep(0.005)
            with self._lock:
                size = len(self._metrics)

    def log_param(self, key: str, value: Any) -> None:
        """Record a parameter; a parameter cannot change once logged."""
        self.log_params({key: value})

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Record several parameters."""
        self._ensure_running()
        checked = {self._key(k, "param"): param_value(k, v) for k, v in params.items()}
        with self._lock:
            for key, value in checked.items():
                previous = self._params.get(key)
                if previous is not None and previous != value:
                    raise InvalidInput(
                        f"param {key!r} was already logged as {previous!r}; params cannot change"
                    )
            self._params.update(checked)

    def set_tag(self, key: str, value: Any) -> None:
        """Set a tag (tags may change)."""
        self.set_tags({key: value})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set several tags."""
        self._ensure_running()
        checked = {self._key(k, "tag"): param_value(k, v) for k, v in tags.items()}
        with self._lock:
            self._tags.update(checked)

    def log_input(self, dataset: DatasetVersion | str, role: str = "train") -> None:
        """Record a dataset version the run read (`train`, `test`, `eval`, ...)."""
        from modelward.data.catalog import DatasetCatalog

        version = (
            dataset if not isinstance(dataset, str) else DatasetCatalog(self.workspace).get(dataset)
        )
        validate_key(role, "input role")
        self.repository.add_inputs(self.id, [(version.id, role)])

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> list[str]:
        """Store a file, or every file of a folder, under the run; returns the stored paths."""
        self._ensure_running()
        local = Path(path)
        if not local.exists():
            raise InvalidInput(f"no such file or folder: {local}")
        prefix = str(safe_relative_path(artifact_path)) if artifact_path else None
        if local.is_dir():
            files = sorted(p for p in local.rglob("*") if p.is_file() and not p.is_symlink())
            base = prefix or local.name
            items = [(f"{base}/{f.relative_to(local).as_posix()}", f) for f in files]
        else:
            items = [(prefix or local.name, local)]
        stored = []
        for name, file in items:
            safe = str(safe_relative_path(name))
            digest = self.workspace.artifacts.put_file(file)
            stored.append((safe, digest, self.workspace.artifacts.size_of(digest)))
        self.repository.add_artifacts(self.id, stored)
        return [name for name, _, _ in stored]

    def log_bytes(self, data: bytes, artifact_path: str) -> str:
        """Store bytes (a plot, a report) under the run at `artifact_path`."""
        self._ensure_running()
        safe = str(safe_relative_path(artifact_path))
        digest = self.workspace.artifacts.put_bytes(data)
        self.repository.add_artifacts(self.id, [(safe, digest, len(data))])
        return digest

    def log_model(
        self,
        model: Any,
        *,
        name: str | None = None,
        data: DatasetVersion | str | None = None,
        target: str | None = None,
        format: str | None = None,
    ) -> Any:
        """Store a fitted model with the run (safe format); with `name`, register it too.

        `data` is the training dataset version: its columns (less `target`)
        become the signature and its fitted transform is kept for serving.
        Returns the new ModelVersion when `name` is given, else the stored ModelInfo.
        """
        from modelward.tracking.run_model import describe_and_log

        self._ensure_running()
        if name is not None:
            validate_name(name, "model name")
            registrar = self._registrar or default_registrar()
        info = describe_and_log(self, model, data=data, target=target, format=format)
        if name is None:
            return info
        self.flush()
        return registrar(self.workspace, self.id, name)

    # -- writing ---------------------------------------------------------------
    def flush(self) -> None:
        """Write everything buffered so far, in one batch (one transaction locally).

        Each batch has an id. A batch whose write failed (a busy database, a team
        server out of reach) is kept as it was and sent again first, with the same
        id, so a server that stored it but whose answer was lost skips it: nothing
        is lost and nothing is stored twice.
        """
        with self._flush_lock:
            if self._unsent is not None:
                self._send(self._unsent)
            with self._lock:
                batch = _Batch(
                    uuid.uuid4().hex,
                    list(self._params.items()),
                    list(self._tags.items()),
                    self._metrics,
                )
                self._metrics, self._params, self._tags = [], {}, {}
            if batch.params or batch.tags or batch.metrics:
                self._send(batch)

    def _send(self, batch: _Batch) -> None:
        self._unsent = batch
        self.repository.log_batch(
            self.id,
            params=batch.params,
            tags=batch.tags,
            metrics=batch.metrics,
            batch_id=batch.id,
        )
        self._unsent = None

    def _flush_periodically(self, interval: float) -> None:
        while not self._stop.is_set():
            self._wake.wait(interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.flush()
            except ModelwardError as exc:
                # A bad value (a changed param) is reported when the run ends.
                self._flush_error = exc
            except Exception as exc:  # a busy database: retried on the next tick
                self._flush_error = exc

    def end(self, status: str = FINISHED, error: str | None = None) -> None:
        """Flush and close the run with its final status (idempotent)."""
        if self.status != RUNNING:
            return
        self._stop.set()
        self._wake.set()
        if self._flusher is not threading.current_thread():
            self._flusher.join(timeout=30)
        try:
            self.flush()
        except BaseException as exc:
            self.status = FAILED
            with contextlib.suppress(Exception):  # the store may be out of reach too
                self.repository.finish_run(self.id, FAILED, f"could not write logged data: {exc}")
            raise
        self.repository.finish_run(self.id, status, error)
        self.status = status
        _live_runs.discard(self)

    def _ensure_running(self) -> None:
        if self.status != RUNNING:
            raise InvalidInput(f"run {self.id[:8]} has ended ({self.status}): start a new run")

    def info(self) -> Run:
        """The run as stored (flushes first)."""
        if self.status == RUNNING:
            self.flush()
        return self.repository.get(self.id)

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.end(FINISHED)
        else:
            message = f"{type(exc).__name__}: {exc}".strip().rstrip(":")
            self.end(FAILED, message[:2000])
        # returning None re-raises the exception


@dataclass(frozen=True)
class _Batch:
    """Values taken off a run's buffer to be written together, under one id."""

    id: str
    params: list[tuple[str, str]]
    tags: list[tuple[str, str]]
    metrics: list[MetricRow]


def _seed_everything(seed: int) -> None:
    import random
    import sys

    random.seed(seed)
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed(seed % (2**32))


@atexit.register
def _end_live_runs() -> None:
    for run in list(_live_runs):
        with contextlib.suppress(Exception):  # best effort: nothing is left to report to
            run.end(FINISHED)
