"""Charts as inline SVG, drawn on the server: line charts of series, bar charts of counts.

Every element is built by `_element`, which escapes every attribute and text, so a
metric or column name full of markup is shown, never interpreted. The SVG uses
presentation attributes only (no `style`), so the page's CSP needs no 'unsafe-inline'.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape

MAX_POINTS = 2000  # per series, after downsampling
_PALETTE = (
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)  # fmt: skip
_POINT_TITLES = 300  # up to this many points, each gets its own hover value


@dataclass(frozen=True)
class Series:
    """One line: a name and its points, x ascending."""

    name: str
    xs: Sequence[float]
    ys: Sequence[float]


def downsample(
    xs: Sequence[float], ys: Sequence[float], max_points: int = MAX_POINTS
) -> tuple[list[float], list[float]]:
    """At most `max_points` points keeping each bucket's extremes (min and max, in x order).

    The first and last points always stay, so a series' range and its last value are exact.
    """
    import numpy as np

    n = len(xs)
    if n <= max_points:
        return [float(x) for x in xs], [float(y) for y in ys]
    x = np.asarray(xs, dtype=float)
    y = np.asarray(ys, dtype=float)
    buckets = max(1, (max_points - 2) // 2)
    # bucket b holds points [edges[b], edges[b + 1]); argmin/argmax of each at once
    edges = np.linspace(1, n - 1, buckets + 1).astype(np.int64)
    edges = np.unique(edges)
    lows = np.minimum.reduceat(y[: n - 1], edges[:-1])
    highs = np.maximum.reduceat(y[: n - 1], edges[:-1])
    bucket_of = np.searchsorted(edges, np.arange(1, n - 1), side="right") - 1
    inner = np.arange(1, n - 1)
    valid = bucket_of < len(lows)
    inner, bucket_of = inner[valid], bucket_of[valid]
    is_low = y[inner] == lows[bucket_of]
    is_high = y[inner] == highs[bucket_of]
    # the first point reaching each bucket's min and max
    first_low = _first_per_bucket(inner[is_low], bucket_of[is_low])
    first_high = _first_per_bucket(inner[is_high], bucket_of[is_high])
    index = np.unique(np.concatenate(([0, n - 1], first_low, first_high)))
    return x[index].tolist(), y[index].tolist()


def _first_per_bucket(positions: Any, buckets: Any) -> Any:
    import numpy as np

    _values, first = np.unique(buckets, return_index=True)
    return positions[first]


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    if not math.isfinite(low) or not math.isfinite(high):
        return []
    if high == low:
        return [low]
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step + 1e-9) + 1)]


def number(value: float) -> str:
    """A number as a chart or a table shows it (short, exact enough to compare)."""
    return f"{value:.4g}" if value == 0 or 1e-3 <= abs(value) < 1e6 else f"{value:.3e}"


def _element(name: str, text: str | Markup | None = None, **attributes: Any) -> str:
    """`<name a="..">text</name>`, every attribute and the text escaped (Markup kept)."""
    attrs = "".join(
        f' {key.rstrip("_").replace("_", "-")}="{escape(value)}"'
        for key, value in attributes.items()
    )
    if text is None:
        return f"<{name}{attrs}/>"
    return f"<{name}{attrs}>{escape(text)}</{name}>"


def _svg(width: int, height: int, title: str, body: list[str], **data: Any) -> Markup:
    attrs = "".join(f' data-{key}="{escape(value)}"' for key, value in data.items())
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}"{attrs}>'
    )
    return Markup(head + _element("title", title) + "".join(body) + "</svg>")


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    x_label: str = "step",
    width: int = 640,
    height: int = 260,
) -> Markup:
    """An SVG line chart of `series` (each downsampled to MAX_POINTS), with axes and legend."""
    drawn = [Series(s.name, *downsample(s.xs, s.ys)) for s in series if len(s.xs)]
    left, right, top, bottom = 64, 16, 28, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    body = [_element("text", title, x=left, y=16, font_size=13, font_weight="bold")]
    points_total = sum(len(s.xs) for s in drawn)
    if not drawn:
        body.append(_element("text", "no data", x=left, y=top + plot_h // 2, fill="#777"))
        return _svg(width, height, title, body, series=0, points=0)
    x_low, x_high = min(min(s.xs) for s in drawn), max(max(s.xs) for s in drawn)
    y_low, y_high = min(min(s.ys) for s in drawn), max(max(s.ys) for s in drawn)
    if y_high == y_low:
        y_low, y_high = y_low - 0.5, y_high + 0.5
    if x_high == x_low:
        x_low, x_high = x_low - 0.5, x_high + 0.5

    def sx(value: float) -> float:
        return round(left + (value - x_low) / (x_high - x_low) * plot_w, 1)

    def sy(value: float) -> float:
        return round(top + plot_h - (value - y_low) / (y_high - y_low) * plot_h, 1)

    body.append(
        _element("rect", x=left, y=top, width=plot_w, height=plot_h, fill="none", stroke="#ccc")
    )
    for tick in _ticks(y_low, y_high):
        y = sy(tick)
        body.append(_element("line", x1=left, x2=left + plot_w, y1=y, y2=y, stroke="#eee"))
        body.append(
            _element("text", number(tick), x=left - 6, y=y + 4, font_size=11, text_anchor="end")
        )
    for tick in _ticks(x_low, x_high):
        body.append(
            _element(
                "text", number(tick), x=sx(tick), y=top + plot_h + 16, font_size=11,
                text_anchor="middle",
            )
        )  # fmt: skip
    body.append(
        _element(
            "text", x_label, x=left + plot_w // 2, y=height - 6, font_size=11,
            text_anchor="middle",
        )
    )  # fmt: skip
    for index, line in enumerate(drawn):
        color = _PALETTE[index % len(_PALETTE)]
        points = " ".join(f"{sx(x)},{sy(y)}" for x, y in zip(line.xs, line.ys, strict=True))
        summary = (
            f"{line.name}: last {number(line.ys[-1])}, "
            f"min {number(min(line.ys))}, max {number(max(line.ys))}"
        )
        body.append(
            f'<polyline class="series" data-name="{escape(line.name)}" fill="none" '
            f'stroke="{color}" stroke-width="1.5" points="{points}">'
            f"{_element('title', summary)}</polyline>"
        )
        if len(line.xs) <= _POINT_TITLES:
            for x, y in zip(line.xs, line.ys, strict=True):
                hover = f"{line.name} at {x_label} {number(x)}: {number(y)}"
                body.append(
                    f'<circle cx="{sx(x)}" cy="{sy(y)}" r="2.5" fill="{color}">'
                    f"{_element('title', hover)}</circle>"
                )
        legend_y = top + 14 + index * 14
        body.append(
            _element("rect", x=left + plot_w - 150, y=legend_y - 9, width=10, height=10, fill=color)
        )
        body.append(
            _element("text", _short(line.name), x=left + plot_w - 136, y=legend_y, font_size=11)
        )
    return _svg(width, height, title, body, series=len(drawn), points=points_total)


def bar_chart(
    labels: Sequence[str],
    counts: Sequence[float],
    *,
    title: str,
    width: int = 420,
    height: int = 200,
) -> Markup:
    """An SVG bar chart (a histogram's bins or a column's top values)."""
    left, right, top, bottom = 48, 8, 24, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    body = [_element("text", _short(title, 60), x=left, y=14, font_size=12, font_weight="bold")]
    highest = max(counts) if counts else 0
    if not counts or highest <= 0:
        body.append(_element("text", "no data", x=left, y=top + plot_h // 2, fill="#777"))
        return _svg(width, height, title, body, bars=0)
    bar_w = plot_w / len(counts)
    for index, (label, count) in enumerate(zip(labels, counts, strict=True)):
        bar_h = count / highest * plot_h
        x = left + index * bar_w
        body.append(
            f'<rect class="bar" x="{x + 1:.1f}" y="{top + plot_h - bar_h:.1f}" '
            f'width="{max(bar_w - 2, 1):.1f}" height="{bar_h:.1f}" fill="#1f77b4">'
            f"{_element('title', f'{label}: {number(count)}')}</rect>"
        )
    body.append(
        _element("text", number(highest), x=left - 6, y=top + 8, font_size=10, text_anchor="end")
    )
    body.append(_element("text", _short(labels[0], 24), x=left, y=top + plot_h + 14, font_size=10))
    body.append(
        _element(
            "text", _short(labels[-1], 24), x=left + plot_w, y=top + plot_h + 14, font_size=10,
            text_anchor="end",
        )
    )  # fmt: skip
    return _svg(width, height, title, body, bars=len(counts))


def _short(text: Any, limit: int = 22) -> str:
    value = str(text)
    return value if len(value) <= limit else value[: limit - 1] + "…"
