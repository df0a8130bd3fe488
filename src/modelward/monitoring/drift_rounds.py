"""The server monitor's drift round: a window of logged inputs against the model's reference.

A round reads up to a few thousand logged requests, parses their inputs and tests
every feature. That is seconds of CPU, and scipy's exact KS p-value (compiled, it
keeps the GIL) holds the interpreter for up to a tenth of a second per column: in
the serving process, every request would wait that long, several times a round.
`ChildProcessDrift` therefore runs rounds in one child process kept for the
server's life, so the event loop never waits for drift; `InProcessDrift` runs them
in the caller's thread, for tests and tools where nothing else waits.

Both read through the workspace's ports: with MODELWARD_URI set, the child reads
the prediction log, the model and the reference statistics from the team server,
as the serving process would.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import subprocess
import sys
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from modelward.config import Settings
from modelward.monitoring.ports import prediction_log_store
from modelward.monitoring.predictions import inputs_frame
from modelward.registry.entities import ModelVersion
from modelward.store.workspace import Workspace, open_workspace

log = logging.getLogger("modelward.monitoring")


@dataclass(frozen=True)
class DriftWindow:
    """Which logged requests a round reads: answered ones since `since_ms`, newest first."""

    since_ms: int
    limit: int
    min_rows: int  # fewer rows than this: missing shares only, no drift test


@dataclass(frozen=True)
class DriftRound:
    """What one round found."""

    window: DriftWindow  # the rows it was asked for
    n_rows: int
    until_id: int  # the newest row it read: with `since_ms`, the exact rows again
    missing: dict[str, float]  # share of missing values per input column
    report: dict[str, Any] | None  # `DriftReport.to_dict()`; None below `min_rows`


def drift_round(
    workspace: Workspace,
    version: ModelVersion,
    window: DriftWindow,
    references: dict[str, Any],
) -> DriftRound | None:
    """One round in this process (None: no answered request in the window).

    `references` caches each version's reference statistics between rounds.
    """
    records = prediction_log_store(workspace).records(
        version.name, since_ms=window.since_ms, limit=window.limit
    )
    frame = inputs_frame(records)
    if frame is None:
        return None
    missing = {str(name): float(share) for name, share in frame.isna().mean().items()}
    until_id = max(r.id or 0 for r in records)
    if len(frame) < window.min_rows:
        return DriftRound(window, len(frame), until_id, missing, None)
    from modelward.monitoring.drift.cache import reference_dataset, reference_stats
    from modelward.monitoring.drift.engine import detect_drift

    columns = [column["name"] for column in version.signature["inputs"]]
    reference = references.get(version.ref)
    if reference is None:
        dataset = reference_dataset(workspace, version)
        reference = references[version.ref] = reference_stats(workspace, dataset, columns)
    report = detect_drift(reference, frame[columns]).to_dict()
    return DriftRound(window, len(frame), until_id, missing, report)


class DriftRunner(Protocol):
    """Runs the monitor's drift rounds somewhere."""

    def run(self, version: ModelVersion, window: DriftWindow) -> DriftRound | None:
        """One round; raises what the round raised."""

    def close(self) -> None:
        """Release what the runner holds."""


