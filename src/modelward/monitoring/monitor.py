"""The server's monitor: every few seconds it turns the prediction log into series and
gauges (latency, error rate, live quality, missing values, drift) and evaluates the alert
rules on them.

One process per model name monitors, on any number of machines over one store: it holds
the model's monitor lease in the metadata database (`monitoring.leases`), renewed every
round. With several workers, or other servers (replicas) for the same model, the others
serve and log but do not monitor, say so once, and take over when the holder stops
(its lease released), dies (on this host: at once) or stops renewing (elsewhere: once
the lease lapses). The state of each
alert rule is kept in the store, so a restarted monitor resumes it: a rule that was
firing does not fire again.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from modelward.monitoring.drift_rounds import DriftRound, DriftRunner, DriftWindow, InProcessDrift
from modelward.monitoring.leases import LeaseHolder
from modelward.monitoring.live import live_metrics
from modelward.monitoring.metrics import ServerMetrics
from modelward.monitoring.ports import (
    MonitorReads,
    alert_state_store,
    alert_store,
    monitor_lease_store,
    prediction_log_store,
)
from modelward.store.workspace import Workspace

log = logging.getLogger("modelward.monitoring")

SERIES_POINTS = 10_000
LEASE_FLOOR_SECONDS = 10.0


class ServerMonitor:
    """Samples the monitored series of the served model and fires alerts."""

    def __init__(
        self,
        workspace: Workspace,
        holder: Any,
        *,
        interval: float = 10.0,
        window_seconds: float = 300.0,
        drift_rows: int = 5000,
        min_drift_rows: int = 100,
        drift_every: float | None = None,
        alerts_path: str | None = None,
        clock: Callable[[], float] = time.time,
        drift: DriftRunner | None = None,
        reads: MonitorReads | None = None,
        on_fire: Callable[[Any, int | None], str] | None = None,
    ) -> None:
        """`drift` runs the drift rounds and `reads` reads each round's requests and labels
        (default: both in the monitor's thread; the server does both in its background
        process, `monitoring.background`, so that no round holds up a request). `on_fire` is
        called with a firing rule that has a `then` reaction and the alert's id (the
        server starts the rule's pipeline); it returns what it did, for the log."""
        self.workspace = workspace
        self.holder = holder
        self.interval = interval
        self.window_seconds = window_seconds
        self.drift_rows = drift_rows
        self.min_drift_rows = min_drift_rows
        # Drift reads and compares thousands of logged rows: not on every round.
        self.drift_every = 6 * interval if drift_every is None else drift_every
        self._last_drift = float("-inf")
        self.clock = clock
        self.rules: Any = None
        if alerts_path:
            from modelward.monitoring.alerts import load_rules

            self.rules = load_rules(alerts_path)
        self.metrics = ServerMetrics.get()
        self.log = reads if reads is not None else prediction_log_store(workspace)
        self.alerts = alert_store(workspace)
        self.alert_states = alert_state_store(workspace)
        self._saved_states: tuple[tuple[str, str, float | None, float | None], ...] = ()
        self.other_monitor_pid: int | None = None  # the process that monitors, when not us
        self._noted_follower = False
        self._restored = False  # alert states read back from the store since leading
        self.series: dict[str, deque[tuple[float, float]]] = {}
        self._evaluator: Any = None
        if self.rules is not None:
            from modelward.monitoring.alerts import AlertEvaluator

            self._evaluator = AlertEvaluator(self.rules)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._leases = monitor_lease_store(workspace)
        self._lease_holder = LeaseHolder.this_process()
        self._leading = False
        # renewed every round; another process takes over once it lapses
        self.lease_seconds = max(LEASE_FLOOR_SECONDS, 3 * interval)
        self.drift = drift if drift is not None else InProcessDrift(workspace)
        self.last_drift: dict[str, Any] | None = None  # the latest drift round
        self.on_fire = on_fire

    # -- leadership ------------------------------------------------------------
    @property
    def leading(self) -> bool:
        """Whether this process is the one monitoring the model."""
        return self._leading

    def lead(self) -> bool:
        """Take or renew the model's monitor lease (every round); returns whether this
        process monitors. The first time another holds it, say which one (a log line)."""
        name = self.holder.current.version.name
        other = self._leases.acquire(name, self._lease_holder, self.lease_seconds)
        if other is not None:
            if self._leading:
                log.warning("process %s took over the monitor of model %r", other.name, name)
                self._leading = False
            self._note_follower(name, other)
            return False
        if self._leading:
            if not self._restored:  # an earlier attempt failed (the store was busy)
                self._restore_alert_states(name)
            return True
        self._leading = True
        if self._noted_follower:
            log.warning("this process (pid %d) now runs the monitor of model %r", os.getpid(), name)
        self.other_monitor_pid = None
        self._restored = False
        self._restore_alert_states(name)  # before any round: a firing rule stays firing
        return True

    def _note_follower(self, name: str, other: LeaseHolder) -> None:
        self.other_monitor_pid = other.pid
        if self._noted_follower:
            return
        self._noted_follower = True
        here = other.host == self._lease_holder.host
        who = (
            f"another process (pid {other.pid})" if here else f"process {other.pid} on {other.host}"
        )
        sibling = (
            os.environ.get("MODELWARD_SERVE_REF") is not None  # a worker of `mw serve --workers`
            and here
            and other.parent_pid == os.getppid()
        )
        if sibling:
            log.info("the monitor of model %r runs in worker pid %s", name, other.pid)
            return
        log.warning(
            "%s runs the monitor of model %r: this server answers and logs predictions, "
            "but live metrics, drift and alerts come from that process; this one takes "
            "over if it stops (its lease in the store lapses %.0f s after its last round)",
            who,
            name,
            self.lease_seconds,
        )

    def _restore_alert_states(self, name: str) -> None:
        if self._evaluator is None:
            self._restored = True
            return
        digests = {rule.name: rule.digest for rule in self.rules.rules}
        restored = self._evaluator.restore(self.alert_states.load(name, digests))
        self._saved_states = self._state_key()
        self._restored = True
        firing = [status.rule for status in self._evaluator.status() if status.state == "firing"]
        if restored:
            log.info("alert states of %r restored (%s firing)", name, ", ".join(firing) or "none")

    def start(self) -> None:
        """Run `tick` every `interval` seconds in a background thread."""
        if self.interval <= 0 or self._thread is not None:
            return
        try:
            if self.lead():  # now, so a server that will not monitor says so as it starts
                self.drift.prepare(self.holder.current.version)
        except Exception as exc:  # retried every round
            log.warning("monitor lease: %s", exc)
        self._thread = threading.Thread(target=self._run, name="monitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and release the lease."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._leading:
            self._leading = False
            try:
                self._leases.release(self.holder.current.version.name, self._lease_holder)
            except Exception as exc:  # it lapses on its own
                log.warning("monitor lease not released: %s", exc)
        self.drift.close()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                if self.lead():
                    self.tick()
            except Exception as exc:  # never let monitoring take the server down
                log.warning("monitor tick failed: %s", exc)

    # -- one round -------------------------------------------------------------
    def tick(self, now: float | None = None) -> list[Any]:
        """Sample every series once, update gauges, evaluate rules; returns alert events."""
        now = self.clock() if now is None else now
        version = self.holder.current.version
        since_ms = int((now - self.window_seconds) * 1000)
        requests = self.log.request_summary(version.name, since_ms)
        if requests.latency_p95_ms is not None:
            self._add("latency_p95_seconds", now, requests.latency_p95_ms / 1000.0)
        if requests.total:
            self._add("error_rate", now, requests.failed / requests.total)
        self._add("request_rate", now, requests.total / self.window_seconds)
        live = live_metrics(version.task, self.log.labeled(version.name, last=1000))
        for key, value in live.items():
            if key == "live_n":
                self.metrics.live_labeled.labels(model=version.name).set(value)
                continue
            self.metrics.live.labels(model=version.name, metric=key.removeprefix("live_")).set(
                value
            )
            self._add(key, now, value)
        if now - self._last_drift >= self.drift_every:
            window = DriftWindow(since_ms, self.drift_rows, self.min_drift_rows)
            found = self.drift.run(version, window)  # None: no rows yet, or still running
            if found is not None:
                self._last_drift = now
                for feature, share in found.missing.items():
                    self.metrics.missing_ratio.labels(model=version.name, feature=feature).set(
                        share
                    )
                if found.report is not None:
                    self._drift(version, found, found.report, now)
        return self._evaluate(version.name, now)

    def _add(self, metric: str, now: float, value: float) -> None:
        points = self.series.setdefault(metric, deque(maxlen=SERIES_POINTS))
        points.append((now, float(value)))

    def _drift(self, version: Any, found: DriftRound, report: dict[str, Any], now: float) -> None:
        features = report["features"]
        for feature in features:
            if feature.get("psi") is not None:
                self.metrics.drift_psi.labels(model=version.name, feature=feature["name"]).set(
                    feature["psi"]
                )
        dataset_verdict = report["dataset"]
        self.metrics.drift_share.labels(model=version.name).set(dataset_verdict["share"])
        self.metrics.drift_detected.labels(model=version.name).set(
            1.0 if dataset_verdict["drifted"] else 0.0
        )
        self._add("drift_share", now, dataset_verdict["share"])
        psis = [f["psi"] for f in features if f.get("psi") is not None]
        if psis:
            self._add("drift_psi_max", now, max(psis))
        # What a drift alert reports: this round's verdict and the exact rows it read, so
        # `mw monitor drift` (or the demo) can show the same report, not another window's.
        self.last_drift = {
            "at": now,
            "drifted": dataset_verdict["drifted"],
            "share": dataset_verdict["share"],
            "n_features": dataset_verdict["n_features"],
            "n_drifted": dataset_verdict["n_drifted"],
            "drifted_features": dataset_verdict["drifted_features"],
            "n_rows": found.n_rows,
            "since_ms": found.window.since_ms,
            "until_id": found.until_id,
            "limit": found.window.limit,  # requests, newest first: the same query again
        }

    def _evaluate(self, model: str, now: float) -> list[Any]:
        if self._evaluator is None:
            return []
        series = {name: list(points) for name, points in self.series.items()}
        events = list(self._evaluator.evaluate(series, now))
        self._save_alert_states(model)  # first: a crash while notifying must not re-fire
        for event in events:
            self._handle(model, event)
        firing = len(getattr(self._evaluator, "firing", ()) or ())
        self.metrics.alerts_firing.labels(model=model).set(firing)
        return events

    def _state_key(self) -> tuple[tuple[str, str, float | None, float | None], ...]:
        return tuple((s.rule, s.state, s.since, s.fired_at) for s in self._evaluator.status())

    def _save_alert_states(self, model: str) -> None:
        # Written when a rule changes state (not every round): what a restart needs.
        key = self._state_key()
        if key == self._saved_states:
            return
        digests = {rule.name: rule.digest for rule in self.rules.rules}
        self.alert_states.save(model, [(digests[s.rule], s) for s in self._evaluator.status()])
        self._saved_states = key

    def _handle(self, model: str, event: Any) -> None:
        from modelward.monitoring.webhooks import send_webhook

        details = event.to_dict()
        if event.metric.startswith("drift_") and self.last_drift is not None:
            details["drift"] = dict(self.last_drift)
        log.warning("alert %s %s: %s", event.rule, event.state, event.message)
        alert_id = self.alerts.add(
            rule=event.rule,
            metric=event.metric,
            state=event.state,
            value=event.value,
            model=model,
            message=event.message,
            details=details,
        )
        rule = next((r for r in self.rules.rules if r.name == event.rule), None)
        reacts = rule is not None and rule.then is not None and self.on_fire is not None
        if event.state == "firing" and reacts:
            try:
                self.on_fire(rule, alert_id)  # type: ignore[misc]
            except Exception as exc:  # a reaction that fails must not stop monitoring
                log.warning("alert %s: its pipeline could not start: %s", event.rule, exc)
        webhook = self.rules.webhook if self.rules is not None else None
        if webhook:
            result = send_webhook(webhook, event, allow=self.rules.webhook_allow)
            status = f"ok {result.status_code}" if result.ok else f"failed: {result.error}"
            self.alerts.set_webhook_status(alert_id, status)
