"""Alert rules: the YAML format, its validation, and durations.

    webhook: http://127.0.0.1:9000/hook      # optional: firing/resolved events are POSTed as JSON
    webhook_allow: [127.0.0.1]               # where webhooks may go (see `monitoring.webhooks`)
    rules:
      - name: slow-predictions               # unique; letters, digits, '_', '-', '.', ':'
        metric: latency_p95_seconds          # a monitored series
        threshold: {above: 0.25}             # or {below: 0.8}: the MEAN over the window vs a limit
        window: 5m                           # a duration, or a whole number = the last N points
        for: 1m                              # how long it must hold before firing (default 0s)
      - name: accuracy-drop
        metric: live_accuracy
        zscore: {below: -3}                  # or {above: 3}, or {abs: 3} for |z|
        window: 30                           # z of the latest point vs the 30 points before it
        max_age: 1h                          # count windows: ignore points older than this
        for: 0s
        then: {pipeline: retrain.yaml, cooldown: 1h}   # optional: retrain when it fires

A rule has exactly one condition. `threshold` holds when the mean of the
window's values is strictly above/below the limit (a mean, not the latest
value, so one slow request does not page anyone). `zscore` holds when the
z-score of the latest point against the earlier points of the window
(`anomaly.rolling_zscores`) is strictly above/below the limit, or when |z| is
strictly above `abs`.

`window` is either a duration ("5m": the points of the last five minutes) or a
whole number (30: the last 30 points; for a zscore rule, the 30 points before
the latest one). Note the asymmetry with `for`, where a plain number means
seconds. Durations are "250ms", "30s", "5m", "1h", "1d" or sums like "1h30m".

A count window has a staleness limit, `max_age` (default 1h): points older
than that are left out, so a series that stopped updating (no labels came
back, no traffic) is not judged on what it said hours ago; with too few
recent points the rule has no data and keeps its state. A duration window is
its own age limit and takes no `max_age`.

`then` starts a pipeline (`mw pipeline run FILE`, path relative to the rules
file) when the rule fires, from the process that monitors the model, off the
request path: one run at a time per model, and not again within `cooldown`
(default 1h) of the last run this rule started.

A `webhook` needs a `webhook_allow` list that allows its host: exact host
names, IP addresses or CIDR networks (`monitoring.webhooks` has the rules,
e.g. why a name reaches only public addresses and link-local never).

Every error is an InvalidInput whose one-line message names the rule (by
position from 1, and name) and the field, e.g.
`alert rule 2 ('accuracy-drop'): 'window': ...`.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml

from modelward.errors import InvalidInput
from modelward.monitoring.durations import format_duration, parse_duration
from modelward.monitoring.webhooks import WebhookAllow, check_webhook_url
from modelward.yaml_files import RepeatedKey, UniqueKeyLoader, problem_of

__all__ = [
    "DEFAULT_COOLDOWN",
    "DEFAULT_MAX_AGE",
    "AlertConfig",
    "AlertRule",
    "Kind",
    "Op",
    "Reaction",
    "format_duration",
    "load_rules",
    "parse_duration",
    "parse_rules",
]

Kind = Literal["threshold", "zscore"]
Op = Literal["above", "below", "abs"]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}")
_RULE_KEYS = ("name", "metric", "threshold", "zscore", "window", "max_age", "for", "then")
DEFAULT_MAX_AGE = 3600.0
DEFAULT_COOLDOWN = 3600.0
"""Seconds after a pipeline an alert started before the same rule may start it again."""
"""Seconds after which a point no longer counts in a count window (`max_age`)."""
_OPS: dict[Kind, tuple[Op, ...]] = {
    "threshold": ("above", "below"),
    "zscore": ("above", "below", "abs"),
}


@dataclass(frozen=True)
class Reaction:
    """What a firing rule starts: `then: {pipeline: retrain.yaml, cooldown: 1h}`."""

    pipeline: Path  # absolute: relative paths are relative to the rules file's folder
    cooldown_seconds: float = DEFAULT_COOLDOWN

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data."""
        return {"pipeline": str(self.pipeline), "cooldown_seconds": self.cooldown_seconds}


