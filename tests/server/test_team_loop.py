"""The whole loop from a client machine that knows only a team server's address and a token.

A real `mw server` runs on 127.0.0.1 over a fresh home; every step is the `mw`
command in a process of its own whose environment names only MODELWARD_URI,
MODELWARD_TOKEN and an empty MODELWARD_HOME (plus PATH and PYTHONPATH, to find
Python and this checkout): data, train, evaluate, register, alias, serve (a real
`mw serve` answering /predict and /feedback, following the alias through the
server, its monitor firing an alert), monitor. Then the server stops and its
store is opened directly: it holds all of it, and the client's home holds no store.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from modelward.config import load_settings
from modelward.store.workspace import Workspace, close_workspaces, open_workspace

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

TOKEN_NAME = "ci-laptop"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout:.0f} s")


class Lines:
    """A child's stderr, read line by line in a thread (never blocking the test)."""

    def __init__(self, stream: Any) -> None:
        self.lines: list[str] = []
        self.thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.thread.start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            self.lines.append(line.rstrip("\n"))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@dataclass
class Server:
    url: str
    home: Path
    admin_token: str
    process: subprocess.Popen[str]
    stderr: Lines


def _base_env() -> dict[str, str]:
    """What any process needs to find Python and this checkout; no MODELWARD_* at all."""
    return {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
        "LANG": "C.UTF-8",
    }


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    home = tmp_path / "server-home"
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "modelward", "server", "--host", "127.0.0.1", "--port", str(port)],
        env={**_base_env(), "MODELWARD_HOME": str(home)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    stderr = Lines(process.stderr)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: httpx.get(f"{url}/health").status_code == 200, "mw server ready")
        # the first start prints the admin token once, on the line after its announcement
        announced = next(i for i, line in enumerate(stderr.lines) if "first start" in line)
        admin_token = stderr.lines[announced + 1].strip()
        yield Server(url, home, admin_token, process, stderr)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)


@dataclass
class Machine:
    """A client machine: an empty home, the server's address and one token."""

    home: Path
    env: dict[str, str]

    def mw(self, *args: str | Path, timeout: float = 180) -> Any:
        completed = subprocess.run(
            [sys.executable, "-m", "modelward", *map(str, args), "--json"],
            env=self.env,
            cwd=self.home.parent,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert completed.returncode == 0, (args, completed.stderr)
        return json.loads(completed.stdout)


def _training_data(path: Path) -> pd.DataFrame:
    rng = np.random.default_rng(42)
    frame = pd.DataFrame(
        {
            "tenure": rng.normal(24.0, 8.0, 600).round(1),
            "spend": rng.normal(70.0, 20.0, 600).round(2),
            "calls": rng.poisson(3, 600).astype(float),
        }
    )
    score = 0.08 * (frame["tenure"] - 24) - 0.05 * (frame["spend"] - 70) - 0.4 * frame["calls"]
    frame["churned"] = (score + rng.normal(0, 0.5, 600) < -1.2).astype(int)
    frame.to_csv(path, index=False)
    return frame


def test_a_client_with_only_an_address_and_a_token_runs_the_whole_loop(
    server: Server, tmp_path: Path
) -> None:
    created = httpx.post(
        f"{server.url}/api/v1/tokens",
        json={"name": TOKEN_NAME, "role": "writer"},
        headers={"Authorization": f"Bearer {server.admin_token}"},
    )
    assert created.status_code == 201, created.text
    token = created.json()["token"]
    client_home = tmp_path / "laptop" / ".modelward"
    client_home.mkdir(parents=True)
    machine = Machine(
        client_home,
        {
            **_base_env(),
            "MODELWARD_URI": server.url,
            "MODELWARD_TOKEN": token,
            "MODELWARD_HOME": str(client_home),
        },
    )
    frame = _training_data(tmp_path / "laptop" / "churn.csv")

    # data, train (twice), evaluate, register, alias
    added = machine.mw("data", "add", tmp_path / "laptop" / "churn.csv", "--name", "churn")
    assert added["ref"] == "churn@1"
    first = machine.mw(
        "train", "--data", "churn@1", "--target", "churned", "--model", "logistic",
        "--experiment", "churn", "--register", "churn-clf",
    )  # fmt: skip
    assert first["registered"] == "churn-clf@1"
    second = machine.mw(
        "train", "--data", "churn@1", "--target", "churned",
        "--model", "sklearn.tree.DecisionTreeClassifier", "--param", "max_depth=3",
        "--experiment", "churn", "--register", "churn-clf",
    )  # fmt: skip
    assert second["registered"] == "churn-clf@2"
    evaluated = machine.mw("evaluate", "churn-clf@1", "--data", "churn@1")
    assert evaluated["n_rows"] == len(frame)
    moved = machine.mw("models", "alias", "churn-clf", "1", "staging", "--reason", "first")
    assert moved["to_version"] == 1

    # serve: predictions and feedback, the alias moved on the server, an alert fired
    rules = tmp_path / "laptop" / "rules.yaml"
    rules.write_text(
        "rules:\n  - name: traffic\n    metric: request_rate\n"
        "    threshold: {above: 0.001}\n    window: 1\n    for: 0s\n"
    )
    serve_port = _free_port()
    serve = subprocess.Popen(
        [
            sys.executable, "-m", "modelward", "serve", "churn-clf@staging",
            "--port", str(serve_port), "--poll-interval", "0.2",
            "--monitor-interval", "1", "--alerts", str(rules),
        ],
        env=machine.env,
        cwd=client_home.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    serve_log = Lines(serve.stderr)
    served = f"http://127.0.0.1:{serve_port}"
    answered: dict[str, int] = {}  # request id -> version that answered
    labels: dict[str, list[int]] = {}
    try:
        _wait(lambda: httpx.get(f"{served}/ready").status_code == 200, "mw serve ready", 120)
        features = frame[["tenure", "spend", "calls"]]
        with httpx.Client(base_url=served) as http:
            for start in range(0, 60, 3):
                rows = features.iloc[start : start + 3]
                answer = http.post("/predict", json={"instances": rows.values.tolist()}).json()
                answered[answer["request_id"]] = answer["model"]["version"]
                truth = frame["churned"].iloc[start : start + 3].tolist()
                labels[answer["request_id"]] = truth
                sent = http.post(
                    "/feedback", json={"request_id": answer["request_id"], "label": truth}
                )
                assert sent.status_code == 200, sent.text
            machine.mw("models", "alias", "churn-clf", "2", "staging", "--reason", "tree")
            _wait(
                lambda: http.get("/ready").json()["model"]["version"] == 2,
                "the alias move reaching mw serve",
                timeout=15,
            )
            for start in range(60, 75, 3):
                rows = features.iloc[start : start + 3]
                answer = http.post("/predict", json={"instances": rows.values.tolist()}).json()
                answered[answer["request_id"]] = answer["model"]["version"]
        _wait(
            lambda: any(a["state"] == "firing" for a in machine.mw("monitor", "alerts")),
            "the serve process's monitor firing its alert",
            timeout=60,
        )
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=60)
    # a graceful stop (uvicorn re-raises the signal once it has shut down): no crash
    assert serve.returncode in (0, -signal.SIGTERM), serve_log.text
    assert sorted(answered.values()) == [1] * 20 + [2] * 5

    drift = machine.mw("monitor", "drift", "churn-clf@staging", "--window", "1h")
    assert drift["n_current"] == 75 and drift["reference"] == "churn@1"
    runs = machine.mw("runs", "list", "--experiment", "churn")
    assert {run["id"] for run in runs} >= {first["run_id"], second["run_id"]}

    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=30) in (0, -signal.SIGTERM), server.stderr.text
    _assert_the_server_store_holds_it_all(server.home, first, second, evaluated, answered, labels)
    # the laptop kept no store of its own: only downloaded artifacts and the monitor's lock
    assert not (client_home / "modelward.db").exists()
    assert {path.name for path in client_home.iterdir()} <= {"cache", "locks"}


