"""The unmodified MLflow client against `mw server` and against `mlflow server`, in one run.

Run from the repository root::

    python bench/mlflow_compat.py                 # 3 rounds x 300 calls; ~5 min here
    python bench/mlflow_compat.py --calls 1000    # more calls per run
    python bench/mlflow_compat.py --skip-mlflow   # mw server and the floor only

Three servers run on 127.0.0.1 on this machine, each its own process, and are
driven by the same client: ``bench/_mlflow_compat_client.py`` run by
``bench/.venv-mlflow/bin/python`` (``mlflow==3.17.2``, installed on first run), which
does what a training script does: one run, ``mlflow.log_metric("loss", v, step=i)``
``--calls`` times (synchronous: one HTTP request per call, MLflow's default),
``mlflow.end_run()``. Throughput = calls / time from the first call to the end of the
run; starting the run is reported apart.

- ``mw server`` (this tree, one worker, as ``mw server`` starts it) over a fresh
  SQLite home, with the admin token it prints on its first start as
  ``MLFLOW_TRACKING_TOKEN``;
- ``mlflow server --backend-store-uri sqlite:///... --artifacts-destination ...`` with
  MLflow's defaults otherwise (no auth);
- the floor, ``bench/_mlflow_compat_floor.py``: a bare ASGI app on uvicorn that
  answers with fixed messages and stores nothing, the client's own cost per call
  plus loopback HTTP. No server can make this client faster; floor / MLflow is the
  highest ratio any server could show on this machine at that moment.

All servers start first; then ``--rounds`` rounds alternate between them (one run
per server per round), so that a change of the machine's load falls on all of them
alike, and each server's figure is the median of its rounds.

Nothing lost: after each run the client reads the series back
(``get_metric_history``) and compares every (step, value); the script then counts
the run's points with SQL in the server's own database (modelward's
``run_metrics``, MLflow's ``metrics``) and compares their sum with the values
logged. Target: ``mw server`` >= 20x MLflow's calls/s.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    BENCH_DIR,
    DATA_DIR,
    BenchError,
    ensure_venv,
    last_json_line,
    log,
    machine_line,
    measure,
    modelward_version,
    mw_command,
    mw_env,
    now_utc,
    table,
    venv_version,
)

MLFLOW_REQ = "mlflow==3.17.2"
TARGET = 20.0
FLOOR = "floor (stores nothing)"
CLIENT = BENCH_DIR / "_mlflow_compat_client.py"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float) -> float:
    """Seconds until GET `url` answers 200 (BenchError if the process dies or time runs out)."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if process.poll() is not None:
            raise BenchError(f"the server exited with {process.returncode} before it was ready")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return time.perf_counter() - started
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise BenchError(f"{url} was not ready after {timeout:.0f} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _drive(
    python: Path, url: str, token: str | None, calls: int, timeout: float, *extra: str
) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PYTHONPATH"))}
    env.update({"MLFLOW_TRACKING_URI": url, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"})
    if token:
        env["MLFLOW_TRACKING_TOKEN"] = token
    with tempfile.TemporaryDirectory() as cwd:
        done = measure(
            [str(python), str(CLIENT), "--calls", str(calls), *extra],
            cwd=Path(cwd),
            env=env,
            timeout=timeout,
        ).check()
    return last_json_line(done.stdout)


def _stored(db: Path, sql: str, run_id: str) -> tuple[int, float, int]:
    with sqlite3.connect(db) as conn:
        count, total, steps = conn.execute(sql, (run_id,)).fetchone()
    return int(count), float(total or 0.0), int(steps)


@dataclass
class Server:
    """A server under test, started once: where it listens, its token, its database."""

    name: str
    process: subprocess.Popen[bytes]
    url: str
    ready_s: float
    token: str | None = None
    db: Path | None = None
    count_sql: str = ""
    client_args: tuple[str, ...] = ()
    results: list[dict[str, Any]] = field(default_factory=list)

    def drive(self, python: Path, calls: int, timeout: float) -> None:
        """One run of the client; its points counted in the server's own database."""
        result = _drive(python, self.url, self.token, calls, timeout, *self.client_args)
        if self.db is not None:
            count, total, steps = _stored(self.db, self.count_sql, result["run_id"])
            result.update(stored=count, stored_sum=total, steps=steps)
        self.results.append(result)


def _spawn(command: list[str], log_file: Path, **options: Any) -> subprocess.Popen[bytes]:
    with open(log_file, "wb") as err:
        return subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True, **options
        )


def start_mw(work: Path) -> Server:
    """`mw server` (this tree, one worker) on a fresh home; the client uses its first token."""
    home = work / "mw-home"
    port = _free_port()
    errors = work / "mw-server.err"
    env = mw_env({**os.environ, "MODELWARD_HOME": str(home)})
    for name in ("MODELWARD_DB", "MODELWARD_ARTIFACTS", "MODELWARD_URI", "MODELWARD_TOKEN"):
        env.pop(name, None)
    command = [*mw_command(), "server", "--host", "127.0.0.1", "--port", str(port)]
    process = _spawn(command, errors, env=env)
    ready = _wait_ready(f"http://127.0.0.1:{port}/health", process, 60)
    lines = errors.read_text().splitlines()
    token = next(line.strip() for line in lines if line.strip().startswith("mw_"))
    return Server(
        "mw server",
        process,
        f"http://127.0.0.1:{port}",
        ready,
        token=token,
        db=home / "modelward.db",
        count_sql="SELECT count(*), sum(value), count(DISTINCT step) FROM run_metrics "
        "WHERE run_id = ? AND key = 'loss'",
    )


def start_floor(work: Path) -> Server:
    """A bare ASGI app on uvicorn that answers the client and stores nothing."""
    port = _free_port()
    command = [
        sys.executable, "-m", "uvicorn", "--app-dir", str(BENCH_DIR), "--host", "127.0.0.1",
        "--port", str(port), "--log-level", "warning", "--no-access-log",
        "_mlflow_compat_floor:app",
    ]  # fmt: skip
    process = _spawn(command, work / "floor.err")
    ready = _wait_ready(f"http://127.0.0.1:{port}/health", process, 60)
    return Server(
        FLOOR, process, f"http://127.0.0.1:{port}", ready, client_args=("--no-read-back",)
    )


def start_mlflow(work: Path, bin_dir: Path) -> Server:
    """`mlflow server` over SQLite, MLflow's defaults otherwise (no auth)."""
    db = work / "mlflow.db"
    port = _free_port()
    command = [
        str(bin_dir / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
        "--backend-store-uri", f"sqlite:///{db}",
        "--artifacts-destination", str(work / "mlflow-artifacts"),
    ]  # fmt: skip
    process = _spawn(command, work / "mlflow-server.err", cwd=work)
    ready = _wait_ready(f"http://127.0.0.1:{port}/health", process, 180)
    return Server(
        "mlflow server",
        process,
        f"http://127.0.0.1:{port}",
        ready,
        db=db,
        count_sql="SELECT count(*), sum(value), count(DISTINCT step) FROM metrics "
        "WHERE run_uuid = ? AND key = 'loss'",
    )


def _complete(result: dict[str, Any], calls: int) -> bool:
    expected = sum(1.0 / (step + 1) for step in range(calls))
    return bool(
        result["all_points_match"]
        and result["read_back"] == calls
        and result["stored"] == calls
        and result["steps"] == calls
        and math.isclose(result["stored_sum"], expected, rel_tol=1e-12)
    )


def _load() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


def _rate(server: Server) -> float:
    return float(statistics.median(r["calls_per_s"] for r in server.results))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300, help="log_metric calls per run")
    parser.add_argument("--rounds", type=int, default=3, help="runs per server, interleaved")
    parser.add_argument("--skip-mlflow", action="store_true")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per client run")
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    args = parser.parse_args()

    machine = machine_line()
    log(machine)
    bin_dir = ensure_venv("mlflow", [MLFLOW_REQ])
    python = bin_dir / "python"
    tmp_root = DATA_DIR / "tmp"
    tmp_root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="mlflow-compat-", dir=tmp_root))
    servers: list[Server] = []
    failures: list[str] = []
    try:
        starters: list[Callable[[], Server]] = [lambda: start_mw(work), lambda: start_floor(work)]
        if not args.skip_mlflow:
            starters.append(lambda: start_mlflow(work, bin_dir))
        for start in starters:
            servers.append(start())
            log(f"{servers[-1].name} ready in {servers[-1].ready_s:.1f} s")
        # rounds alternate between the servers, so that a change in the machine's load
        # falls on all of them alike; each server's figure is its median round
        for round_index in range(args.rounds):
            for server in servers:
                log(f"round {round_index + 1}/{args.rounds}: {server.name}, {args.calls} calls")
                try:
                    server.drive(python, args.calls, args.timeout)
                except BenchError as exc:
                    failures.append(f"{server.name}: {exc}")
    except BenchError as exc:
        failures.append(str(exc))
    finally:
        for server in servers:
            _stop(server.process)
        shutil.rmtree(work, ignore_errors=True)

    rows = []
    for server in servers:
        if not server.results:
            continue
        if server.db is None:
            stored = "n/a"
        else:
            complete = all(_complete(r, args.calls) for r in server.results)
            total = sum(r["stored"] for r in server.results)
            stored = (
                f"{total} / {args.calls * len(server.results)} {'ok' if complete else 'MISMATCH'}"
            )
        rate = _rate(server)
        rows.append(
            [
                server.name,
                f"{server.ready_s:.1f} s",
                f"{statistics.median(r['start_run_s'] for r in server.results) * 1000:.0f} ms",
                f"{len(server.results)} x {args.calls}",
                ", ".join(f"{r['calls_per_s']:,.0f}" for r in server.results),
                f"{rate:,.0f}",
                f"{1000 / rate:.2f} ms",
                stored,
            ]
        )
    print(f"\nmlflow client {venv_version(bin_dir, 'mlflow')} per-call log_metric, {now_utc()}")
    print(f"modelward {modelward_version()}; {machine}; load average at the end {_load()}\n")
    header = [
        "server", "ready", "start_run", "runs x calls", "calls/s per run", "median calls/s",
        "per call", "points stored",
    ]  # fmt: skip
    print(table(rows, header))
    by_name = {server.name: server for server in servers if server.results}
    ok = not failures and all(
        _complete(r, args.calls) for s in by_name.values() if s.db is not None for r in s.results
    )
    mw, floor, mlflow = (by_name.get(n) for n in ("mw server", FLOOR, "mlflow server"))
    if mw and mlflow:
        ratio = _rate(mw) / _rate(mlflow)
        verdict = "met" if ratio >= TARGET else "MISSED"
        print(
            f"\nmw server / mlflow server: {ratio:.1f}x calls/s "
            f"(target >= {TARGET:.0f}x: {verdict})"
        )
        ok = ok and ratio >= TARGET
    if mw and floor:
        share = _rate(mw) / _rate(floor)
        print(
            f"mw server / floor: {share:.0%} of the calls/s no server can exceed with this client"
        )
    if floor and mlflow:
        print(
            f"floor / mlflow server: {_rate(floor) / _rate(mlflow):.1f}x (the most any server gets)"
        )
    for failure in failures:
        print(f"FAILED {failure}")
    if args.json:
        print(json.dumps({s.name: s.results for s in servers}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
