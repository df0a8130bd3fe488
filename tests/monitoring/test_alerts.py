"""Alert rules: parsing, the pending/firing/resolved evaluator, and a real webhook receiver."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from modelward.errors import InvalidInput
from modelward.monitoring.alerts import (
    MIN_HISTORY,
    AlertEvaluator,
    load_rules,
    parse_duration,
    parse_rules,
)
from modelward.monitoring.rules import format_duration

EXAMPLE = """\
webhook: http://127.0.0.1:9000/hook
webhook_allow: [127.0.0.1]
rules:
  - name: slow-predictions
    metric: latency_p95_seconds
    threshold: {above: 0.25}
    window: 5m
    for: 1m
  - name: accuracy-drop
    metric: live_accuracy
    zscore: {below: -3}
    window: 30
    for: 0s
"""


def config_with(rule: Mapping[str, Any]) -> Any:
    return parse_rules({"rules": [dict(rule)]})


# -- parsing ---------------------------------------------------------------------------------


def test_the_documented_example_parses() -> None:
    config = parse_rules(EXAMPLE)
    assert config.webhook == "http://127.0.0.1:9000/hook"
    slow, drop = config.rules
    assert (slow.name, slow.metric, slow.kind, slow.op, slow.limit) == (
        "slow-predictions",
        "latency_p95_seconds",
        "threshold",
        "above",
        0.25,
    )
    assert (slow.window_seconds, slow.window_points, slow.for_seconds) == (300.0, None, 60.0)
    assert slow.condition == "mean over 5m > 0.25"
    assert (drop.kind, drop.op, drop.limit, drop.window_points, drop.for_seconds) == (
        "zscore",
        "below",
        -3.0,
        30,
        0.0,
    )
    assert drop.condition == "z vs 30 points < -3"
    assert json.loads(json.dumps(config.to_dict()))["rules"][1]["window_points"] == 30
    assert parse_rules({"rules": []}).rules == ()
    assert config_with({"name": "a", "metric": "m", "zscore": {"abs": 3}, "window": "1h"}).rules[
        0
    ].condition == ("|z| vs 1h > 3")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("250ms", 0.25),
        ("30s", 30.0),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("1d", 86400.0),
        ("1h30m", 5400.0),
        (" 2m 5s ", 125.0),
        ("1.5s", 1.5),
        (30, 30.0),
        (0.5, 0.5),
        ("45", 45.0),
        ("0s", 0.0),
    ],
)
def test_parse_duration(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["5x", "-5s", "", "m", "5 minutes", "inf", "nan", True, None, [1]])
def test_parse_duration_refuses(text: Any) -> None:
    with pytest.raises(InvalidInput, match="duration"):
        parse_duration(text)


GOOD = {"name": "r", "metric": "m", "threshold": {"above": 1}, "window": "5m"}


def _with(**changes: Any) -> dict[str, Any]:
    rule = {k: v for k, v in {**GOOD, **changes}.items() if v is not None}
    return {"rules": [{"name": "ok", "metric": "m", "zscore": {"abs": 3}, "window": 10}, rule]}


def _without(key: str) -> dict[str, Any]:
    rule = {k: v for k, v in GOOD.items() if k != key}
    return {"rules": [{"name": "ok", "metric": "m", "zscore": {"abs": 3}, "window": 10}, rule]}


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("rules:\n  - name: a\n    metric: m\n   window: 5m\n", "not valid YAML: .* line 4"),
        ("rules: [", "not valid YAML: .* line 1, column 9"),
        ("rules:\n  - name: a\n    name: b\n", "repeat the key 'name' at line 3"),
        ("", "empty"),
        ("alerts.yaml", "pass the file's contents"),
        ({"rules": [], "hooks": 1}, "unknown key 'hooks'"),
        ({"webhook": "http://x/h", "webhook_allow": ["x"]}, "'rules' list"),
        ({"webhook": "ftp://host/x", "rules": []}, "webhook 'ftp://host/x' is not an http"),
        ({"webhook": "http:///nohost", "rules": []}, "not an http"),
        ({"webhook": "http://h:99999/x", "rules": []}, "bad port"),
        ({"webhook": 5, "rules": []}, "webhook must be an http"),
        ({"rules": ["slow"]}, "alert rule 1: write each rule as a mapping"),
        (_without("name"), "alert rule 2: 'name' is missing"),
        (_with(name="has space"), "alert rule 2: 'name'"),
        (_without("metric"), r"alert rule 2 \('r'\): 'metric' is missing"),
        (_with(metric=""), r"alert rule 2 \('r'\): 'metric'"),
        (_with(severity="high"), r"alert rule 2 \('r'\): unknown key 'severity'"),
        (_with(zscore={"abs": 3}), r"rule 2 \('r'\): 'threshold'/'zscore': .* got both"),
        (_without("threshold"), r"rule 2 \('r'\): 'threshold'/'zscore': .* got neither"),
        (_with(threshold={"over": 1}), r"rule 2 \('r'\): 'threshold': unknown 'over'"),
        (_with(threshold={"abs": 1}), r"rule 2 \('r'\): 'threshold': unknown 'abs'"),
        (_with(threshold={"above": "high"}), r"rule 2 \('r'\): 'threshold': above needs a finite"),
        (_with(threshold={"above": 1, "below": 0}), r"rule 2 \('r'\): 'threshold': write one"),
        (_with(threshold=0.25), r"rule 2 \('r'\): 'threshold': write one of above/below"),
        (_with(threshold=None, zscore={"abs": -3}), r"'zscore': abs needs a positive"),
        (_without("window"), r"rule 2 \('r'\): 'window' is missing"),
        (_with(window="5 parsecs"), r"rule 2 \('r'\): 'window': bad duration"),
        (_with(window=2.5), r"rule 2 \('r'\): 'window': write a whole number of points"),
        (_with(window="30"), r"rule 2 \('r'\): 'window': write a whole number of points"),
        (_with(window=0), r"rule 2 \('r'\): 'window': .* at least 1 point"),
        (_with(window="0s"), r"rule 2 \('r'\): 'window': .* longer than 0s"),
        (_with(threshold=None, zscore={"abs": 3}, window=1), r"'window': a zscore rule .* 2"),
        (_with(**{"for": "soon"}), r"rule 2 \('r'\): 'for': bad duration 'soon'"),
        (_with(**{"for": -1}), r"rule 2 \('r'\): 'for': .* >= 0"),
        (_with(max_age="1h"), r"rule 2 \('r'\): 'max_age': only a count window"),
        (_with(window=5, max_age="later"), r"rule 2 \('r'\): 'max_age': bad duration"),
        (_with(window=5, max_age=0), r"rule 2 \('r'\): 'max_age': must be longer than 0s"),
        ({"rules": [GOOD, GOOD]}, r"alert rule 2 \('r'\): 'name': already used by rule 1"),
        (42, "YAML text or a mapping"),
    ],
)
def test_malformed_rules_name_the_rule_and_field(source: Any, words: str) -> None:
    with pytest.raises(InvalidInput, match=words) as info:
        parse_rules(source)
    assert "\n" not in str(info.value)


def test_load_rules(tmp_path: Path) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text(EXAMPLE)
    assert load_rules(path) == parse_rules(EXAMPLE)
    with pytest.raises(InvalidInput, match="no alert rules file"):
        load_rules(tmp_path / "missing.yaml")
    path.write_text("rules:\n  - {name: a, metric: m, window: 5m}\n")
    with pytest.raises(InvalidInput, match=r"alerts.yaml: alert rule 1 \('a'\): 'threshold'"):
        load_rules(path)


# -- evaluation ------------------------------------------------------------------------------


def threshold_rule(**changes: Any) -> AlertEvaluator:
    rule = {"name": "slow", "metric": "latency", "threshold": {"above": 0.25}, "window": "1m"}
    return AlertEvaluator(config_with({**rule, "for": "30s", **changes}))


def flat(value: float, start: float, stop: float, step: float = 5.0) -> list[tuple[float, float]]:
    points, t = [], start
    while t <= stop:
        points.append((t, value))
        t += step
    return points


def test_pending_then_firing_after_for_then_resolved() -> None:
    evaluator = threshold_rule()
    slow = flat(0.4, 0, 300)
    assert evaluator.evaluate({"latency": slow}, now=100) == []
    assert evaluator.status()[0].state == "pending"
    assert evaluator.status()[0].since == 100
    assert evaluator.evaluate({"latency": slow}, now=120) == []  # held 20s of 30s
    (event,) = evaluator.evaluate({"latency": slow}, now=130)
    assert (event.rule, event.metric, event.state) == ("slow", "latency", "firing")
    assert event.value == pytest.approx(0.4)
    assert (event.zscore, event.limit) == (None, 0.25)
    assert (event.started_at, event.fired_at, event.resolved_at) == (100, 130, None)
    assert event.message == (
        "alert slow firing: latency mean 0.4; mean over 1m > 0.25 held for 30s"
    )
    assert evaluator.evaluate({"latency": slow}, now=200) == []  # still firing: no new event
    fast = slow + flat(0.1, 305, 500)
    (resolved,) = evaluator.evaluate({"latency": fast}, now=400)
    assert (resolved.state, resolved.started_at, resolved.fired_at) == ("resolved", 100, 130)
    assert resolved.resolved_at == 400
    assert resolved.value == pytest.approx(0.1)
    assert "no longer holds, after firing 4m30s" in resolved.message
    assert evaluator.status()[0].state == "inactive"
    assert json.loads(json.dumps(resolved.to_dict()))["state"] == "resolved"


def test_the_window_mean_is_compared_not_the_latest_value() -> None:
    evaluator = threshold_rule(**{"for": 0})
    one_spike = [*flat(0.1, 0, 55), (60, 2.0)]  # mean of (0.1 x 11, 2.0) = 0.258
    assert [e.state for e in evaluator.evaluate({"latency": one_spike}, now=60)] == ["firing"]
    evaluator = threshold_rule(**{"for": 0, "threshold": {"above": 0.3}})
    assert evaluator.evaluate({"latency": one_spike}, now=60) == []


def test_a_pending_rule_that_stops_holding_starts_over_silently() -> None:
    evaluator = threshold_rule()
    assert evaluator.evaluate({"latency": flat(0.4, 0, 100)}, now=100) == []
    assert evaluator.evaluate({"latency": flat(0.1, 0, 120)}, now=120) == []
    assert evaluator.status()[0].state == "inactive"
    assert evaluator.evaluate({"latency": flat(0.4, 0, 140)}, now=140) == []
    assert evaluator.evaluate({"latency": flat(0.4, 0, 160)}, now=160) == []  # 20s since 140
    assert [e.started_at for e in evaluator.evaluate({"latency": flat(0.4, 0, 170)}, 170)] == [140]


def test_for_zero_fires_at_once_and_count_windows() -> None:
    evaluator = threshold_rule(**{"for": "0s", "window": 3, "threshold": {"below": 0.5}})
    points = [(1, 0.9), (2, 0.9), (3, 0.4), (4, 0.4), (5, 0.4)]
    assert evaluator.evaluate({"latency": points[:4]}, now=10) == []  # mean of the last 3: 0.57
    (event,) = evaluator.evaluate({"latency": points}, now=10)
    assert (event.state, event.started_at, event.fired_at) == ("firing", 10, 10)


def test_a_count_window_ignores_points_older_than_max_age() -> None:
    rule = {"name": "low", "metric": "live_accuracy", "threshold": {"below": 0.8}, "window": 3}
    config = config_with({**rule, "for": 0})
    assert config.rules[0].max_age_seconds == 3600.0  # the default staleness limit
    old_and_bad = [(0.0, 0.5), (10.0, 0.5), (20.0, 0.5)]
    # Two hours later nothing new came (no labels): the old points are not a reading.
    assert AlertEvaluator(config).evaluate({"live_accuracy": old_and_bad}, now=7200) == []
    fired = AlertEvaluator(config).evaluate({"live_accuracy": old_and_bad}, now=30)
    assert [e.state for e in fired] == ["firing"]
    # Only the recent points count: the mean of the one recent 0.9 is not below 0.8.
    recent = [*old_and_bad, (7190.0, 0.9)]
    assert AlertEvaluator(config).evaluate({"live_accuracy": recent}, now=7200) == []
    short = config_with({**rule, "for": 0, "max_age": "30s"})
    assert AlertEvaluator(short).evaluate({"live_accuracy": old_and_bad}, now=60) == []
    zscore = {"name": "z", "metric": "m", "zscore": {"abs": 3}, "window": 3, "max_age": "1m"}
    history = [(float(t), 1.0 + 0.01 * (t % 2)) for t in range(0, 100, 10)] + [(100.0, 9.0)]
    assert [e.state for e in AlertEvaluator(config_with(zscore)).evaluate({"m": history}, 100)] == [
        "firing"
    ]
    assert AlertEvaluator(config_with(zscore)).evaluate({"m": history[-3:]}, now=100) == []


def test_a_restored_state_resumes_where_the_earlier_evaluator_stopped() -> None:
    first = threshold_rule()
    slow = flat(0.4, 0, 300)
    first.evaluate({"latency": slow}, now=100)
    assert [e.state for e in first.evaluate({"latency": slow}, now=130)] == ["firing"]
    restarted = threshold_rule()
    assert restarted.restore(first.status()) == ("slow",)
    assert restarted.firing == ("slow",)
    assert restarted.evaluate({"latency": slow}, now=200) == []  # still holds: no second firing
    (resolved,) = restarted.evaluate({"latency": flat(0.1, 0, 500)}, now=500)
    assert (resolved.state, resolved.started_at, resolved.fired_at) == ("resolved", 100, 130)
    pending = threshold_rule()
    pending.evaluate({"latency": slow}, now=100)
    again = threshold_rule()
    again.restore([*pending.status(), dataclasses.replace(pending.status()[0], rule="other")])
    (late,) = again.evaluate({"latency": slow}, now=130)  # `for: 30s` counted from 100
    assert (late.state, late.started_at) == ("firing", 100)


def test_zscore_rule_on_the_latest_point() -> None:
    rule = {"name": "drop", "metric": "live_accuracy", "zscore": {"below": -3}, "window": 10}
    evaluator = AlertEvaluator(config_with(rule))
    history = [(float(i), 0.9 + 0.01 * (-1) ** i) for i in range(10)]
    assert evaluator.evaluate({"live_accuracy": history}, now=100) == []  # needs 10 before
    assert evaluator.evaluate({"live_accuracy": [*history, (10.0, 0.9)]}, now=100) == []
    (event,) = evaluator.evaluate({"live_accuracy": [*history, (10.0, 0.5)]}, now=100)
    assert event.value == 0.5
    assert event.zscore == pytest.approx((0.5 - 0.9) / 0.01)
    assert "latest 0.5, z -40" in event.message
    (back,) = evaluator.evaluate({"live_accuracy": [*history[1:], (10.0, 0.9), (11.0, 0.9)]}, 100)
    assert back.state == "resolved"


def test_zscore_abs_with_a_duration_window_and_a_constant_history() -> None:
    rule = {"name": "err", "metric": "error_rate", "zscore": {"abs": 3}, "window": "1m"}
    evaluator = AlertEvaluator(config_with(rule))
    quiet = [(float(t), 0.0) for t in range(0, 60, 10)]
    short = quiet[-MIN_HISTORY:]
    assert evaluator.evaluate({"error_rate": [*short[1:], (60.0, 0.2)]}, now=60) == []
    (event,) = evaluator.evaluate({"error_rate": [*quiet, (60.0, 0.2)]}, now=60)
    assert event.zscore == math.inf
    assert event.to_dict()["zscore"] is None  # JSON has no infinity
    assert "z +inf" in event.message
    # long after, the spike has left the window and the rate is back at its constant
    later = [(float(t), 0.0) for t in range(100, 170, 10)]
    (resolved,) = evaluator.evaluate({"error_rate": later}, now=160)
    assert (resolved.state, resolved.zscore) == ("resolved", 0.0)


def test_no_data_keeps_the_state() -> None:
    evaluator = threshold_rule()
    assert evaluator.evaluate({"latency": flat(0.4, 0, 100)}, now=100) == []
    assert evaluator.evaluate({}, now=110) == []  # unknown metric
    assert evaluator.evaluate({"latency": []}, now=120) == []
    assert evaluator.evaluate({"latency": flat(0.4, 0, 40)}, now=125) == []  # window is empty
    assert evaluator.status()[0].state == "pending"
    assert [e.state for e in evaluator.evaluate({"latency": flat(0.4, 0, 130)}, 130)] == ["firing"]
    assert evaluator.evaluate({"latency": flat(0.4, 0, 100)}, now=1000) == []  # stale: no data
    assert evaluator.status()[0].state == "firing"


def test_odd_data_is_ignored_never_raised() -> None:
    evaluator = threshold_rule(**{"for": 0})
    odd: list[Any] = [
        (50, math.nan),
        (51, math.inf),
        (math.nan, 9.0),
        ("x", 1),
        (52,),
        None,
        "ab",
        (53, None),
        (54, "0.1"),
        (55, 0.1),
        (500, 9.0),  # in the future: ignored
    ]
    assert evaluator.evaluate({"latency": odd}, now=60) == []
    assert evaluator.status()[0].value == pytest.approx(0.1)
    assert evaluator.evaluate({"latency": [(1, "a"), (2, "b")]}, now=60) == []
    assert evaluator.evaluate({"latency": 42}, now=60) == []
    unsorted = [(59, 0.5), (10, 0.0), (58, 0.5)]  # (10, 0.0) is outside the 1m window
    assert [e.state for e in evaluator.evaluate({"latency": unsorted}, 60)] == ["firing"]
    with pytest.raises(InvalidInput, match="now"):
        evaluator.evaluate({}, now=math.nan)
    with pytest.raises(InvalidInput, match="series"):
        evaluator.evaluate([], now=1.0)  # type: ignore[arg-type]


def test_rules_are_independent() -> None:
    evaluator = AlertEvaluator(parse_rules(EXAMPLE))
    series = {"latency_p95_seconds": flat(0.5, 0, 200, step=10)}
    assert evaluator.evaluate(series, now=200) == []
    events = evaluator.evaluate(series, now=260)
    assert [(e.rule, e.state) for e in events] == [("slow-predictions", "firing")]
    assert [s.state for s in evaluator.status()] == ["firing", "inactive"]
    assert evaluator.firing == ("slow-predictions",)
    assert evaluator.status()[0].to_dict()["fired_at"] == 260
