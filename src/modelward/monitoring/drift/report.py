"""A drift report as one self-contained HTML page (inline CSS and SVG, no scripts).

The page has the dataset verdict, the thresholds in force, a table of features
(drifted first, then by PSI) and, per feature, a reference-vs-current histogram
over the same bins: for numeric features 20 equal-width bins over the reference's
0.1%-99.9% range plus an underflow and an overflow bin, for categorical features
the reference's top categories and "other" (at most `MAX_BARS` bars; the rest are
merged into one). Nothing is fetched from anywhere: the file can be mailed.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime

from modelward.monitoring.drift.engine import DriftReport, FeatureDrift, Histogram

__all__ = ["MAX_BARS", "render_html"]

MAX_BARS = 24
_WIDTH, _HEIGHT, _LEFT, _BOTTOM, _TOP = 720, 200, 44, 40, 12
_STATUS_ORDER = {"drifted": 0, "stable": 1, "no data": 2}

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;
max-width:1100px;padding:0 16px;color:#1f2328}
h1{font-size:22px;margin:0 0 8px}h2{font-size:17px;margin:28px 0 8px}
h3{font-size:15px;margin:0 0 4px}
.verdict{padding:12px 16px;border-radius:6px;margin:12px 0;font-weight:600}
.verdict.drifted{background:#ffebe9;border:1px solid #ff8182}
.verdict.stable{background:#dafbe1;border:1px solid #4ac26b}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{border-bottom:1px solid #d0d7de;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.num{text-align:right;font-variant-numeric:tabular-nums}
.tag{border-radius:10px;padding:1px 8px;font-size:12px;white-space:nowrap}
.tag.drifted{background:#ffebe9;color:#a40e26}.tag.stable{background:#dafbe1;color:#116329}
.tag.nodata{background:#eaeef2;color:#57606a}
.feature{border:1px solid #d0d7de;border-radius:6px;padding:12px;margin:12px 0}
.muted{color:#57606a}.legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 12px}
svg text{font:11px system-ui,sans-serif;fill:#57606a}
"""


def render_html(report: DriftReport, *, title: str = "Data drift report") -> str:
    """The whole report as one HTML document (a string); see the module docstring."""
    verdict = "drifted" if report.drifted else "stable"
    features = sorted(
        enumerate(report.features),
        key=lambda item: (_STATUS_ORDER[item[1].status], -(item[1].psi or 0.0), item[0]),
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="muted">Generated {datetime.now(UTC):%Y-%m-%d %H:%M UTC}; reference '
        f"{report.n_reference_rows:,} rows, current {report.n_current_rows:,} rows.</p>",
        f'<div class="verdict {verdict}">Dataset {"DRIFTED" if report.drifted else "not drifted"}'
        f": {_e(report.reason)}</div>",
        _thresholds(report),
        "<h2>Features</h2>",
        _table([f for _, f in features]),
    ]
    if report.extra_columns:
        parts.append(
            f'<p class="muted">Not in the reference, ignored: {_e(", ".join(report.extra_columns))}'
            "</p>"
        )
    parts.append("<h2>Histograms: reference vs current</h2>")
    parts.append(
        '<p class="legend muted">Share of non-missing values per bin.'
        '<span style="background:#8c959f"></span>reference'
        '<span style="background:#fb8f44"></span>current</p>'
    )
    parts.extend(_section(i, f) for i, f in features)
    parts.append("</body></html>")
    return "\n".join(parts)


def _thresholds(report: DriftReport) -> str:
    t = report.thresholds
    missing = "off" if t.missing_share is None else f"{t.missing_share:g}"
    rows = [
        ("significant", f"KS p &lt; {report.ks_alpha:.3g}, chi-square p &lt; "
         f"{report.chi2_alpha:.3g} ({_e(t.correction)} correction of "
         f"{t.ks_pvalue:g} / {t.chi2_pvalue:g})"),
        ("material", f"PSI &ge; {t.psi:g}, or KS statistic &ge; {t.ks_statistic:g} (numeric), "
         f"or total variation &ge; {t.tv_distance:g} (categorical)"),
        ("missing values", f"a change of the missing share &ge; {missing} flags a feature"),
        ("dataset", f"drifted when &ge; {t.min_drifted_share:.0%} of features drift"
         + (f", or any of {_e(', '.join(t.critical))}" if t.critical else "")),
    ]  # fmt: skip
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return (
        "<h2>Rule</h2><p>A feature is drifted when its change is significant and material "
        f"(or its missing share moved).</p><table>{body}</table>"
    )


