"""A real `mw server` process on 127.0.0.1, for the few end-to-end tests.

with TeamProcess.start(home, workers=2) as server:   # ready: /health answers 200
    server.url, server.first_token, server.workers()
# stopped by its PID (SIGTERM, then SIGKILL if it hangs) whatever happened
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx
import psutil

TOKEN = re.compile(r"mw_[A-Za-z0-9_-]{43}")
ADDRESS = re.compile(r" on (http://127\.0\.0\.1:\d+) with ")


@dataclass
class TeamProcess:
    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    url: str = ""
    started_at: float = 0.0
    ready_after: float = 0.0

    @classmethod
    def start(cls, home: Path, *args: str, workers: int = 1, timeout: float = 60) -> TeamProcess:
        """`mw server --port 0` over `home`, once /health answers 200."""
        started_at = time.perf_counter()
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "modelward",
                "server",
                "--port=0",
                f"--workers={workers}",
                *args,
            ],
            env={**_client_free_environment(), "MODELWARD_HOME": str(home)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        server = cls(process, started_at=started_at)
        threading.Thread(target=server._read, daemon=True).start()
        deadline = started_at + timeout
        try:
            while time.perf_counter() < deadline:
                if process.poll() is not None:
                    time.sleep(0.2)  # the reader thread collects the last lines
                    raise AssertionError(f"mw server exited {process.returncode}: {server.log}")
                found = ADDRESS.search(server.log)
                if found and _healthy(found.group(1)):
                    server.url = found.group(1)
                    server.ready_after = time.perf_counter() - started_at
                    return server
                time.sleep(0.02)
            raise AssertionError(f"mw server was not ready in {timeout} s: {server.log}")
        except BaseException:
            server.kill()
            raise

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)

    @property
    def log(self) -> str:
        """What the server wrote to stderr so far."""
        return "".join(self.lines)

    @property
    def tokens_printed(self) -> list[str]:
        """Every distinct token secret the server printed."""
        return sorted(set(TOKEN.findall(self.log)))

    def workers(self) -> list[psutil.Process]:
        """The worker processes (none when one process serves)."""
        children: list[psutil.Process] = psutil.Process(self.process.pid).children(recursive=True)
        return children

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Send `sig` to the server process and return its exit code."""
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"mw server did not stop within {timeout} s") from None

    def kill(self) -> None:
        """SIGKILL the server and its workers, by PID."""
        if self.process.poll() is not None:
            return
        for child in self.workers():
            child.kill()
        self.process.kill()
        self.process.wait(10)

    def __enter__(self) -> TeamProcess:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self.kill()


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _client_free_environment() -> dict[str, str]:
    """This environment without another store's or server's settings."""
    drop = {"MODELWARD_DB", "MODELWARD_ARTIFACTS", "MODELWARD_URI", "MODELWARD_TOKEN"}
    return {name: value for name, value in os.environ.items() if name not in drop}
