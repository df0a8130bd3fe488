"""A server's background log work in one child process: the monitor's reads (request
summaries, labeled predictions), its drift rounds and the compaction of log segments.

All of it is Python work on the interpreter's lock: boto3 building and parsing each
request to the object store, listings, Parquet decoding and merging. In the serving
process a monitor round took the lock from the event loop in bursts of a tenth of a
second every ten seconds: the requests answered during a burst were the server's
slowest (bench/prediction_log.py). The child does this work at the lowest CPU
priority and answers with a few numbers, so a server's lock is its requests'.

    background = BackgroundProcess(settings)       # the child starts at the first call
    reads = ChildLogReads(background)              # the monitor's reads, in the child
    background.call("compact", {})                 # a compaction round there
    background.close()

Requests and answers are JSON lines on the child's stdin and stdout (no pickle, and no
re-import of the server's main module, which `multiprocessing`'s spawn does), tagged
with an id. Each kind of request has a thread of its own in the child (a preparation
shares the drift rounds'), so a long compaction or drift round never holds up the next
summary. The child exits when its stdin closes, so a server killed outright takes it
along. A call that takes longer than its timeout stops the child (every call pending in
it fails); the next call starts another.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from modelward.config import Settings
    from modelward.monitoring.prediction_records import LabeledPrediction, RequestSummary
    from modelward.store.workspace import Workspace

log = logging.getLogger("modelward.monitoring")

READ_TIMEOUT = 60.0  # seconds for a summary or labeled predictions
COMPACTION_TIMEOUT = 900.0  # seconds for a compaction round (its lease's length)


class BackgroundProcess:
    """One child process doing a server's background log work (see the module)."""

    def __init__(self, settings: Settings, *, timeout: float = 300.0) -> None:
        self.settings = settings
        self.timeout = timeout  # for a call that names none
        self._lock = threading.Lock()
        self._child: _Child | None = None
        self._next_id = 0

    @property
    def pid(self) -> int | None:
        """The child's process id, while it runs."""
        child = self._child
        return child.process.pid if child is not None and child.process.poll() is None else None

    def call(self, kind: str, request: dict[str, Any], *, timeout: float | None = None) -> Any:
        """What the child answers to a request of `kind`; RuntimeError, in one line, when
        the child failed the request, exited or took longer than `timeout` seconds."""
        from modelward.monitoring.drift_rounds import settings_to_dict

        pending = _Pending()
        with self._lock:
            child = self._child
            if child is None or child.process.poll() is not None:
                child = self._child = _Child.start()
            self._next_id += 1
            call_id = self._next_id
            child.pending[call_id] = pending
            line = {"id": call_id, "kind": kind, "settings": settings_to_dict(self.settings)}
            try:
                child.send(json.dumps({**line, **request}).encode() + b"\n")
            except (OSError, ValueError) as exc:  # the child died: a new one next call
                self._stop(child)
                raise RuntimeError(f"the background process failed: {exc}") from None
        limit = self.timeout if timeout is None else timeout
        if not pending.done.wait(limit):
            self._stop(child)
            raise RuntimeError(f"the background {kind} took over {limit:.0f} s")
        if pending.error is not None:
            raise RuntimeError(pending.error)
        return pending.answer

    def _stop(self, child: _Child) -> None:
        with self._lock:
            if self._child is child:
                self._child = None
        child.stop()

    def close(self) -> None:
        """Stop the child (it exits once its stdin closes)."""
        with self._lock:
            child, self._child = self._child, None
        if child is not None:
            child.stop()


class _Pending:
    """A call waiting for its answer."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.answer: Any = None
        self.error: str | None = None


class _Child:
    """The child process, the calls it has not answered and the thread reading its answers."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self.pending: dict[int, _Pending] = {}
        self._reader = threading.Thread(target=self._read, name="background-answers", daemon=True)
        self._reader.start()

    @classmethod
    def start(cls) -> _Child:
        # This very package, wherever the server imported it from.
        package_root = str(Path(__file__).resolve().parents[2])
        path = os.environ.get("PYTHONPATH")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, path]))}
        # Niced before it imports anything: this is background work, and on a small
        # machine it would otherwise take CPU from the requests it is about.
        launch = (
            "import os; os.nice(19); from modelward.monitoring.background import serve; serve()"
        )
        process = subprocess.Popen(
            [sys.executable, "-c", launch], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
        )
        return cls(process)

    def send(self, line: bytes) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line)
        self.process.stdin.flush()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                answer = json.loads(line)
                pending = self.pending.pop(int(answer["id"]), None)
            except (ValueError, KeyError, TypeError):
                log.warning("the background process wrote %r: ignored", line[:200])
                continue
            if pending is not None:  # else: abandoned by its caller
                pending.answer = answer.get("answer")
                pending.error = answer.get("error")
                pending.done.set()
        for pending in list(self.pending.values()):
            pending.error = "the background process exited"
            pending.done.set()
        self.pending.clear()

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.process.stdin.close()  # type: ignore[union-attr]
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._reader.join(timeout=5)
        with contextlib.suppress(OSError):
            self.process.stdout.close()  # type: ignore[union-attr]


class ChildLogReads:
    """The monitor's reads of the prediction log (`MonitorReads`), done by the child."""

    def __init__(self, background: BackgroundProcess, *, timeout: float = READ_TIMEOUT) -> None:
        self.background = background
        self.timeout = timeout

    def request_summary(self, model_name: str, since_ms: int) -> RequestSummary:
        """Requests since a time, failed ones and the p95 latency (`PredictionLog`'s)."""
        from modelward.monitoring.prediction_records import RequestSummary

        request = {"model": model_name, "since_ms": since_ms}
        found = self.background.call("summary", request, timeout=self.timeout)
        return RequestSummary(**found)

    def labeled(self, model_name: str, *, last: int = 1000) -> list[LabeledPrediction]:
        """The `last` labeled predictions of a model, newest first (`PredictionLog`'s)."""
        from modelward.monitoring.prediction_records import LabeledPrediction

        request = {"model": model_name, "last": last}
        found = self.background.call("labeled", request, timeout=self.timeout)
        return [LabeledPrediction(**row) for row in found]


