"""What an alert evaluation reports: the events it raises and where each rule stands.

Plain records, apart from the evaluator (`alerts`) so that the stores and the
team server can read and write them without loading numpy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

EventState = Literal["firing", "resolved"]
RuleState = Literal["inactive", "pending", "firing"]


@dataclass(frozen=True)
class AlertEvent:
    """A rule that started firing or resolved, at one evaluation.

    `value` is the window mean (threshold rules) or the latest value (zscore
    rules); `zscore` is that value's z-score (zscore rules only). Times are
    seconds since the epoch, as given to `evaluate`.
    """

    rule: str
    metric: str
    state: EventState
    value: float
    zscore: float | None
    condition: str
    limit: float
    started_at: float
    fired_at: float
    resolved_at: float | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data: the webhook's body. A non-finite number becomes None."""
        return {
            "rule": self.rule,
            "metric": self.metric,
            "state": self.state,
            "value": _json_number(self.value),
            "zscore": _json_number(self.zscore),
            "condition": self.condition,
            "limit": _json_number(self.limit),
            "started_at": _json_number(self.started_at),
            "fired_at": _json_number(self.fired_at),
            "resolved_at": _json_number(self.resolved_at),
            "message": self.message,
        }


@dataclass(frozen=True)
class RuleStatus:
    """Where one rule stands after the evaluations so far (for `mw monitor alerts`).

    `since` is when its condition started to hold (pending or firing), `fired_at`
    when it fired; `value`/`zscore` are its latest reading.
    """

    rule: str
    metric: str
    state: RuleState
    since: float | None
    fired_at: float | None
    value: float | None
    zscore: float | None
    evaluated_at: float | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data; a non-finite number becomes None."""
        return {
            "rule": self.rule,
            "metric": self.metric,
            "state": self.state,
            "since": self.since,
            "fired_at": self.fired_at,
            "value": _json_number(self.value),
            "zscore": _json_number(self.zscore),
            "evaluated_at": self.evaluated_at,
        }


def _json_number(value: float | None) -> float | None:
    return value if value is None or math.isfinite(value) else None
