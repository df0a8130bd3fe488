"""`mw monitor drift` (in-process, through the real entry point) and the alert path of the
server monitor."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import sqlalchemy as sa
from scipy import stats

from modelward.monitoring.drift import cache as references
from modelward.monitoring.monitor import ServerMonitor
from modelward.registry.service import ModelRegistry
from modelward.serving.holder import ModelHolder
from modelward.store.tables import drift_references
from modelward.store.workspace import open_workspace
from tests.monitoring.conftest import CliResult
from tests.serving.support import Served


def _files(served: Served, tmp_path: Path) -> tuple[Path, Path]:
    same = tmp_path / "same.csv"
    served.raw.to_csv(same, index=False)
    shifted = served.raw.copy()
    shifted["mean area"] = shifted["mean area"] * 1.5
    moved = tmp_path / "shifted.parquet"
    shifted.to_parquet(moved, index=False)
    return same, moved


def test_drift_from_files_matches_scipy_and_writes_html(
    served: Served, tmp_path: Path, mw_cli: Callable[..., CliResult]
) -> None:
    same, moved = _files(served, tmp_path)
    calm = mw_cli("monitor", "drift", "bc-clf@1", "--current", same, "--json", home=served.home)
    assert calm.code == 0, calm.stderr
    assert calm.json()["dataset"]["drifted"] is False
    assert calm.json()["reference"] == "bc@1"  # the raw data before the model's transform
    html = tmp_path / "report.html"
    result = mw_cli(
        "monitor",
        "drift",
        "bc-clf@1",
        "--current",
        moved,
        "--html",
        html,
        "--json",
        home=served.home,
    )
    assert result.code == 0, result.stderr
    features = {f["name"]: f for f in result.json()["features"]}
    assert features["mean area"]["drifted"] is True
    assert features["mean radius"]["drifted"] is False
    reference = served.raw["mean area"].to_numpy()
    expected = stats.ks_2samp(reference * 1.5, reference)
    assert features["mean area"]["ks_statistic"] == pytest.approx(expected.statistic)
    text = html.read_text()
    assert text.startswith("<!DOCTYPE html>") and "mean area" in text
    assert "http://" not in text and "https://" not in text
    human = mw_cli("monitor", "drift", "bc-clf@1", "--current", moved, home=served.home)
    assert "mean area" in human.stdout.splitlines()[5] or "mean area" in human.stdout
    failing = mw_cli(
        "monitor",
        "drift",
        "bc-clf@1",
        "--current",
        moved,
        "--psi",
        "0.01",
        "--fail-on-drift",
        home=served.home,
    )
    assert failing.code in (0, 1)


def test_json_output_is_bounded_unless_histograms_are_asked_for(
    served: Served, tmp_path: Path, mw_cli: Callable[..., CliResult]
) -> None:
    _, moved = _files(served, tmp_path)
    args = ["monitor", "drift", "bc-clf@1", "--current", moved, "--json"]
    short = mw_cli(*args, home=served.home)
    assert short.code == 0, short.stderr
    features = short.json()["features"]
    assert len(features) == 4 and all("histogram" not in f and "buckets" not in f for f in features)
    assert len(short.stdout) < 800 * len(features) + 2000
    full = mw_cli(*args, "--histograms", home=served.home)
    assert full.code == 0, full.stderr
    area = next(f for f in full.json()["features"] if f["name"] == "mean area")
    assert {k: v for k, v in area.items() if k not in ("histogram", "buckets")} == next(
        f for f in features if f["name"] == "mean area"
    )
    # The PSI buckets: (-inf, e0], (e0, e1], ..., (e_last, inf) over the reference's deciles.
    edges = np.asarray(area["buckets"]["edges"])
    current = served.raw["mean area"].to_numpy() * 1.5
    counts = np.bincount(np.searchsorted(edges, current, side="left"), minlength=len(edges) + 1)
    assert area["buckets"]["current"] == pytest.approx(counts / len(current))
    reference = served.raw["mean area"].to_numpy()
    assert np.quantile(reference, np.arange(1, 10) / 10) == pytest.approx(edges)


def test_reference_statistics_are_computed_once(
    served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelward.monitoring.drift.check import DriftRequest, run_drift_check

    same, _ = _files(served, tmp_path)
    workspace = open_workspace()
    run_drift_check(workspace, DriftRequest(model="bc-clf@2", current_path=same))

    def recompute(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("reference statistics were computed again")

    monkeypatch.setattr(references, "compute_reference", recompute)
    again = run_drift_check(workspace, DriftRequest(model="bc-clf@2", current_path=same))
    assert again["dataset"]["drifted"] is False
    with workspace.db.read() as conn:
        assert (
            conn.execute(sa.select(sa.func.count()).select_from(drift_references)).scalar_one() >= 1
        )


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["nobody@1", "--current", "{same}"], "unknown model 'nobody'"),
        (["bc-clf@1", "--current", "{tmp}/missing.csv"], "no such file"),
        (["bc-clf@1", "--current", "{lacking}"], "mean texture"),
        (["bc-clf@1", "--current", "{text}"], "mean area"),
        (["bc-clf@1", "--reference", "nothing@1", "--current", "{same}"], "unknown dataset"),
        (["bc-clf@1", "--window", "1ms"], "has no answered requests"),
        (["bc-clf@1", "--window", "soon"], "duration"),
    ],
)
def test_bad_drift_requests_exit_2(
    served: Served, tmp_path: Path, args: list[str], fragment: str, mw_cli: Callable[..., CliResult]
) -> None:
    same, _ = _files(served, tmp_path)
    lacking = tmp_path / "lacking.csv"
    served.raw.drop(columns=["mean texture"]).to_csv(lacking, index=False)
    text = tmp_path / "text.csv"
    served.raw.assign(**{"mean area": "big"}).to_csv(text, index=False)
    filled = [a.format(same=same, tmp=tmp_path, lacking=lacking, text=text) for a in args]
    result = mw_cli("monitor", "drift", *filled, home=served.home)
    assert result.code == 2, (result.stdout, result.stderr)
    assert fragment in result.stderr and len(result.stderr.strip().splitlines()) == 1


class _Receiver(BaseHTTPRequestHandler):
    bodies: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        length = int(self.headers["content-length"])
        _Receiver.bodies.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return None


def test_a_firing_alert_is_stored_and_posted_to_the_webhook(
    served: Served, tmp_path: Path, mw_cli: Callable[..., CliResult]
) -> None:
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=receiver.serve_forever, daemon=True)
    thread.start()
    try:
        rules = tmp_path / "rules.yaml"
        rules.write_text(
            f"webhook: http://127.0.0.1:{receiver.server_address[1]}/hook\n"
            "webhook_allow: [127.0.0.1]\n"
            "rules:\n"
            "  - name: busy\n    metric: request_rate\n    threshold: {above: 0.5}\n"
            "    window: 1\n    for: 0s\n"
            "  - name: rate-spike\n    metric: request_rate\n    zscore: {abs: 3}\n"
            "    window: 5\n"
        )
        holder = ModelHolder(ModelRegistry(open_workspace()), "bc-clf@1", poll_interval=0)
        monitor = ServerMonitor(
            open_workspace(), holder, interval=0, alerts_path=str(rules), window_seconds=1.0
        )
        now = 1_000_000.0
        for step in range(6):  # a steady, low request rate: nothing fires
            monitor._add("request_rate", now + step, 0.1)
        assert monitor._evaluate("bc-clf", now + 6) == []
        monitor._add("request_rate", now + 7, 40.0)  # a spike
        events = monitor._evaluate("bc-clf", now + 7)
        assert {e.rule for e in events} == {"busy", "rate-spike"}
        from modelward.monitoring.alert_store import AlertRepository

        stored = AlertRepository(open_workspace().db).list(model="bc-clf", state="firing")
        assert {a.rule for a in stored} >= {"busy", "rate-spike"}
        assert all((a.webhook or "").startswith("ok") for a in stored[:2])
        posted = {body["rule"]: body for body in _Receiver.bodies}
        assert posted["busy"]["state"] == "firing" and posted["busy"]["value"] == 40.0
        listed = mw_cli("monitor", "alerts", "--model", "bc-clf", "--json", home=served.home)
        assert {a["rule"] for a in listed.json()} >= {"busy", "rate-spike"}
    finally:
        receiver.shutdown()


def test_an_unreachable_webhook_is_recorded_not_raised(served: Served, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "webhook: http://127.0.0.1:9/nowhere\nwebhook_allow: [127.0.0.1]\nrules:\n"
        "  - name: any-traffic\n    metric: request_rate\n    threshold: {above: 0}\n"
        "    window: 1\n"
    )
    holder = ModelHolder(ModelRegistry(open_workspace()), "bc-clf@1", poll_interval=0)
    monitor = ServerMonitor(open_workspace(), holder, interval=0, alerts_path=str(rules))
    monitor._add("request_rate", 5.0, np.float64(3.0))
    events = monitor._evaluate("bc-clf", 5.0)
    assert [e.rule for e in events] == ["any-traffic"]
    from modelward.monitoring.alert_store import AlertRepository

    stored = AlertRepository(open_workspace().db).list(model="bc-clf")[0]
    assert stored.rule == "any-traffic" and (stored.webhook or "").startswith("failed")


def test_a_malformed_rule_file_stops_mw_serve(
    served: Served, tmp_path: Path, mw_cli: Callable[..., CliResult]
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - name: x\n    metric: error_rate\n    window: 5m\n")
    result = mw_cli("serve", "bc-clf@1", "--port", "0", "--alerts", rules, home=served.home)
    assert result.code == 2 and "alert rule 1 ('x')" in result.stderr