@dataclass(frozen=True)
class AlertRule:
    """One validated rule. Exactly one of `window_seconds` and `window_points` is set;
    `max_age_seconds` is the staleness limit of a count window (None for durations)."""

    name: str
    metric: str
    kind: Kind
    op: Op
    limit: float
    window_seconds: float | None
    window_points: int | None
    for_seconds: float
    max_age_seconds: float | None = None
    then: Reaction | None = None

    @property
    def digest(self) -> str:
        """A hash of what the rule checks: a stored state applies only to the same rule."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()

    @property
    def window_text(self) -> str:
        """The window as written back: '5m' or '30 points'."""
        if self.window_points is not None:
            return f"{self.window_points} point{'s' if self.window_points != 1 else ''}"
        return format_duration(self.window_seconds or 0.0)

    @property
    def condition(self) -> str:
        """The condition in words, e.g. 'mean over 5m > 0.25' or '|z| vs 30 points > 3'."""
        sign = {"above": ">", "below": "<", "abs": ">"}[self.op]
        subject = "mean" if self.kind == "threshold" else ("|z|" if self.op == "abs" else "z")
        preposition = "over" if self.kind == "threshold" else "vs"
        return f"{subject} {preposition} {self.window_text} {sign} {self.limit:g}"

    def to_dict(self) -> dict[str, Any]:
        """The rule as JSON-ready data (durations in seconds)."""
        return {
            "name": self.name,
            "metric": self.metric,
            "kind": self.kind,
            "op": self.op,
            "limit": self.limit,
            "window_seconds": self.window_seconds,
            "window_points": self.window_points,
            "for_seconds": self.for_seconds,
            "max_age_seconds": self.max_age_seconds,
            "condition": self.condition,
            # only when set: the digest of a rule without one stays what it was
            **({"then": self.then.to_dict()} if self.then is not None else {}),
        }


@dataclass(frozen=True)
class AlertConfig:
    """The rules of one alerts file, the webhook their events go to (if any) and where
    webhooks may go."""

    webhook: str | None
    rules: tuple[AlertRule, ...]
    webhook_allow: WebhookAllow = field(default_factory=WebhookAllow)

    def to_dict(self) -> dict[str, Any]:
        """The configuration as JSON-ready data."""
        return {
            "webhook": self.webhook,
            "webhook_allow": self.webhook_allow.to_list(),
            "rules": [rule.to_dict() for rule in self.rules],
        }


def parse_rules(source: str | Mapping[str, Any], *, folder: Path | None = None) -> AlertConfig:
    """Validate alert rules given as YAML text or as a parsed mapping; a `then` pipeline's
    relative path is relative to `folder` (default: the working directory)."""
    if isinstance(source, str):
        data = _load_yaml(source)
    elif isinstance(source, Mapping):
        data = source
    else:
        raise InvalidInput(f"alert rules are YAML text or a mapping, not {type(source).__name__}")
    if not isinstance(data, Mapping):
        hint = " (pass the file's contents or use load_rules)" if isinstance(data, str) else ""
        raise InvalidInput(
            f"alert rules must be a mapping with a 'rules' list, got {data!r:.60}{hint}"
        )
    extra = [key for key in data if key not in ("webhook", "webhook_allow", "rules")]
    if extra:
        raise InvalidInput(
            f"unknown key {extra[0]!r} in the alert rules; they have only 'webhook', "
            "'webhook_allow' and 'rules'"
        )
    allow = WebhookAllow.parse(data.get("webhook_allow"))
    webhook = data.get("webhook")
    if webhook is not None:
        webhook = check_webhook_url(webhook)
        host = urlsplit(webhook).hostname or ""
        if not allow.allows_host(host):
            raise InvalidInput(
                f"webhook host {host} is not in webhook_allow: add it, e.g. "
                f"webhook_allow: [{host}] (a host name, an address or a network like 10.0.0.0/8)"
            )
    raw_rules = data.get("rules")
    if not isinstance(raw_rules, list | tuple):
        raise InvalidInput(
            "alert rules need a 'rules' list, e.g. rules: [{name: slow, metric: "
            "latency_p95_seconds, threshold: {above: 0.25}, window: 5m}]"
        )
    rules: list[AlertRule] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(raw_rules, start=1):
        rule = _parse_rule(number, raw, folder or Path.cwd())
        if rule.name in seen:
            raise InvalidInput(
                f"alert rule {number} ({rule.name!r}): 'name': "
                f"already used by rule {seen[rule.name]}"
            )
        seen[rule.name] = number
        rules.append(rule)
    return AlertConfig(webhook, tuple(rules), allow)


def load_rules(path: str | Path) -> AlertConfig:
    """Read and validate an alert rules file; errors start with the file's name."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"no alert rules file at {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read alert rules file {path}: {exc}") from None
    try:
        return parse_rules(text, folder=path.absolute().parent)
    except InvalidInput as exc:
        raise InvalidInput(f"{path}: {exc.message}") from None


