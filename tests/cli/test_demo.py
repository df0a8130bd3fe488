"""`mw demo` runs the whole loop from a fresh home, and again on the same home."""

from __future__ import annotations

import contextlib
import json
import re
import signal
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from tests.helpers import mw
from tests.monitoring.conftest import mw_in_process


@pytest.mark.timeout(300)
def test_demo_runs_end_to_end_and_is_repeatable(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = mw("demo", "--json", home=home, timeout=240)
    assert first.code == 0, first.stderr
    report = first.json()
    assert report["raw"] == "breast-cancer@1" and report["prepared"] == "breast-cancer-prep@1"
    assert report["lineage"] == ["breast-cancer-prep@1", "breast-cancer@1"]
    f1 = {run["model"]: run["metrics"]["f1"] for run in report["runs"]}
    assert set(f1) == {"logistic-gd", "logistic-sgd", "logistic-adam", "random-forest"}
    assert all(value > 0.85 for value in f1.values())
    best = next(run for run in report["runs"] if run["run_id"] == report["best_run"])
    assert best["metrics"]["f1"] == max(f1.values())
    assert report["evaluation"]["data"] == "breast-cancer-prep@1"
    for name in report["evaluation"]["plots"]:
        assert (Path(report["plots"]) / f"{name}.png").read_bytes().startswith(b"\x89PNG")

    assert report["registered"] == "breast-cancer-clf@1"
    assert report["production"] == "breast-cancer-clf@1"
    statuses = [exchange["status"] for exchange in report["requests"]]
    assert statuses == [200, 200, 422, 422, 422]
    assert "breast-cancer-clf@1" in report["requests"][0]["answer"]
    monitoring = report["monitoring"]
    alert, drift = monitoring["alert"], monitoring["drift"]
    assert alert is not None and alert["rule"] == "input-drift"
    # One source of truth: the alert's share is the share of the report on the same rows.
    assert alert["value"] == pytest.approx(drift["share"])
    assert drift["share"] == pytest.approx(len(drift["features"]) / drift["n_features"])
    assert drift["n_features"] == 30 and drift["drifted"] is True
    shifted = {
        "mean radius",
        "mean texture",
        "mean perimeter",
        "mean area",
        "mean smoothness",
        "mean compactness",
        "mean concavity",
        "mean concave points",
        "mean symmetry",
        "mean fractal dimension",
    }  # fmt: skip  (the demo scales these ten by 1.6)
    assert "mean radius" in drift["features"] and set(drift["features"]) <= shifted
    assert Path(monitoring["html"]).read_text().startswith("<!DOCTYPE html>")
    # the loop closed itself: the alert's pipeline retrained on the served, labeled rows,
    # the gate compared it with production on held-out rows, the server swapped
    loop = report["loop"]
    assert loop["status"] == "succeeded" and loop["trigger"].startswith(
        "alert:breast-cancer-clf/input-drift (alert "
    )
    assert [s["step"] for s in loop["steps"]] == [
        "data", "holdout", "transform", "train", "register", "promote"
    ]  # fmt: skip
    assert loop["promoted"] == "breast-cancer-clf@2" and loop["served_version"] == 2
    audit = json.loads(mw("models", "show", "breast-cancer-clf", "--json", home=home).stdout)
    assert "started by alert:breast-cancer-clf/input-drift" in audit["audit"][0]["reason"]

    shown = json.loads(mw("data", "show", "breast-cancer-prep", "--json", home=home).stdout)
    assert shown["lineage"] == ["breast-cancer@1"] and shown["transform"] is not None

    first_server = _dashboard_shows_the_demo(report["dashboard"])

    second = mw("demo", home=home, timeout=240)
    assert second.code == 0, second.stderr
    assert not psutil.pid_exists(first_server)  # the second demo stopped the first's server
    (link,) = re.findall(r"sign in once \(link valid 15 minutes\): (\S+)", second.stdout)
    (pid,) = re.findall(r"stop it with: kill (\d+)", second.stdout)
    try:
        assert httpx.get(link).status_code == 200  # the link works until it is used
    finally:
        _stop(int(pid))
    assert "already stored (same content)" in second.stdout
    assert "best by hold-out f1" in second.stdout
    # the same best model again, now version 3, judged against the retrained production
    assert re.search(r"breast-cancer-clf@production -> breast-cancer-clf@3|production stays",
                     second.stdout)  # fmt: skip
    assert "7. the loop closes itself" in second.stdout
    assert "-> 200" in second.stdout and "-> 422" in second.stdout
    assert "alert fired: input-drift" in second.stdout
    (line,) = [ln for ln in second.stdout.splitlines() if "drift report on those rows" in ln]
    told = re.search(r"share ([0-9.]+): (\d+) of 30 features \((.*)\)$", line)
    assert told is not None, line
    (alert_line,) = [ln for ln in second.stdout.splitlines() if "alert fired" in ln]
    assert f"drift share {told.group(1)} " in alert_line  # the same share, both lines
    assert len(told.group(3).split(", ")) == int(told.group(2))  # every drifted name listed
    alerts = json.loads(mw("monitor", "alerts", "--json", home=home).stdout)
    assert {a["rule"] for a in alerts} >= {"input-drift"}


def _dashboard_shows_the_demo(dashboard: dict[str, Any]) -> int:
    """Sign in with the demo's one-time link and find its runs, model and alert; the PID."""
    pid = int(dashboard["pid"])
    try:
        with httpx.Client(base_url=dashboard["url"], follow_redirects=True) as browser:
            page = browser.get(dashboard["login_url"])
            assert page.status_code == 200 and "Sign in as demo-" in page.text
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
            assert csrf is not None
            runs = browser.post(dashboard["login_url"], data={"csrf": csrf.group(1)})
            assert runs.status_code == 200 and str(runs.url).endswith("/runs")
            for name in ("logistic-gd", "logistic-sgd", "logistic-adam", "random-forest"):
                assert name in runs.text
            model = browser.get("/models/breast-cancer-clf").text
            assert '<span class="badge">production</span></td><td>@2<' in model
            assert "input-drift" in browser.get("/monitoring").text
            # used once: the same link signs in nobody else
            spent = httpx.get(dashboard["login_url"])
            assert spent.status_code == 401 and "used already" in spent.text
    except BaseException:
        _stop(pid)
        raise
    return pid


def _stop(pid: int) -> None:
    with contextlib.suppress(psutil.NoSuchProcess):
        process = psutil.Process(pid)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def test_init_reports_the_store(tmp_path: Path) -> None:
    result = mw_in_process("init", "--json", home=tmp_path / "home")
    assert result.code == 0, result.stderr
    info = result.json()
    assert info["home"] == str(tmp_path / "home")
    assert info["schema_revision"]
    assert Path(info["artifacts"]).is_dir()
