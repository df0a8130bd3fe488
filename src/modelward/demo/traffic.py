"""The demo's last stages: serve the production model, send good, bad, normal and drifted
requests, and show what the monitor made of them (drift verdict, the alert that fired)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from modelward.errors import ModelwardError

ALERT_RULES = """\
# Alert rules of the demo server (see modelward.monitoring.rules for the format).
rules:
  - name: input-drift
    metric: drift_share            # share of features the monitor finds drifted
    threshold: {above: 0.1}
    window: 1                      # the latest drift round
    for: 0s
    # retrain when it fires (a real server would wait longer than 10 s to retry)
    then: {pipeline: retrain.yaml, cooldown: 10s}
  - name: slow-predictions
    metric: latency_p95_seconds
    threshold: {above: 1.0}
    window: 1m
    for: 30s
"""


def serve_and_watch(
    home: Path,
    ref: str,
    rows: pd.DataFrame,
    labels: pd.Series,
    demo_dir: Path,
    *,
    say: Callable[[str], None],
) -> dict[str, Any]:
    """Run the server in the background for the demo's requests; stop it with SIGTERM."""
    import httpx

    from modelward.demo.closing import watch_the_loop, write_retrain_pipeline
    from modelward.monitoring.ports import alert_state_store
    from modelward.store.workspace import open_workspace

    rules = demo_dir / "alerts.yaml"
    rules.write_text(ALERT_RULES, encoding="utf-8")
    write_retrain_pipeline(demo_dir, ref.split("@")[0])
    # Each demo shows an alert firing: its server starts with the rules inactive, not
    # where the previous demo's server left them (a real server resumes them).
    alert_state_store(open_workspace()).clear(ref.split("@")[0])
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "modelward",
            "serve",
            ref,
            "--port",
            str(port),
            "--monitor-interval",
            "0.5",  # a drift round every 3 s (6 rounds)
            "--alerts",
            str(rules),
        ],
        env={**os.environ, "MODELWARD_HOME": str(home)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    started = time.time()
    try:
        _wait_ready(server, url)
        with httpx.Client(base_url=url, timeout=30) as client:
            exchanges = _good_and_bad(client, rows.head(3))
            for exchange in exchanges:
                say(f"   {exchange['what']:<28} -> {exchange['status']} {exchange['answer']}")
            monitoring = _normal_then_drifted(client, rows, labels, home, ref, started, say)
            say("7. the loop closes itself: the alert retrains, the gate decides, the server swaps")
            if monitoring["alert"] is not None:
                monitoring["loop"] = watch_the_loop(client, ref.split("@")[0], started, say)
            else:
                say("   no alert fired, so nothing was retrained")
                monitoring["loop"] = {"pipeline_run": None}
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    return {"requests": exchanges, "monitoring": monitoring}


def _good_and_bad(client: Any, rows: pd.DataFrame) -> list[dict[str, Any]]:
    good = rows.to_dict(orient="records")
    requests = [
        ("3 rows by column name", {"instances": good}),
        (
            "3 rows, MLflow split format",
            {"dataframe_split": {"columns": list(rows.columns), "data": rows.values.tolist()}},
        ),
        ("a word in a number column", {"instances": [{**good[0], rows.columns[0]: "large"}]}),
        ("an empty batch", {"instances": []}),
        (
            "a missing column",
            {"instances": [{k: v for k, v in good[0].items() if k != rows.columns[1]}]},
        ),
    ]
    exchanges = []
    for what, body in requests:
        response = client.post("/predict", json=body)
        payload = response.json()
        answer = payload.get("predictions", payload.get("error", {}).get("message"))
        if "model" in payload:
            answer = f"{answer} from {payload['model']['name']}@{payload['model']['version']}"
        exchanges.append({"what": what, "status": response.status_code, "answer": answer})
    return exchanges


def _normal_then_drifted(
    client: Any,
    rows: pd.DataFrame,
    labels: pd.Series,
    home: Path,
    ref: str,
    started: float,
    say: Callable[[str], None],
) -> dict[str, Any]:
    from modelward.monitoring.drift.check import DriftRequest, run_drift_check
    from modelward.monitoring.ports import alert_store
    from modelward.store.workspace import open_workspace

    normal = rows.sample(n=min(300, len(rows)), random_state=1)
    correct = 0
    for start in range(0, len(normal), 10):
        batch = normal.iloc[start : start + 10]
        answer = client.post("/predict", json={"instances": batch.values.tolist()}).json()
        truth = labels.loc[batch.index].tolist()
        client.post("/feedback", json={"request_id": answer["request_id"], "label": truth})
        correct += sum(p == t for p, t in zip(answer["predictions"], truth, strict=True))
    say(
        f"   normal traffic: {len(normal)} rows with their labels "
        f"(accuracy {correct / len(normal):.3f})"
    )
    drifted = rows.sample(n=min(500, len(rows)), random_state=2).copy()
    shifted = list(drifted.columns[:10])
    drifted[shifted] = drifted[shifted] * 1.6  # sensors recalibrated: the first 10 inputs scale up
    for start in range(0, len(drifted), 20):
        batch = drifted.iloc[start : start + 20]
        answer = client.post("/predict", json={"instances": batch.values.tolist()}).json()
        truth = labels.loc[batch.index].tolist()  # the labels come back for these too
        client.post("/feedback", json={"request_id": answer["request_id"], "label": truth})
    say(
        f"   drifted traffic: {len(drifted)} rows with {len(shifted)} inputs scaled by 1.6, "
        "and their labels"
    )

    workspace = open_workspace()
    alerts = alert_store(workspace)
    name = ref.split("@")[0]
    deadline = time.time() + 30
    fired: list[Any] = []
    while time.time() < deadline and not fired:
        fired = [a for a in alerts.list(model=name, state="firing") if a.at.timestamp() >= started]
        time.sleep(0.5)
    html = home / "demo" / "drift.html"
    alert = fired[0] if fired else None
    seen = alert.details.get("drift") if alert is not None else None
    if alert is not None and isinstance(seen, dict):
        # The report on exactly the rows the monitor judged when it fired: one verdict.
        request = DriftRequest(
            model=ref,
            since_ms=int(seen["since_ms"]),
            until_id=int(seen["until_id"]),
            rows=int(seen["limit"]),
            html_path=html,
        )
    else:
        window = f"{max(1, int(time.time() - started) + 5)}s"
        request = DriftRequest(model=ref, window=window, html_path=html)
    report = run_drift_check(workspace, request)
    verdict = report["dataset"]
    if alert is not None:
        say(
            f"   alert fired: {alert.rule} (drift share {alert.value:.2f} in the monitor's "
            f"round of {report['n_current']} rows): {alert.message}"
        )
    else:
        say("   no alert fired within 30 s")
    names = ", ".join(verdict["drifted_features"]) or "none"
    say(
        f"   drift report on {'those rows' if alert is not None else 'the served traffic'}: "
        f"{'DRIFTED' if verdict['drifted'] else 'no drift'}, share {verdict['share']:.2f}: "
        f"{verdict['n_drifted']} of {verdict['n_features']} features ({names})"
    )
    say(f"   HTML report: {html}")
    return {
        "alert": alert.to_dict() if alert is not None else None,
        "drift": {
            "drifted": verdict["drifted"],
            "share": verdict["share"],
            "n_features": verdict["n_features"],
            "features": verdict["drifted_features"],
            "rows": report["n_current"],
        },
        "html": str(html),
    }


def _wait_ready(server: subprocess.Popen[str], url: str, timeout: float = 60.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            error = server.stderr.read() if server.stderr else ""
            raise ModelwardError(f"the demo server stopped: {error.strip()}")
        try:
            if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise ModelwardError("the demo server did not become ready within a minute")
