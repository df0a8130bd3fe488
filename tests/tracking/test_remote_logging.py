"""Logging to a team server stays buffered, and loses nothing and repeats nothing when
answers are lost or the server is away for a moment (issue 9, item 3)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette

import modelward as mw
from modelward.config import load_settings
from modelward.errors import Unavailable
from modelward.store.remote import ServerClient
from modelward.store.workspace import Workspace, open_workspace, remote_workspace
from modelward.tracking.repository import RunRepository
from modelward.tracking.run import ActiveRun
from tests.server.support import BASE_URL, WRITER, TeamServer


class LosesAnswers(httpx.BaseTransport):
    """Delivers every request, but drops the answer of the first `lose` batch posts,
    as a connection that breaks after the server has done the work would."""

    def __init__(self, inner: httpx.BaseTransport, lose: int) -> None:
        self.inner = inner
        self.lose = lose
        self.lost = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        response.read()
        if request.url.path.endswith("/batches") and self.lost < self.lose:
            self.lost += 1
            raise httpx.ReadError("the connection dropped before the answer", request=request)
        return response


def lossy_workspace(
    team: TeamServer, lose: int, retry_for: float
) -> tuple[Workspace, LosesAnswers]:
    http = team.http(None)
    transport = LosesAnswers(http._transport, lose)
    http._transport = transport
    client = ServerClient(BASE_URL, team.secrets[WRITER], http=http, retry_for=retry_for)
    return remote_workspace(client, load_settings()), transport


@pytest.fixture
def team(home: Path) -> TeamServer:
    return TeamServer.start(open_workspace())


def stored_steps(team: TeamServer, run_id: str, key: str = "loss") -> list[int]:
    return [p.step for p in RunRepository(team.workspace.db).metric_history(run_id, key)]


def test_a_batch_resent_after_a_lost_answer_is_stored_once(team: TeamServer) -> None:
    # the client's own retry resends the batch: the server recognises its id
    workspace, transport = lossy_workspace(team, lose=1, retry_for=5)
    run = ActiveRun(workspace, experiment="lossy", flush_interval=60)
    for step in range(1000):
        run.log_metric("loss", 1.0 / (step + 1), step=step)
    run.log_params({"C": 1.0})
    run.end()
    assert transport.lost == 1
    assert stored_steps(team, run.id) == list(range(1000))
    assert RunRepository(team.workspace.db).get(run.id).status == "finished"


def test_a_batch_that_failed_is_sent_again_as_it_was(team: TeamServer) -> None:
    # the client gives up (the answers stay lost past its retry time); the run keeps
    # the batch and sends it again, same id, with what was logged since after it
    workspace, transport = lossy_workspace(team, lose=3, retry_for=0)
    run = ActiveRun(workspace, experiment="lossy", flush_interval=60)
    for step in range(500):
        run.log_metric("loss", float(step), step=step)
    for attempt in range(3):
        with pytest.raises(Unavailable):
            run.flush()
        run.log_metric("loss", float(500 + attempt), step=500 + attempt)
    run.end()
    assert transport.lost == 3
    assert stored_steps(team, run.id) == list(range(503))


def test_a_block_that_raises_or_is_interrupted_keeps_what_was_logged(
    team: TeamServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    team.connect(monkeypatch, tmp_path / "client")
    for error in (ZeroDivisionError, KeyboardInterrupt):
        with pytest.raises(error), mw.start_run(experiment="e") as run:
            for step in range(300):
                run.log_metric("loss", float(step), step=step)
            raise error()
        stored = mw.tracking.get_run(run.id)
        assert stored.status == "failed" and error.__name__ in (stored.error or "")
        assert stored.user == WRITER
        assert stored_steps(team, run.id) == list(range(300))


class LiveServer:
    """The team server on 127.0.0.1 in a thread of this process, stopped by its handle
    and started again on the same port."""

    def __init__(self, app: Starlette) -> None:
        self.app = app
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        config = uvicorn.Config(
            self.app, log_level="warning", lifespan="off", timeout_graceful_shutdown=2
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.01)

    def stop(self) -> None:
        assert self.server is not None and self.thread is not None
        self.server.should_exit = True
        self.thread.join(timeout=10)
        assert not self.thread.is_alive(), "the server did not stop"


@pytest.fixture
def live(team: TeamServer) -> Iterator[LiveServer]:
    server = LiveServer(team.app)
    server.start()
    yield server
    if server.thread is not None and server.thread.is_alive():
        server.stop()


@pytest.mark.timeout(120)
def test_a_server_away_for_a_moment_loses_nothing(team: TeamServer, live: LiveServer) -> None:
    client = ServerClient(live.url, team.secrets[WRITER], retry_for=30)
    run = ActiveRun(remote_workspace(client, load_settings()), flush_interval=0.05)
    step = 0

    def log(until: int) -> None:
        nonlocal step
        while step < until:
            run.log_metric("loss", float(step), step=step)
            step += 1

    log(2000)
    run.flush()
    live.stop()
    log(4000)  # buffered while the flusher finds the server gone and keeps trying
    time.sleep(0.5)
    assert len(stored_steps(team, run.id)) == 2000
    live.start()
    log(6000)
    run.end()
    client.close()
    assert stored_steps(team, run.id) == list(range(6000))
    assert RunRepository(team.workspace.db).get(run.id).status == "finished"


EXITS = """
import sys
import modelward as mw

run = mw.start_run(experiment="exits")
print(run.id, flush=True)
for step in range(3000):
    run.log_metric("loss", float(step), step=step)
# no end(): the interpreter's exit ends the run
"""

INTERRUPTED = """
import modelward as mw

logged = 0
try:
    with mw.start_run(experiment="interrupted") as run:
        print(run.id, flush=True)
        while True:
            run.log_metric("loss", float(logged), step=logged)
            logged += 1
            if logged == 2000:
                print("ready", flush=True)
finally:
    print(logged, flush=True)
"""


@pytest.mark.timeout(120)
def test_exit_and_ctrl_c_of_a_client_process_send_everything(
    team: TeamServer, live: LiveServer, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "MODELWARD_HOME": str(tmp_path / "client"),
        "MODELWARD_URI": live.url,
        "MODELWARD_TOKEN": team.secrets[WRITER],
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    exits = subprocess.run(
        [sys.executable, "-c", EXITS], capture_output=True, text=True, env=env, timeout=60
    )
    assert exits.returncode == 0, exits.stderr
    run_id = exits.stdout.strip()
    assert stored_steps(team, run_id) == list(range(3000))
    assert RunRepository(team.workspace.db).get(run_id).status == "finished"

    proc = subprocess.Popen(
        [sys.executable, "-c", INTERRUPTED],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    run_id = proc.stdout.readline().strip()
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert "KeyboardInterrupt" in err
    logged = int(out.strip().splitlines()[-1])
    run = RunRepository(team.workspace.db).get(run_id)
    assert run.status == "failed" and "KeyboardInterrupt" in (run.error or "")
    steps = stored_steps(team, run_id)
    assert len(steps) in (logged, logged + 1)  # the interrupt may land after the call
    assert steps == list(range(len(steps)))