class InProcessDrift:
    """Rounds in the calling thread."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self._references: dict[str, Any] = {}

    def run(self, version: ModelVersion, window: DriftWindow) -> DriftRound | None:
        """One round, here."""
        return drift_round(self.workspace, version, window, self._references)

    def close(self) -> None:
        """Nothing to release."""


class ChildProcessDrift:
    """Rounds in one child process (`serve_rounds`, at the lowest CPU priority),
    started at the first round and kept until `close`.

    Requests and answers are JSON lines on the child's stdin and stdout: no pickle,
    and no re-import of the server's main module (which `multiprocessing`'s spawn
    does). The child exits when its stdin closes, so a server killed outright takes
    it along. `run` waits up to `wait` seconds for the round; a round still running
    then is answered by a later `run` (the server's monitor passes 0: its other
    series never wait for drift). A round past `timeout` seconds is abandoned with
    its child.
    """

    def __init__(self, settings: Settings, *, wait: float = 300.0, timeout: float = 300.0) -> None:
        self.settings = settings
        self.wait = wait
        self.timeout = timeout
        self._child: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._round: _Round | None = None  # the round asked for and not yet answered

    @property
    def pid(self) -> int | None:
        """The child's process id, while it runs."""
        child = self._child
        return child.pid if child is not None and child.poll() is None else None

    def run(self, version: ModelVersion, window: DriftWindow) -> DriftRound | None:
        """The round for `window` (or the one still pending: its own window is in
        the answer); None while it runs."""
        with self._lock:
            current = self._round
            if current is None:
                current = self._round = _Round()
                threading.Thread(
                    target=self._ask, args=(current, version, window), name="drift", daemon=True
                ).start()
        if not current.done.wait(self.wait):
            return None
        with self._lock:
            self._round = None
        if current.error is not None:
            raise current.error
        return current.found

    def _ask(self, current: _Round, version: ModelVersion, window: DriftWindow) -> None:
        try:
            current.found = self._exchange(version, window)
        except Exception as exc:
            current.error = exc
        finally:
            current.done.set()

    def _exchange(self, version: ModelVersion, window: DriftWindow) -> DriftRound | None:
        child = self._child
        if child is None or child.poll() is not None:
            child = self._child = self._start()
        assert child.stdin is not None and child.stdout is not None
        request = {
            "settings": settings_to_dict(self.settings),
            "model": version.ref,
            "window": asdict(window),
        }
        try:
            child.stdin.write(json.dumps(request).encode() + b"\n")
            child.stdin.flush()
            ready, _, _ = select.select([child.stdout], [], [], self.timeout)
            line = child.stdout.readline() if ready else b""
        except (OSError, ValueError) as exc:  # the child died (or was closed): a new one next
            self.close()
            raise RuntimeError(f"the drift process failed: {exc}") from None
        if not line:
            self.close()
            raise RuntimeError(
                "the drift process exited"
                if ready
                else f"the drift round took over {self.timeout:.0f} s"
            )
        answer = json.loads(line)
        if "error" in answer:
            raise RuntimeError(answer["error"])
        found = answer["round"]
        if found is None:
            return None
        return DriftRound(**{**found, "window": DriftWindow(**found["window"])})

    def _start(self) -> subprocess.Popen[bytes]:
        # This very package, wherever the server imported it from.
        package_root = str(Path(__file__).resolve().parents[2])
        path = os.environ.get("PYTHONPATH")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, path]))}
        # Niced before it imports anything: rounds are background work, and on a small
        # machine they would otherwise take CPU from the requests they are about.
        launch = (
            "import os; os.nice(19); "
            "from modelward.monitoring.drift_rounds import serve_rounds; serve_rounds()"
        )
        return subprocess.Popen(
            [sys.executable, "-c", launch],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )

    def close(self) -> None:
        """Stop the child process."""
        child, self._child = self._child, None
        if child is None:
            return
        with contextlib.suppress(OSError):
            child.stdin.close()  # type: ignore[union-attr]
        try:
            child.wait(timeout=5)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        with contextlib.suppress(OSError):
            child.stdout.close()  # type: ignore[union-attr]


class _Round:
    """One round asked of the child: its answer, once `done`."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.found: DriftRound | None = None
        self.error: Exception | None = None


def settings_to_dict(settings: Settings) -> dict[str, Any]:
    """`settings` as JSON-able values (the token included: it goes down a private pipe)."""
    values = asdict(settings)
    values["home"] = str(settings.home)
    values["protected_aliases"] = list(settings.protected_aliases)
    return values


def settings_from_dict(values: dict[str, Any]) -> Settings:
    """The settings a `settings_to_dict` describes."""
    return Settings(
        **{
            **values,
            "home": Path(values["home"]),
            "protected_aliases": tuple(values["protected_aliases"]),
        }
    )


def serve_rounds() -> None:
    """The child: one JSON request per stdin line, one JSON answer per stdout line."""
    from modelward.registry.ports import model_registry

    # The answers get the real stdout to themselves; anything a library prints goes
    # to stderr instead of into the protocol.
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    references: dict[str, Any] = {}
    for line in sys.stdin.buffer:
        try:
            request = json.loads(line)
            workspace = open_workspace(settings_from_dict(request["settings"]))
            version = model_registry(workspace).get(request["model"])
            found = drift_round(workspace, version, DriftWindow(**request["window"]), references)
            answer: dict[str, Any] = {"round": None if found is None else asdict(found)}
        except Exception as exc:
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()
