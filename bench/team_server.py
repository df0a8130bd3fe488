"""Team server start-up: ``mw server`` (1 and 2 workers) against ``mlflow server``.

Run from the repository root::

    python bench/team_server.py                  # 3 rounds, about 3 minutes
    python bench/team_server.py --rounds 1 --skip-mlflow   # quick run, seconds

Servers, one at a time on 127.0.0.1, each started twice per round: on an empty
store (the first start: schema, and for ``mw server`` the first admin token) and
again on the store that start left (a restart):

- ``mw server`` and ``mw server --workers 2`` on SQLite (a fresh ``MODELWARD_HOME``);
- ``mlflow server`` (mlflow 3.17.2 in ``bench/.venv-mlflow``, installed on first use)
  with its defaults but a SQLite backend store and a local artifact directory, the
  set-up closest to modelward's.

Ready means both: the first 200 from ``GET /health`` and the first 200 from an
authenticated API read (modelward: ``GET /api/v1/whoami`` with the token the first
start printed; MLflow, which has no auth by default: ``GET
/api/2.0/mlflow/experiments/search?max_results=1``), timed from the process start.
Also the CPU time the whole process tree used until ready (what a busy machine cannot
inflate). Then, once the tree is idle: its process count and total RSS; then SIGTERM to
the server's own PID: seconds until it exited, and its exit status. Each cell keeps
the best of ``--rounds`` (medians are printed too).

Target: ``mw server`` ready in under 2 s, with 1 and with 2 workers, on a restart
and on a first start. Exit status 0 only if the targets are met and no step failed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    DATA_DIR,
    BenchError,
    ensure_venv,
    log,
    machine_line,
    mw_command,
    mw_env,
    now_utc,
    table,
    venv_version,
)

MLFLOW_REQ = "mlflow==3.17.2"
TARGET_READY_S = 2.0
TOKEN = re.compile(r"mw_[A-Za-z0-9_-]{43}")
SERVERS = ("mw server", "mw server --workers 2", "mlflow server")


@dataclass
class Start:
    """One start of one server."""

    ready_s: float
    cpu_s: float  # CPU time of the whole process tree until ready
    processes: int
    rss_mb: float
    stop_s: float
    exit_code: int


@dataclass
class Cell:
    """Every start of one server in one mode (first start or restart)."""

    starts: list[Start] = field(default_factory=list)

    def best(self, name: str) -> float:
        return min(getattr(s, name) for s in self.starts)

    def median(self, name: str) -> float:
        return float(statistics.median(getattr(s, name) for s in self.starts))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str, token: str | None = None) -> int:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return 0


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _tree_cpu(pid: int) -> float:
    total = 0.0
    for process in _tree(pid):
        with contextlib.suppress(psutil.NoSuchProcess):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def _wait_idle(pid: int, timeout: float, window: float = 0.5, busy: float = 0.1) -> None:
    """Until the process tree uses less than `busy` of a core (its workers loaded)."""
    deadline = time.monotonic() + timeout
    cpu = _tree_cpu(pid)
    while time.monotonic() < deadline:
        time.sleep(window)
        now = _tree_cpu(pid)
        if now - cpu < busy * window:
            return
        cpu = now
    raise BenchError(f"still busy after {timeout:.0f} s")


def _run_one(
    cmd: list[str],
    env: dict[str, str],
    port: int,
    api_path: str,
    token: str | None,
    log_path: Path,
    timeout: float,
) -> tuple[Start, str]:
    """Start `cmd`, time it to ready, measure it idle, SIGTERM it; and its output."""
    base = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(
            cmd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = started + timeout
            healthy = False
            while True:
                if time.perf_counter() > deadline:
                    raise BenchError(f"not ready after {timeout:.0f} s: {' '.join(cmd)}")
                if proc.poll() is not None:
                    raise BenchError(f"exited {proc.returncode}: {log_path.read_text()[-800:]}")
                if token is None and "mw" in cmd[0] + " ".join(cmd[:3]):
                    found = TOKEN.search(log_path.read_text(errors="replace"))
                    token = found.group(0) if found else None
                healthy = healthy or _get(f"{base}/health") == 200
                if healthy and _get(base + api_path, token) == 200:
                    ready = time.perf_counter() - started
                    cpu = _tree_cpu(proc.pid)
                    break
                time.sleep(0.01)
            _wait_idle(proc.pid, timeout)
            tree = _tree(proc.pid)
            rss = sum(p.memory_info().rss for p in tree if p.is_running()) / 2**20
            stopping = time.perf_counter()
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=60)
            stop_s = time.perf_counter() - stopping
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # whatever outlived the stop
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
    return Start(ready, cpu, len(tree), rss, stop_s, code), log_path.read_text(errors="replace")


def _mw(
    workers: int, home: Path, token: str | None, tmp: Path, timeout: float
) -> tuple[Start, str]:
    port = _free_port()
    env = {**mw_env(), "MODELWARD_HOME": str(home)}
    for name in ("MODELWARD_DB", "MODELWARD_ARTIFACTS", "MODELWARD_URI", "MODELWARD_TOKEN"):
        env.pop(name, None)
    cmd = [*mw_command(), "server", "--port", str(port), "--workers", str(workers)]
    start, output = _run_one(
        cmd, env, port, "/api/v1/whoami", token, tmp / f"mw-{workers}.log", timeout
    )
    if start.exit_code != 0:
        raise BenchError(f"mw server exited {start.exit_code} after SIGTERM:\n{output[-800:]}")
    return start, output


def _mlflow(bin_dir: Path, store: Path, tmp: Path, timeout: float) -> Start:
    port = _free_port()
    store.mkdir(parents=True, exist_ok=True)
    cmd = [
        str(bin_dir / "mlflow"),
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backend-store-uri",
        f"sqlite:///{store / 'mlflow.db'}",
        "--artifacts-destination",
        str(store / "artifacts"),
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PYTHONPATH"))}
    api = "/api/2.0/mlflow/experiments/search?max_results=1"
    return _run_one(cmd, env, port, api, None, tmp / "mlflow.log", timeout)[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="starts per server and mode")
    parser.add_argument("--timeout", type=float, default=300, help="seconds for one start")
    parser.add_argument("--skip-mlflow", action="store_true", help="modelward only")
    args = parser.parse_args(argv)

    log(machine_line())
    mlflow_bin = None if args.skip_mlflow else ensure_venv("mlflow", [MLFLOW_REQ])
    cells: dict[tuple[str, str], Cell] = {}
    failed: list[str] = []
    root = DATA_DIR / "tmp"
    root.mkdir(parents=True, exist_ok=True)
    for round_number in range(1, args.rounds + 1):
        for server in SERVERS:
            if server.startswith("mlflow") and mlflow_bin is None:
                continue
            tmp = Path(tempfile.mkdtemp(prefix="team-server-", dir=root))
            try:
                if server.startswith("mlflow"):
                    assert mlflow_bin is not None
                    first = _mlflow(mlflow_bin, tmp / "store", tmp, args.timeout)
                    again = _mlflow(mlflow_bin, tmp / "store", tmp, args.timeout)
                else:
                    workers = 2 if "--workers 2" in server else 1
                    first, output = _mw(workers, tmp / "home", None, tmp, args.timeout)
                    printed = sorted(set(TOKEN.findall(output)))
                    if len(printed) != 1:
                        raise BenchError(f"first start printed {len(printed)} tokens")
                    again, output = _mw(workers, tmp / "home", printed[0], tmp, args.timeout)
                    if TOKEN.search(output):
                        raise BenchError("a restart printed a token")
                for mode, start in (("first start", first), ("restart", again)):
                    cells.setdefault((server, mode), Cell()).starts.append(start)
                    log(
                        f"round {round_number}: {server}, {mode}: ready {start.ready_s:.2f} s "
                        f"({start.cpu_s:.2f} CPU s), "
                        f"{start.processes} processes, {start.rss_mb:.0f} MB, "
                        f"stopped in {start.stop_s:.2f} s (exit {start.exit_code})"
                    )
            except BenchError as exc:
                failed.append(f"{server}: {exc}")
                log(f"round {round_number}: {server} FAILED: {exc}")
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    return report(cells, failed, mlflow_bin, args.rounds)


def report(
    cells: dict[tuple[str, str], Cell], failed: list[str], mlflow_bin: Path | None, rounds: int
) -> int:
    """Print the table and return the exit status."""
    versions = f"mlflow {venv_version(mlflow_bin, 'mlflow')}" if mlflow_bin else "no mlflow"
    print(f"\n{now_utc()}; {machine_line()}; {versions}; best of {rounds} (median)\n")
    rows, passed = [], not failed
    for (server, mode), cell in cells.items():
        ready = cell.best("ready_s")
        if server.startswith("mw"):
            passed = passed and ready < TARGET_READY_S
        rows.append(
            [
                f"`{server}`",
                mode,
                f"{ready:.2f} s ({cell.median('ready_s'):.2f})",
                f"{cell.best('cpu_s'):.2f} s",
                str(max(s.processes for s in cell.starts)),
                f"{cell.best('rss_mb'):.0f} MB",
                f"{cell.best('stop_s'):.2f} s, exit {max(s.exit_code for s in cell.starts)}",
            ]
        )
    header = ["server", "store", "ready", "CPU to ready", "processes", "RSS", "SIGTERM to exit"]
    print(table(rows, header))
    mlflow = [c for (s, m), c in cells.items() if s.startswith("mlflow") and m == "restart"]
    mine = [c for (s, m), c in cells.items() if s == "mw server --workers 2" and m == "restart"]
    if mlflow and mine:
        ratio = mlflow[0].best("ready_s") / mine[0].best("ready_s")
        print(f"\nmlflow server / mw server --workers 2, restart: {ratio:.1f}x")
    print(f"\ntarget: mw server ready < {TARGET_READY_S:.0f} s: {'met' if passed else 'NOT met'}")
    for failure in failed:
        print(f"failed: {failure}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
