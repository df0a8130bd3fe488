"""Alerts: evaluate rules over monitored series (webhooks: `monitoring.webhooks`).

    config = load_rules("alerts.yaml")                # the format: see `monitoring.rules`
    evaluator = AlertEvaluator(config)
    series = {"live_accuracy": [(t0, 0.91), (t1, 0.90), ...]}   # metric -> (time, value) points
    for event in evaluator.evaluate(series, now=time.time()):
        store(event); log.warning(event.message)
        if config.webhook:                            # never raises on network errors
            send_webhook(config.webhook, event, allow=config.webhook_allow)

A rule is inactive, pending or firing. It goes pending at the first
evaluation where its condition holds, fires once it has held at every
evaluation for `for` (at once when `for` is 0s), and resolves at the first
evaluation where it no longer holds; a pending rule that stops holding goes
back to inactive silently. `evaluate` returns events for the two transitions
that matter, `firing` and `resolved`, never for a rule that stays as it is.

What a rule reads of its series (a list of `(timestamp seconds, value)` points
the caller provides; any order):

- only points at or before `now` with a finite timestamp and value: NaN, ±inf
  and malformed points are ignored, never an error;
- a duration window keeps the points in (now - window, now]; a count window
  keeps the last N points (for a zscore rule the last N + 1: the latest point
  and the N before it) among those in (now - max_age, now];
- a threshold rule compares the mean of those values; a zscore rule the
  z-score of the latest point against the others (`anomaly.rolling_zscores`,
  which needs all N points of a count window, or at least MIN_HISTORY points
  before the latest one in a duration window);
- with no usable data (an unknown metric, an empty window, too short a
  history) the rule stays as it is: pending stays pending, firing keeps firing.
  Silence is not recovery, and a pending rule keeps its start time.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from modelward.errors import InvalidInput
from modelward.monitoring.alert_events import AlertEvent, EventState, RuleState, RuleStatus
from modelward.monitoring.anomaly import rolling_zscores
from modelward.monitoring.rules import (
    AlertConfig,
    AlertRule,
    format_duration,
    load_rules,
    parse_duration,
    parse_rules,
)

__all__ = [
    "MIN_HISTORY",
    "AlertConfig",
    "AlertEvaluator",
    "AlertEvent",
    "AlertRule",
    "RuleStatus",
    "load_rules",
    "parse_duration",
    "parse_rules",
]

MIN_HISTORY = 3
"""Points a duration-window zscore rule needs before the latest one."""

Points = Sequence[tuple[float, float]] | npt.ArrayLike


@dataclass
class _Track:
    state: RuleState = "inactive"
    started_at: float | None = None
    fired_at: float | None = None
    value: float | None = None
    zscore: float | None = None
    evaluated_at: float | None = None


class AlertEvaluator:
    """The rules of one configuration and the state of each; safe to share between threads."""

    def __init__(self, config: AlertConfig) -> None:
        if not isinstance(config, AlertConfig):
            raise InvalidInput(f"an AlertEvaluator needs an AlertConfig, not {config!r:.60}")
        self.config = config
        self._tracks = {rule.name: _Track() for rule in config.rules}
        self._lock = threading.Lock()

    def evaluate(self, series: Mapping[str, Points], now: float) -> list[AlertEvent]:
        """Evaluate every rule at time `now`; return the firing and resolved transitions."""
        if not isinstance(series, Mapping):
            raise InvalidInput(f"series must map metric names to points, not {series!r:.60}")
        if isinstance(now, bool) or not isinstance(now, int | float) or not math.isfinite(now):
            raise InvalidInput(f"now must be a finite timestamp in seconds, not {now!r}")
        now = float(now)
        events: list[AlertEvent] = []
        with self._lock:
            for rule in self.config.rules:
                reading = measure(rule, series.get(rule.metric), now)
                if reading is None:
                    continue
                event = self._step(rule, self._tracks[rule.name], reading, now)
                if event is not None:
                    events.append(event)
        return events

    @property
    def firing(self) -> tuple[str, ...]:
        """The names of the rules that are firing now."""
        with self._lock:
            return tuple(name for name, track in self._tracks.items() if track.state == "firing")

    def status(self) -> list[RuleStatus]:
        """A snapshot of every rule's state, in the configuration's order."""
        with self._lock:
            return [
                RuleStatus(
                    rule.name,
                    rule.metric,
                    track.state,
                    track.started_at,
                    track.fired_at,
                    track.value,
                    track.zscore,
                    track.evaluated_at,
                )
                for rule in self.config.rules
                for track in (self._tracks[rule.name],)
            ]

    def restore(self, statuses: Iterable[RuleStatus]) -> tuple[str, ...]:
        """Take up where an earlier evaluator stopped (a restarted server): each status
        of a rule of this configuration sets that rule's state; returns the rules set.

        A restored firing rule does not fire again while its condition holds; it
        resolves at the first evaluation where it no longer does.
        """
        restored: list[str] = []
        with self._lock:
            for status in statuses:
                track = self._tracks.get(status.rule)
                if track is None or status.state not in ("inactive", "pending", "firing"):
                    continue
                track.state = status.state
                track.started_at = status.since if status.state != "inactive" else None
                track.fired_at = status.fired_at if status.state == "firing" else None
                track.value, track.zscore = status.value, status.zscore
                track.evaluated_at = status.evaluated_at
                restored.append(status.rule)
        return tuple(restored)

    def _step(
        self, rule: AlertRule, track: _Track, reading: tuple[float, float | None], now: float
    ) -> AlertEvent | None:
        value, z = reading
        track.value, track.zscore, track.evaluated_at = value, z, now
        if holds(rule, value, z):
            if track.state == "inactive":
                track.state, track.started_at = "pending", now
            started = now if track.started_at is None else track.started_at
            if track.state == "pending" and now - started >= rule.for_seconds:
                track.state, track.fired_at = "firing", now
                return _event(rule, "firing", value, z, started, now, None)
            return None
        event = None
        if track.state == "firing":
            started = now if track.started_at is None else track.started_at
            fired = now if track.fired_at is None else track.fired_at
            event = _event(rule, "resolved", value, z, started, fired, now)
        track.state, track.started_at, track.fired_at = "inactive", None, None
        return event


def measure(
    rule: AlertRule, points: Points | None, now: float
) -> tuple[float, float | None] | None:
    """What `rule` reads at `now`: (window mean, None) or (latest value, z); None: no data."""
    times, values = _clean(points, now)
    if rule.window_seconds is not None:
        values = values[times > now - rule.window_seconds]
    elif rule.max_age_seconds is not None:
        values = values[times > now - rule.max_age_seconds]
    if rule.kind == "threshold":
        if rule.window_points is not None:
            values = values[-rule.window_points :]
        return (float(values.mean()), None) if values.size else None
    if rule.window_points is not None:
        history = rule.window_points
        if values.size < history + 1:
            return None
        values = values[-(history + 1) :]
    else:
        history = values.size - 1
        if history < MIN_HISTORY:
            return None
    z = float(rolling_zscores(values, history)[-1])
    return (float(values[-1]), z) if not math.isnan(z) else None


def holds(rule: AlertRule, value: float, zscore: float | None) -> bool:
    """Whether the rule's condition holds for a reading from `measure`."""
    subject = value if rule.kind == "threshold" else zscore
    if subject is None or math.isnan(subject):
        return False
    if rule.op == "above":
        return subject > rule.limit
    if rule.op == "below":
        return subject < rule.limit
    return abs(subject) > rule.limit