def _table(features: list[FeatureDrift]) -> str:
    head = (
        "<tr><th>feature</th><th>kind</th><th>status</th><th>PSI</th><th>KS</th>"
        "<th>KS p</th><th>chi&sup2;</th><th>chi&sup2; p</th><th>TV</th><th>n ref</th>"
        "<th>n cur</th><th>missing ref &rarr; cur</th><th>reason</th></tr>"
    )
    rows = []
    for f in features:
        cells = [
            f'<td><a href="#{_anchor(f.name)}">{_e(f.name)}</a></td>',
            f"<td>{f.kind}</td>",
            f"<td>{_tag(f.status)}</td>",
            *(
                f'<td class="num">{_num(v)}</td>'
                for v in (f.psi, f.ks_statistic, f.ks_pvalue, f.chi2_statistic, f.chi2_pvalue)
            ),
            f'<td class="num">{_num(f.tv_distance)}</td>',
            f'<td class="num">{f.n_reference:,}</td><td class="num">{f.n_current:,}</td>',
            f'<td class="num">{f.missing_reference:.1%} &rarr; {f.missing_current:.1%}</td>',
            f"<td>{_e(f.reason)}</td>",
        ]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def _section(index: int, f: FeatureDrift) -> str:
    chart = (
        _svg(_capped(f.histogram), f.name)
        if f.histogram is not None
        else '<p class="muted">No histogram: no values on one side.</p>'
    )
    return (
        f'<div class="feature" id="{_anchor(f.name)}" data-feature="{_e(f.name)}">'
        f"<h3>{_e(f.name)} {_tag(f.status)}</h3>"
        f'<p class="muted">{_e(f.kind)}; {_e(f.reason)}</p>{chart}</div>'
    )


def _capped(h: Histogram) -> Histogram:
    """At most MAX_BARS bars: categorical tails are merged into one bar."""
    if len(h.labels) <= MAX_BARS or h.edges:
        return h
    keep = MAX_BARS - 1
    rest = len(h.labels) - keep
    return Histogram(
        (*h.labels[:keep], f"{rest} more"),
        (*h.reference[:keep], sum(h.reference[keep:])),
        (*h.current[:keep], sum(h.current[keep:])),
    )


def _svg(h: Histogram, name: str) -> str:
    n = len(h.labels)
    top = max([*h.reference, *h.current, 1e-12])
    plot_w, plot_h = _WIDTH - _LEFT - 8, _HEIGHT - _BOTTOM - _TOP
    group = plot_w / n
    bar = group * 0.4
    shapes = [
        f'<svg class="histogram" width="{_WIDTH}" '
        f'height="{_HEIGHT}" viewBox="0 0 {_WIDTH} {_HEIGHT}" role="img" '
        f'aria-label="histogram of {_e(name)}">',
        f'<line x1="{_LEFT}" y1="{_TOP + plot_h}" x2="{_WIDTH - 8}" y2="{_TOP + plot_h}" '
        'stroke="#8c959f"/>',
        f'<text x="{_LEFT - 4}" y="{_TOP + 8}" text-anchor="end">{top:.0%}</text>',
        f'<text x="{_LEFT - 4}" y="{_TOP + plot_h}" text-anchor="end">0</text>',
    ]
    for i, (label, ref, cur) in enumerate(zip(h.labels, h.reference, h.current, strict=True)):
        x = _LEFT + i * group + group * 0.1
        tip = _e(f"{label}: reference {ref:.2%}, current {cur:.2%}")
        for dx, share, color in ((0.0, ref, "#8c959f"), (bar, cur, "#fb8f44")):
            height = plot_h * share / top
            shapes.append(
                f'<rect x="{x + dx:.1f}" y="{_TOP + plot_h - height:.1f}" width="{bar:.1f}" '
                f'height="{height:.1f}" fill="{color}"><title>{tip}</title></rect>'
            )
        if n <= 12 or i in (0, n // 2, n - 1):
            text = label if len(label) <= 18 else label[:17] + "\u2026"
            anchor, at = "middle", x + bar
            if i == 0 and n > 1:
                anchor, at = "start", x
            elif i == n - 1 and n > 1:
                anchor, at = "end", x + 2 * bar
            shapes.append(
                f'<text x="{at:.1f}" y="{_TOP + plot_h + 14}" text-anchor="{anchor}">'
                f"{_e(text)}</text>"
            )
    shapes.append("</svg>")
    return "".join(shapes)


def _tag(status: str) -> str:
    css = status.replace(" ", "")
    return f'<span class="tag {css}">{_e(status)}</span>'


def _anchor(name: str) -> str:
    return "feature-" + "".join(c if c.isalnum() or c in "-_" else f"_{ord(c):x}" for c in name)


def _num(value: float | None) -> str:
    return "&ndash;" if value is None else f"{value:.3g}"


def _e(text: str) -> str:
    return html.escape(text, quote=True)
