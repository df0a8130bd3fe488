"""The server monitor's drift round: a window of logged inputs against the model's reference.

A round reads up to a few thousand logged requests, parses their inputs and tests
every feature. That is seconds of CPU, and scipy's exact KS p-value (compiled, it
keeps the GIL) holds the interpreter for up to a tenth of a second per column: in
the serving process, every request would wait that long, several times a round.
`ChildProcessDrift` therefore runs rounds in a child process kept for the server's
life (`monitoring.background`), so the event loop never waits for drift;
`InProcessDrift` runs them in the caller's thread, for tests and tools where nothing
else waits.

Both read through the workspace's ports: with MODELWARD_URI set, the child reads
the prediction log, the model and the reference statistics from the team server,
as the serving process would.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from modelward.config import Settings
from modelward.monitoring.ports import prediction_log_store
from modelward.registry.entities import ModelVersion
from modelward.store.workspace import Workspace

if TYPE_CHECKING:
    from modelward.monitoring.background import BackgroundProcess

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
    found = prediction_log_store(workspace).input_window(
        version.name, since_ms=window.since_ms, limit=window.limit
    )
    if found is None:
        return None
    frame, until_id = found.frame, found.until_id
    missing = {str(name): float(share) for name, share in frame.isna().mean().items()}
    if len(frame) < window.min_rows:
        return DriftRound(window, len(frame), until_id, missing, None)
    from modelward.monitoring.drift.engine import detect_drift

    columns = [column["name"] for column in version.signature["inputs"]]
    reference = version_reference(workspace, version, references)
    report = detect_drift(reference, frame[columns]).to_dict()
    return DriftRound(window, len(frame), until_id, missing, report)


def version_reference(
    workspace: Workspace, version: ModelVersion, references: dict[str, Any]
) -> Any:
    """The reference statistics of `version`'s inputs (`ReferenceStats`), kept in
    `references` by version."""
    from modelward.monitoring.drift.cache import reference_dataset, reference_stats

    reference = references.get(version.ref)
    if reference is None:
        columns = [column["name"] for column in version.signature["inputs"]]
        dataset = reference_dataset(workspace, version)
        reference = references[version.ref] = reference_stats(workspace, dataset, columns)
    return reference


def prepare_rounds(workspace: Workspace, version: ModelVersion, references: dict[str, Any]) -> None:
    """What the first round would otherwise do during traffic: import the tests (scipy
    and pandas take most of a second), open the log and make its clients (a request
    summary of this moment lists its partitions) and load `version`'s reference
    statistics. What cannot be had is left to the round, which reports why."""
    import pandas  # noqa: F401
    import scipy.stats  # noqa: F401

    import modelward.monitoring.drift.engine  # noqa: F401

    try:
        store = prediction_log_store(workspace)
        store.request_summary(version.name, since_ms=int(time.time() * 1000))
        version_reference(workspace, version, references)
    except Exception as exc:
        log.debug("drift rounds of %s not prepared: %s", version.ref, exc)


class DriftRunner(Protocol):
    """Runs the monitor's drift rounds somewhere."""

    def run(self, version: ModelVersion, window: DriftWindow) -> DriftRound | None:
        """One round; raises what the round raised."""

    def prepare(self, version: ModelVersion) -> None:
        """Get ready for `version`'s rounds without waiting (imports, its reference)."""

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

    def prepare(self, version: ModelVersion) -> None:
        """Nothing: the first round here does it, where nothing else waits."""

    def close(self) -> None:
        """Nothing to release."""


class ChildProcessDrift:
    """Rounds in a child process at the lowest CPU priority (a `BackgroundProcess`: the
    server's, shared with its other background work, or one of its own), started at
    the first round.

    `run` waits up to `wait` seconds for the round; a round still running then is
    answered by a later `run` (the server's monitor passes 0: its other series never
    wait for drift). A round past `timeout` seconds is abandoned with its child.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        wait: float = 300.0,
        timeout: float = 300.0,
        background: BackgroundProcess | None = None,
    ) -> None:
        from modelward.monitoring.background import BackgroundProcess

        self.settings = settings
        self.wait = wait
        self.timeout = timeout
        self._owned = background is None  # closed with this runner, or by its owner
        self.background = background if background is not None else BackgroundProcess(settings)
        self._lock = threading.Lock()
        self._round: _Round | None = None  # the round asked for and not yet answered

    @property
    def pid(self) -> int | None:
        """The child's process id, while it runs."""
        return self.background.pid

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

    def prepare(self, version: ModelVersion) -> None:
        """Start the child and have it import and load what `version`'s rounds need, in
        a thread: at start-up, not in the first round during traffic."""

        def ask() -> None:
            try:
                self.background.call("prepare", {"model": version.ref}, timeout=self.timeout)
            except RuntimeError as exc:  # the first round starts another child
                log.warning("drift rounds not prepared: %s", exc)

        threading.Thread(target=ask, name="drift-prepare", daemon=True).start()

    def _ask(self, current: _Round, version: ModelVersion, window: DriftWindow) -> None:
        try:
            request = {"model": version.ref, "window": asdict(window)}
            found = self.background.call("drift", request, timeout=self.timeout)
            if found is not None:
                found = DriftRound(**{**found, "window": DriftWindow(**found["window"])})
            current.found = found
        except Exception as exc:
            current.error = exc
        finally:
            current.done.set()

    def close(self) -> None:
        """Stop the child process (when it is this runner's own)."""
        if self._owned:
            self.background.close()


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
