"""The demo's last word: a team server over the demo's home, left running for the dashboard.

The server runs detached on 127.0.0.1 after `mw demo` returns, so the new user can look at
what the demo did. It signs in with a token of its own (`demo-...`, admin, 12 hours) that
the user never has to see: what is printed is a one-time sign-in link. A later demo stops
the previous demo's server by the PID it wrote down (and revokes its token) before it
starts its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelward.errors import ModelwardError, NotFound
from modelward.store.workspace import Workspace

if TYPE_CHECKING:
    from modelward.server.tokens import TokenRepository

TOKEN_HOURS = 12
STATE_FILE = "demo-dashboard.json"


@dataclass(frozen=True)
class Dashboard:
    """The running demo server: where to look, how to sign in once, how to stop it."""

    url: str
    login_url: str
    login_minutes: int
    pid: int
    log: Path

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data (the `dashboard` of `mw demo --json`)."""
        return {
            "url": self.url,
            "login_url": self.login_url,
            "login_minutes": self.login_minutes,
            "pid": self.pid,
            "log": str(self.log),
        }


def start_dashboard(workspace: Workspace, demo_dir: Path, *, timeout: float = 60.0) -> Dashboard:
    """Start `mw server` over the demo's home, detached; returns once it answers."""
    from modelward.server.dashboard.sessions import LOGIN_CODE_MINUTES, SessionRepository
    from modelward.server.tokens import TokenRepository

    home = workspace.settings.home
    stop_previous(workspace)
    tokens = TokenRepository(workspace.db)
    token_name = "demo-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S-%f")
    # made before the server starts, so its first start prints no admin token into the log
    tokens.create(token_name, "admin", expires=f"{TOKEN_HOURS}h")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = demo_dir / "dashboard-server.log"
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("MODELWARD_URI", "MODELWARD_TOKEN")
    }
    env["MODELWARD_HOME"] = str(home)
    descriptor = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as output:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "modelward",
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=output,
            start_new_session=True,  # outlives the demo, and its Ctrl-C
        )
    _write_state(home, server.pid, token_name)
    try:
        _wait_healthy(server, url, log, timeout)
    except BaseException:
        _stop(server.pid, _create_time(server.pid))
        _revoke(tokens, token_name)
        (home / STATE_FILE).unlink(missing_ok=True)
        raise
    code = SessionRepository(workspace.db, tokens).issue_login_code(token_name)
    return Dashboard(
        url=f"{url}/",
        login_url=f"{url}/login/once/{code}",
        login_minutes=LOGIN_CODE_MINUTES,
        pid=server.pid,
        log=log,
    )


def stop_previous(workspace: Workspace) -> bool:
    """Stop the server an earlier demo left on this home, by its PID; True if one ran."""
    from modelward.server.tokens import TokenRepository

    state_path = workspace.settings.home / STATE_FILE
    try:
        state = json.loads(state_path.read_text(encoding="utf-8"))
        pid, started, token_name = int(state["pid"]), float(state["started"]), str(state["token"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    stopped = _stop(pid, started)
    _revoke(TokenRepository(workspace.db), token_name)
    state_path.unlink(missing_ok=True)
    return stopped


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _create_time(pid: int) -> float:
    import psutil

    try:
        return float(psutil.Process(pid).create_time())
    except psutil.Error:
        return 0.0


def _write_state(home: Path, pid: int, token_name: str) -> None:
    state = {"pid": pid, "started": _create_time(pid), "token": token_name}
    (home / STATE_FILE).write_text(json.dumps(state), encoding="utf-8")


def _stop(pid: int, started: float) -> bool:
    """SIGTERM the process `pid` if it is still the one started at `started` (not a reused PID)."""
    import psutil

    try:
        process = psutil.Process(pid)
        if started and abs(process.create_time() - started) > 0.01:
            return False
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    except psutil.TimeoutExpired:
        process.kill()
    except psutil.Error:
        return False
    return True


def _revoke(tokens: TokenRepository, name: str) -> None:
    with contextlib.suppress(NotFound):
        tokens.revoke(name)


def _wait_healthy(server: subprocess.Popen[bytes], url: str, log: Path, timeout: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            said = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
            raise ModelwardError(
                f"the dashboard server stopped: {said[-1] if said else 'no output'}"
            )
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise ModelwardError(f"the dashboard server did not answer within {timeout:.0f} s (see {log})")