def child_compaction(
    background: BackgroundProcess, *, timeout: float = COMPACTION_TIMEOUT
) -> Callable[[], int]:
    """A `LogCompactor`'s merge done by the child: how many segments it replaced."""
    return lambda: int(background.call("compact", {}, timeout=timeout))


# -- the child ------------------------------------------------------------------------------
Handler = Callable[["_Context", dict[str, Any]], Any]


class Answers(Protocol):
    """Where the child writes its answers (its stdout)."""

    def write(self, data: bytes, /) -> int: ...

    def flush(self) -> None: ...


class _Context:
    """What the child keeps between requests of one set of settings: the workspace (its
    prediction log's cache of decoded segments with it) and drift's reference statistics."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.references: dict[str, Any] = {}

    @property
    def log(self) -> Any:
        from modelward.monitoring.ports import prediction_log_store

        return prediction_log_store(self.workspace)


def _summary(context: _Context, request: dict[str, Any]) -> Any:
    return asdict(context.log.request_summary(str(request["model"]), int(request["since_ms"])))


def _labeled(context: _Context, request: dict[str, Any]) -> Any:
    found = context.log.labeled(str(request["model"]), last=int(request["last"]))
    return [asdict(row) for row in found]


def _drift(context: _Context, request: dict[str, Any]) -> Any:
    from modelward.monitoring.drift_rounds import DriftWindow, drift_round
    from modelward.registry.ports import model_registry

    version = model_registry(context.workspace).get(str(request["model"]))
    window = DriftWindow(**request["window"])
    found = drift_round(context.workspace, version, window, context.references)
    return None if found is None else asdict(found)


def _prepare(context: _Context, request: dict[str, Any]) -> Any:
    from modelward.monitoring.drift_rounds import prepare_rounds
    from modelward.registry.ports import model_registry

    version = model_registry(context.workspace).get(str(request["model"]))
    prepare_rounds(context.workspace, version, context.references)
    # What the preparation loaded (scipy, pandas, boto3's models, the reference) lives as
    # long as the child: out of the collector's way, full collections walk only each
    # round's objects.
    gc.freeze()
    return None


def _compact(context: _Context, request: dict[str, Any]) -> Any:
    from modelward.monitoring.compaction import compact_all

    return compact_all(context.workspace)


HANDLERS: dict[str, Handler] = {
    "summary": _summary,
    "labeled": _labeled,
    "drift": _drift,
    "prepare": _prepare,
    "compact": _compact,
}

# Kinds that share a thread: a drift round waits for the preparation of its reference.
LANES = {"prepare": "drift"}


def serve() -> None:
    """The child: one JSON request per stdin line, one JSON answer per stdout line."""
    # The answers get the real stdout to themselves; anything a library prints goes
    # to stderr instead of into the protocol.
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    serve_requests(sys.stdin.buffer, answers, HANDLERS)


def serve_requests(
    requests: Iterable[bytes], answers: Answers, handlers: dict[str, Handler]
) -> None:
    """Answer each request line on `answers`, every kind in a thread of its own (its
    `LANES` one; in the order its requests came); returns once `requests` end and the
    answers are written."""
    contexts: dict[str, _Context] = {}
    contexts_lock = threading.Lock()
    write_lock = threading.Lock()

    def context_for(settings: dict[str, Any]) -> _Context:
        from modelward.monitoring.drift_rounds import settings_from_dict
        from modelward.store.workspace import open_workspace

        key = json.dumps(settings, sort_keys=True)
        with contexts_lock:
            found = contexts.get(key)
            if found is None:
                found = contexts[key] = _Context(open_workspace(settings_from_dict(settings)))
            return found

    def answer(call_id: Any, **found: Any) -> None:
        line = json.dumps({"id": call_id, **found}).encode() + b"\n"
        with write_lock:
            answers.write(line)
            answers.flush()

    def work(jobs: queue.Queue[tuple[Handler, dict[str, Any]] | None]) -> None:
        while (job := jobs.get()) is not None:
            handler, request = job
            try:
                found = handler(context_for(request["settings"]), request)
                answer(request["id"], answer=found)
            except Exception as exc:
                answer(request["id"], error=" ".join(f"{type(exc).__name__}: {exc}".split()))

    queues: dict[str, queue.Queue[tuple[Handler, dict[str, Any]] | None]] = {}
    workers: list[threading.Thread] = []
    for line in requests:
        request: Any = None
        try:
            request = json.loads(line)
            kind = request["kind"]
            handler = handlers[kind]
        except (ValueError, KeyError, TypeError) as exc:
            call_id = request.get("id") if isinstance(request, dict) else None
            answer(call_id, error=f"not a background request: {exc}")
            continue
        lane = LANES.get(kind, kind)
        jobs = queues.get(lane)
        if jobs is None:
            jobs = queues[lane] = queue.Queue()
            worker = threading.Thread(target=work, args=(jobs,), name=lane, daemon=True)
            worker.start()
            workers.append(worker)
        jobs.put((handler, request))
    for jobs in queues.values():  # the server is going: what has not begun never will
        with contextlib.suppress(queue.Empty):
            while True:
                jobs.get_nowait()
        jobs.put(None)
    for worker in workers:
        worker.join()
