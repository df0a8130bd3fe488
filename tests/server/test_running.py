"""`mw server` as a process: start-up, the first admin token, workers, graceful stop.

Most of it in-process; the few true end-to-end tests start `mw server` on
127.0.0.1 and stop it by its PID.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest
import sqlalchemy as sa

from modelward.server.running import ensure_first_token
from modelward.server.tokens import TokenRepository
from modelward.store.database import Database
from modelward.store.tables import api_tokens
from modelward.store.workspace import Workspace
from tests.helpers import mw_in_process
from tests.server.processes import TeamProcess

HEAVY = ("pandas", "numpy", "sklearn", "scipy", "pyarrow", "matplotlib")


def _whoami(url: str, secret: str) -> httpx.Response:
    return httpx.get(f"{url}/api/v1/whoami", headers={"Authorization": f"Bearer {secret}"})


def test_the_server_start_path_imports_no_data_library(tmp_path: Path) -> None:
    # what `mw server` imports before it answers: the command, the store, the app, uvicorn
    code = (
        "import sys\n"
        "from modelward.cli.main import cli\n"
        "cli.get_command(None, 'server'); cli.get_command(None, 'token')\n"
        "from modelward.server import running\n"
        "from modelward.serving import processes\n"
        "running.ensure_first_token(running.server_workspace())\n"
        "app = running.app_from_env()\n"
        "processes.preload()\n"
        "from starlette.testclient import TestClient\n"
        "assert TestClient(app).get('/health').status_code == 200\n"
        f"print('loaded:' + ','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "", "MODELWARD_HOME": str(tmp_path / "home"), **_python_path()},
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "loaded:"


def _python_path() -> dict[str, str]:
    import os

    return {"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}


def test_servers_starting_together_on_an_empty_store_make_one_admin_token(
    workspace: Workspace,
) -> None:
    # several `mw server` processes (replicas) on one store, each with its own connections
    starters = 6
    barrier = threading.Barrier(starters)
    made: list[object] = []
    failed: list[BaseException] = []

    def start() -> None:
        own = Workspace(
            settings=workspace.settings,
            artifacts=workspace.artifacts,
            database=Database(workspace.settings.db_url),
        )
        try:
            barrier.wait(10)
            made.append(ensure_first_token(own))
        except BaseException as exc:
            failed.append(exc)
        finally:
            own.db.dispose()

    threads = [threading.Thread(target=start) for _ in range(starters)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failed == []
    first = [token for token in made if token is not None]
    assert len(first) == 1 and len(made) == starters
    with workspace.db.read() as conn:
        rows = conn.execute(sa.select(api_tokens.c.name, api_tokens.c.role)).all()
    assert [tuple(row) for row in rows] == [("admin", "admin")]
    assert ensure_first_token(workspace) is None  # and never again


def test_no_first_token_when_the_store_already_has_one(workspace: Workspace) -> None:
    tokens = TokenRepository(workspace.db)
    tokens.create("ci", "reader")
    tokens.revoke("ci")  # a revoked token still means the store was set up
    assert ensure_first_token(workspace) is None
    assert [t.name for t in tokens.list()] == ["ci"]


def test_a_port_in_use_exits_2_with_one_line_and_writes_nothing(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = mw_in_process("server", "--port", str(port), home=tmp_path / "home")
    assert result.code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"port {port}" in lines[0] and "already in use" in lines[0]
    assert not (tmp_path / "home").exists()


def test_a_bad_host_exits_2_with_one_line(tmp_path: Path) -> None:
    result = mw_in_process("server", "--host", "no such host", home=tmp_path / "home")
    assert result.code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "cannot listen on no such host" in result.stderr


def _slow_post(url: str, secret: str, sent_headers: threading.Event, go_on: threading.Event) -> str:
    """POST /api/v1/tokens whose body is held back until `go_on`; the status line."""
    host, port = url.removeprefix("http://").split(":")
    body = b'{"name": "late", "role": "reader"}'
    with socket.create_connection((host, int(port)), timeout=30) as conn:
        conn.sendall(
            b"POST /api/v1/tokens HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {secret}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body[:10]
        )
        sent_headers.set()
        go_on.wait(30)
        conn.sendall(body[10:])
        return conn.recv(65536).split(b"\r\n", 1)[0].decode()


def _in_flight_survives(server: TeamProcess, secret: str, sig: int) -> tuple[int, str]:
    """Stop the server with `sig` while a request is half sent; its exit code and answer."""
    sent_headers, go_on = threading.Event(), threading.Event()
    answers: list[str] = []
    client = threading.Thread(
        target=lambda: answers.append(_slow_post(server.url, secret, sent_headers, go_on))
    )
    client.start()
    assert sent_headers.wait(10)
    time.sleep(1.0)  # the server has read the request line and headers
    server.process.send_signal(sig)
    time.sleep(0.5)  # the stop has begun: the listening socket is closing
    go_on.set()
    client.join(30)
    return server.process.wait(30), answers[0] if answers else ""


def test_two_workers_serve_print_one_token_and_stop_gracefully(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with TeamProcess.start(home, workers=2) as server:
        # the first admin token, printed once by the supervisor, never by a worker
        assert len(server.tokens_printed) == 1, server.log
        secret = server.tokens_printed[0]
        assert server.log.count(secret) == 2  # the token line and the export line
        assert _whoami(server.url, secret).json() == {"name": "admin", "role": "admin"}

        workers = server.workers()
        assert len(workers) == 2  # no other helper process (uvicorn's spawn adds one)
        for serving in workers:  # each worker answers alone
            others = [w for w in workers if w.pid != serving.pid]
            for other in others:
                other.suspend()
            try:
                assert _whoami(server.url, secret).status_code == 200
            finally:
                for other in others:
                    other.resume()

        workers[0].kill()  # a worker that dies is replaced
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            now = {w.pid for w in server.workers() if w.status() != psutil.STATUS_ZOMBIE}
            if len(now) == 2 and workers[0].pid not in now:
                break
            time.sleep(0.1)
        replaced = server.workers()
        assert len(replaced) == 2 and workers[0].pid not in {w.pid for w in replaced}
        assert _whoami(server.url, secret).status_code == 200

        code, answer = _in_flight_survives(server, secret, signal.SIGTERM)
        assert answer == "HTTP/1.1 201 Created", server.log
        assert code == 0, server.log
        assert not any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in replaced)
        assert "Traceback" not in server.log

    # the token made during the stop is there, and a second start prints no token
    with TeamProcess.start(home, workers=2) as again:
        assert again.tokens_printed == [], again.log
        names = httpx.get(
            f"{again.url}/api/v1/tokens", headers={"Authorization": f"Bearer {secret}"}
        ).json()["tokens"]
        assert [t["name"] for t in names] == ["admin", "late"]
        assert again.stop(signal.SIGINT) == 0


def test_one_process_stops_gracefully_on_sigterm(tmp_path: Path) -> None:
    with TeamProcess.start(tmp_path / "home") as server:
        assert server.workers() == []
        code, answer = _in_flight_survives(server, server.tokens_printed[0], signal.SIGTERM)
        assert (code, answer) == (0, "HTTP/1.1 201 Created"), server.log
        assert "Traceback" not in server.log


@pytest.mark.parametrize("workers", ["0", "65", "two"])
def test_bad_worker_counts_exit_2(tmp_path: Path, workers: str) -> None:
    result = mw_in_process("server", "--workers", workers, home=tmp_path / "home")
    assert result.code == 2
    assert "--workers" in result.stderr