def _parse_rule(number: int, raw: object, folder: Path) -> AlertRule:
    where = f"alert rule {number}"
    if not isinstance(raw, Mapping):
        raise InvalidInput(f"{where}: write each rule as a mapping with 'name' and 'metric'")
    name = raw.get("name")
    if name is None:
        raise InvalidInput(f"{where}: 'name' is missing")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInput(
            f"{where}: 'name': {name!r:.40} is not a name (letters, digits, '_', '-', '.', ':')"
        )
    where = f"{where} ({name!r})"
    unknown = [key for key in raw if key not in _RULE_KEYS]
    if unknown:
        raise InvalidInput(
            f"{where}: unknown key {unknown[0]!r}; rule keys are: {', '.join(_RULE_KEYS)}"
        )
    metric = raw.get("metric")
    if metric is None:
        raise InvalidInput(f"{where}: 'metric' is missing; name the series, e.g. live_accuracy")
    if not isinstance(metric, str) or not metric.strip():
        raise InvalidInput(f"{where}: 'metric' must be a series name, not {metric!r:.40}")
    kinds = [kind for kind in ("threshold", "zscore") if kind in raw]
    if len(kinds) != 1:
        found = "both" if kinds else "neither"
        raise InvalidInput(f"{where}: 'threshold'/'zscore': give exactly one of them, got {found}")
    kind: Kind = "threshold" if kinds[0] == "threshold" else "zscore"
    op, limit = _parse_condition(where, kind, raw[kind])
    if "window" not in raw:
        raise InvalidInput(f"{where}: 'window' is missing; e.g. window: 5m, or window: 30 (points)")
    seconds, points = _parse_window(where, kind, raw["window"])
    try:
        for_seconds = parse_duration(raw.get("for", 0))
    except InvalidInput as exc:
        raise InvalidInput(f"{where}: 'for': {exc.message}") from None
    max_age = _parse_max_age(where, raw.get("max_age"), counted=points is not None)
    then = _parse_then(where, raw["then"], folder) if "then" in raw else None
    return AlertRule(
        name, metric.strip(), kind, op, limit, seconds, points, for_seconds, max_age, then
    )