def _event(
    rule: AlertRule,
    state: EventState,
    value: float,
    z: float | None,
    started: float,
    fired: float,
    resolved: float | None,
) -> AlertEvent:
    reading = f"mean {value:.6g}" if z is None else f"latest {value:.6g}, z {z:+.3g}"
    if resolved is None:
        tail = f"{rule.condition} held for {format_duration(fired - started)}"
    else:
        tail = f"{rule.condition} no longer holds, after firing {format_duration(resolved - fired)}"
    message = f"alert {rule.name} {state}: {rule.metric} {reading}; {tail}"
    return AlertEvent(
        rule.name,
        rule.metric,
        state,
        value,
        z,
        rule.condition,
        rule.limit,
        started,
        fired,
        resolved,
        message,
    )


def _clean(points: Points | None, now: float) -> tuple[npt.NDArray[np.float64], ...]:
    """Finite (timestamp, value) points at or before `now`, sorted by time."""
    empty = np.empty(0)
    if points is None:
        return empty, empty
    try:
        array = np.asarray(points, dtype=np.float64)
        if array.ndim != 2 or array.shape[1] != 2:
            raise ValueError("not a list of pairs")
    except (TypeError, ValueError, OverflowError):
        array = np.array(list(_pairs(points)), dtype=np.float64).reshape(-1, 2)
    keep = np.isfinite(array).all(axis=1) & (array[:, 0] <= now)
    array = array[keep]
    order = np.argsort(array[:, 0], kind="stable")
    return array[order, 0], array[order, 1]


def _pairs(points: object) -> Iterable[tuple[float, float]]:
    if not isinstance(points, Iterable) or isinstance(points, str | bytes | Mapping):
        return
    for point in points:
        try:
            t, v = point
            yield float(t), float(v)
        except (TypeError, ValueError, OverflowError):
            continue