def _assert_the_server_store_holds_it_all(
    home: Path,
    first: dict[str, Any],
    second: dict[str, Any],
    evaluated: dict[str, Any],
    answered: dict[str, int],
    labels: dict[str, list[int]],
) -> None:
    from modelward.data.catalog import DatasetCatalog
    from modelward.evaluation.records import EvaluationRepository
    from modelward.monitoring.alert_store import AlertRepository
    from modelward.monitoring.predictions import PredictionLogRepository
    from modelward.registry.service import ModelRegistry
    from modelward.tracking.repository import RunRepository

    close_workspaces()
    workspace: Workspace = open_workspace(load_settings({"MODELWARD_HOME": str(home)}))
    try:
        data = DatasetCatalog(workspace).get("churn@1")
        assert data.n_rows == 600 and workspace.local_artifacts.exists(data.digest)
        runs = RunRepository(workspace.db)
        for trained in (first, second):
            run = runs.get(trained["run_id"])
            assert run.metrics and run.user == TOKEN_NAME
        evaluations = EvaluationRepository(workspace.db).for_run(first["run_id"])
        assert [e.id for e in evaluations] == [evaluated["id"]]
        registry = ModelRegistry(workspace)
        versions = registry.versions("churn-clf")
        assert [(v.version, v.run_id, v.created_by) for v in versions] == [
            (1, first["run_id"], TOKEN_NAME),
            (2, second["run_id"], TOKEN_NAME),
        ]
        assert all(workspace.local_artifacts.exists(v.digest) for v in versions)
        assert registry.get("churn-clf@staging").version == 2
        assert [(c.to_version, c.actor, c.reason) for c in registry.audit("churn-clf")] == [
            (2, TOKEN_NAME, "tree"),
            (1, TOKEN_NAME, "first"),
        ]
        log = PredictionLogRepository(workspace.db)
        assert log.request_ids("churn-clf") == set(answered)  # nothing lost on SIGTERM
        stored = {r.request_id: r.model_version for r in log.records("churn-clf")}
        assert stored == answered
        labeled = {item.request_id: item.label for item in log.labeled("churn-clf")}
        assert labeled == labels
        alerts = AlertRepository(workspace.db).list(model="churn-clf")
        assert "traffic" in {alert.rule for alert in alerts if alert.state == "firing"}
    finally:
        close_workspaces()