def _parse_then(where: str, raw: object, folder: Path) -> Reaction:
    """`then: {pipeline: FILE, cooldown: 1h}`: the file must exist; what is in it is
    checked by whoever runs it (the server, before it starts serving)."""
    if not isinstance(raw, Mapping) or "pipeline" not in raw:
        raise InvalidInput(f"{where}: 'then': write {{pipeline: retrain.yaml}}")
    unknown = [key for key in raw if key not in ("pipeline", "cooldown")]
    if unknown:
        raise InvalidInput(f"{where}: 'then': unknown key {unknown[0]!r}; use pipeline, cooldown")
    file = raw["pipeline"]
    if not isinstance(file, str) or not file.strip():
        raise InvalidInput(f"{where}: 'then.pipeline': the path of a pipeline file")
    path = (folder / file).absolute()
    if not path.is_file():
        raise InvalidInput(f"{where}: 'then.pipeline': no such file: {path}")
    try:
        cooldown = parse_duration(raw.get("cooldown", DEFAULT_COOLDOWN))
    except InvalidInput as exc:
        raise InvalidInput(f"{where}: 'then.cooldown': {exc.message}") from None
    if not 0 <= cooldown < math.inf:
        raise InvalidInput(f"{where}: 'then.cooldown': a duration such as 1h")
    return Reaction(path, cooldown)


def _parse_max_age(where: str, raw: object, *, counted: bool) -> float | None:
    if not counted:
        if raw is not None:
            raise InvalidInput(
                f"{where}: 'max_age': only a count window takes one (window: 30); "
                "a duration window is its own age limit"
            )
        return None
    if raw is None:
        return DEFAULT_MAX_AGE
    try:
        seconds = parse_duration(raw)  # type: ignore[arg-type]
    except InvalidInput as exc:
        raise InvalidInput(f"{where}: 'max_age': {exc.message}") from None
    if seconds <= 0:
        raise InvalidInput(f"{where}: 'max_age': must be longer than 0s")
    return seconds


def _parse_condition(where: str, kind: Kind, raw: object) -> tuple[Op, float]:
    ops = _OPS[kind]
    example = "{above: 0.25}" if kind == "threshold" else "{abs: 3}"
    if not isinstance(raw, Mapping) or len(raw) != 1:
        raise InvalidInput(
            f"{where}: '{kind}': write one of {'/'.join(ops)} and a number, e.g. {example}"
        )
    ((op, limit),) = raw.items()
    if op not in ops:
        raise InvalidInput(f"{where}: '{kind}': unknown {op!r}; use one of {', '.join(ops)}")
    if isinstance(limit, bool) or not isinstance(limit, int | float) or not math.isfinite(limit):
        raise InvalidInput(f"{where}: '{kind}': {op} needs a finite number, not {limit!r:.40}")
    if op == "abs" and limit <= 0:
        raise InvalidInput(f"{where}: '{kind}': abs needs a positive number, got {limit}")
    checked: Op = "above" if op == "above" else ("below" if op == "below" else "abs")
    return checked, float(limit)


def _parse_window(where: str, kind: Kind, raw: object) -> tuple[float | None, int | None]:
    least = 2 if kind == "zscore" else 1
    if isinstance(raw, int) and not isinstance(raw, bool):
        if raw < least:
            plural = "s" if least > 1 else ""
            raise InvalidInput(
                f"{where}: 'window': a {kind} rule needs at least {least} point{plural}"
            )
        return None, raw
    if not isinstance(raw, str) or _is_number(raw):
        raise InvalidInput(
            f"{where}: 'window': write a whole number of points (30) or a duration with "
            f"a unit ('5m'), not {raw!r:.40}"
        )
    try:
        seconds = parse_duration(raw)
    except InvalidInput as exc:
        raise InvalidInput(f"{where}: 'window': {exc.message}") from None
    if seconds <= 0:
        raise InvalidInput(f"{where}: 'window': a duration window must be longer than 0s")
    return seconds, None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _load_yaml(text: str) -> Any:
    try:
        data = yaml.load(text, Loader=UniqueKeyLoader)  # a SafeLoader subclass
    except RepeatedKey as repeated:
        raise InvalidInput(
            f"the alert rules repeat the key {repeated.key!r} at line {repeated.line}"
        ) from None
    except yaml.YAMLError as exc:
        raise InvalidInput(f"the alert rules are not valid YAML: {problem_of(exc)}") from None
    if data is None:
        raise InvalidInput("the alert rules are empty; they need a 'rules' list")
    return data
