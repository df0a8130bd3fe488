"""The HTML drift report: self-contained, one histogram per feature, drifted first."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd

from modelward.monitoring.drift import DriftReport, compute_reference, detect_drift
from modelward.monitoring.drift.report import MAX_BARS, render_html


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _report() -> DriftReport:
    rng = np.random.default_rng(0)
    n = 3_000
    reference = pd.DataFrame(
        {
            "steady": rng.normal(size=n),
            "moved": rng.normal(size=n),
            "city": rng.choice([f"city{i}" for i in range(40)], size=n),
            "<b>&\"odd'": rng.choice(list("xy"), size=n),
            "const": np.ones(n),
        }
    )
    current = pd.DataFrame(
        {
            "steady": rng.normal(size=n),
            "moved": rng.normal(1.0, 1, size=n),
            "city": rng.choice([f"city{i}" for i in range(45)], size=n),
            "<b>&\"odd'": rng.choice(list("xy"), size=n),
            "const": np.ones(n),
            "extra": 1,
        }
    )
    return detect_drift(compute_reference(reference, max_categories=30), current)


def test_html_is_self_contained() -> None:
    page = render_html(_report())
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page and "<link" not in page and "<img" not in page
    collector = _Collector()
    collector.feed(page)
    for _, attrs in collector.tags:
        for key in ("src", "href"):
            value = attrs.get(key)
            assert value is None or value.startswith("#"), value


def test_one_histogram_per_feature_with_both_series() -> None:
    report = _report()
    page = render_html(report)
    collector = _Collector()
    collector.feed(page)
    svgs = [attrs for tag, attrs in collector.tags if tag == "svg"]
    assert len(svgs) == report.n_features
    sections = [str(a["data-feature"]) for t, a in collector.tags if "data-feature" in a]
    assert sorted(sections) == sorted(f.name for f in report.features)
    # each histogram: one reference and one current bar per bin, at most MAX_BARS bins
    for chart in re.findall(r'<svg class="histogram".*?</svg>', page, flags=re.S):
        bars = chart.count("<rect")
        assert bars % 2 == 0 and 2 <= bars <= 2 * MAX_BARS
    moved = report.feature("moved")
    assert moved.histogram is not None and len(moved.histogram.labels) == 22


def test_features_are_listed_drifted_first_and_names_are_escaped() -> None:
    report = _report()
    page = render_html(report, title="Churn <drift>")
    assert "<title>Churn &lt;drift&gt;</title>" in page
    assert "&lt;b&gt;&amp;&quot;odd&#x27;" in page and "<b>&" not in page
    table = page[page.index("<h2>Features</h2>") : page.index("<h2>Histograms")]
    order = re.findall(r'<a href="#[^"]+">([^<]+)</a>', table)
    statuses = [report.feature(name.replace("&lt;b&gt;&amp;&quot;odd&#x27;", "<b>&\"odd'")).status
                for name in order]  # fmt: skip
    assert statuses == sorted(statuses, key=["drifted", "stable", "no data"].index)
    assert statuses[0] == "drifted"
    assert "Not in the reference, ignored: extra" in page
    assert ("DRIFTED" in page) == report.drifted


def test_feature_without_data_gets_a_note_not_a_chart() -> None:
    reference = pd.DataFrame({"x": np.arange(100.0), "gone": np.nan})
    report = detect_drift(compute_reference(reference), reference)
    page = render_html(report)
    assert page.count('<svg class="histogram"') == 1
    assert "No histogram: no values on one side." in page
