"""Durations as alert rules and `--window` write them: "250ms", "30s", "5m", "1h", "1d",
sums like "1h30m", or a plain number of seconds."""

from __future__ import annotations

import math
import re

from modelward.errors import InvalidInput

__all__ = ["format_duration", "parse_duration"]

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?|\.\d+)(ms|s|m|h|d)")
_DURATION = re.compile(rf"(?:{_PART.pattern})+")


def parse_duration(text: str | float) -> float:
    """Seconds in '250ms', '30s', '5m', '1h', '1d' or '1h30m'; a plain number is seconds."""
    if isinstance(text, bool):
        raise InvalidInput(f"a duration is a number of seconds or text like '5m', not {text!r}")
    if isinstance(text, int | float):
        seconds = float(text)
    elif isinstance(text, str):
        cleaned = text.strip().replace(" ", "")
        try:
            seconds = float(cleaned)
        except ValueError:
            if not _DURATION.fullmatch(cleaned):
                raise InvalidInput(
                    f"bad duration {text!r}: write e.g. '250ms', '30s', '5m', '1h' or '1h30m'"
                ) from None
            seconds = sum(float(n) * _UNITS[u] for n, u in _PART.findall(cleaned))
    else:
        raise InvalidInput(f"a duration is a number of seconds or text like '5m', not {text!r:.40}")
    if not math.isfinite(seconds) or seconds < 0:
        raise InvalidInput(f"a duration must be a finite number of seconds >= 0, got {text!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """A short text for seconds that `parse_duration` reads back: 300 -> '5m', 3725 -> '1h2m5s'."""
    if seconds < 0:
        return "-" + format_duration(-seconds)
    if seconds < 1:
        return f"{seconds * 1000:g}ms" if seconds else "0s"
    parts: list[str] = []
    rest = seconds
    for unit in ("d", "h", "m"):
        count = int(rest // _UNITS[unit])
        if count:
            parts.append(f"{count}{unit}")
            rest -= count * _UNITS[unit]
    rest = round(rest, 3)
    if rest or not parts:
        parts.append(f"{rest:g}s")
    return "".join(parts)
