"""The unmodified MLflow client against `mw server` and against `mlflow server`, in one run.

Run from the repository root::

    python bench/mlflow_compat.py                 # 300 calls each; ~1 min after the install
    python bench/mlflow_compat.py --calls 1000    # more calls
    python bench/mlflow_compat.py --skip-mlflow   # only mw server

Both servers run on 127.0.0.1 on this machine, each as its own process over a fresh
SQLite store, and are driven by the same client: ``bench/_mlflow_compat_client.py``
run by ``bench/.venv-mlflow/bin/python`` (``mlflow==3.17.2``, installed on first run),
which does what a training script does: one run, ``mlflow.log_metric("loss", v,
step=i)`` ``--calls`` times (synchronous: one HTTP request per call, MLflow's
default), ``mlflow.end_run()``. Throughput = calls / time from the first call to the
end of the run; starting the run is reported apart.

- ``mw server`` (this tree, one worker, as ``mw server`` starts it) with the admin
  token it prints on its first start as ``MLFLOW_TRACKING_TOKEN``;
- ``mlflow server --backend-store-uri sqlite:///... --artifacts-destination ...`` with
  MLflow's defaults otherwise (no auth).

Nothing lost: the client reads the series back (``get_metric_history``) and compares
every (step, value); the script then counts the run's points with SQL in each
server's own database (modelward's ``run_metrics``, MLflow's ``metrics``) and compares
their sum with the values logged. Target: ``mw server`` >= 20x MLflow's calls/s.
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
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
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


def _drive(python: Path, url: str, token: str | None, calls: int, timeout: float) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PYTHONPATH"))}
    env.update({"MLFLOW_TRACKING_URI": url, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"})
    if token:
        env["MLFLOW_TRACKING_TOKEN"] = token
    with tempfile.TemporaryDirectory() as cwd:
        done = measure(
            [str(python), str(CLIENT), "--calls", str(calls)],
            cwd=Path(cwd),
            env=env,
            timeout=timeout,
        ).check()
    return last_json_line(done.stdout)


def _stored(db: Path, sql: str, run_id: str) -> tuple[int, float, int]:
    with sqlite3.connect(db) as conn:
        count, total, steps = conn.execute(sql, (run_id,)).fetchone()
    return int(count), float(total or 0.0), int(steps)


def run_mw(work: Path, python: Path, calls: int, timeout: float) -> dict[str, Any]:
    """`mw server` on a fresh home, driven by the MLflow client with its first admin token."""
    home = work / "mw-home"
    port = _free_port()
    errors = work / "mw-server.err"
    env = mw_env({**os.environ, "MODELWARD_HOME": str(home)})
    for name in ("MODELWARD_DB", "MODELWARD_ARTIFACTS", "MODELWARD_URI", "MODELWARD_TOKEN"):
        env.pop(name, None)
    with open(errors, "wb") as err:
        process = subprocess.Popen(
            [*mw_command(), "server", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )
    try:
        ready = _wait_ready(f"http://127.0.0.1:{port}/health", process, 60)
        lines = errors.read_text().splitlines()
        token = next(line.strip() for line in lines if line.strip().startswith("mw_"))
        result = _drive(python, f"http://127.0.0.1:{port}", token, calls, timeout)
    finally:
        _stop(process)
    count, total, steps = _stored(
        home / "modelward.db",
        "SELECT count(*), sum(value), count(DISTINCT step) FROM run_metrics "
        "WHERE run_id = ? AND key = 'loss'",
        result["run_id"],
    )
    return {**result, "ready_s": ready, "stored": count, "stored_sum": total, "steps": steps}


def run_mlflow(work: Path, bin_dir: Path, calls: int, timeout: float) -> dict[str, Any]:
    """`mlflow server` over SQLite, MLflow's defaults otherwise, driven by the same client."""
    db = work / "mlflow.db"
    port = _free_port()
    with open(work / "mlflow-server.err", "wb") as err:
        process = subprocess.Popen(
            [
                str(bin_dir / "mlflow"),
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--backend-store-uri",
                f"sqlite:///{db}",
                "--artifacts-destination",
                str(work / "mlflow-artifacts"),
            ],
            cwd=work,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )
    try:
        ready = _wait_ready(f"http://127.0.0.1:{port}/health", process, 180)
        result = _drive(bin_dir / "python", f"http://127.0.0.1:{port}", None, calls, timeout)
    finally:
        _stop(process)
    count, total, steps = _stored(
        db,
        "SELECT count(*), sum(value), count(DISTINCT step) FROM metrics "
        "WHERE run_uuid = ? AND key = 'loss'",
        result["run_id"],
    )
    return {**result, "ready_s": ready, "stored": count, "stored_sum": total, "steps": steps}


def _complete(result: dict[str, Any], calls: int) -> bool:
    expected = sum(1.0 / (step + 1) for step in range(calls))
    return bool(
        result["all_points_match"]
        and result["read_back"] == calls
        and result["stored"] == calls
        and result["steps"] == calls
        and math.isclose(result["stored_sum"], expected, rel_tol=1e-12)
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300, help="log_metric calls per server")
    parser.add_argument("--skip-mlflow", action="store_true")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per client run")
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    args = parser.parse_args()

    log(machine_line())
    bin_dir = ensure_venv("mlflow", [MLFLOW_REQ])
    tmp_root = DATA_DIR / "tmp"
    tmp_root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="mlflow-compat-", dir=tmp_root))
    results: dict[str, dict[str, Any]] = {}
    failures: list[str] = []
    try:
        steps: list[tuple[str, Callable[[], dict[str, Any]]]] = [
            ("mw server", lambda: run_mw(work, bin_dir / "python", args.calls, args.timeout))
        ]
        if not args.skip_mlflow:
            steps.append(
                ("mlflow server", lambda: run_mlflow(work, bin_dir, args.calls, args.timeout))
            )
        for name, step in steps:
            log(f"{name}: {args.calls} log_metric calls")
            try:
                results[name] = step()
            except BenchError as exc:
                failures.append(f"{name}: {exc}")
                log(f"{name} failed: {exc}")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    rows = []
    for name, result in results.items():
        rows.append(
            [
                name,
                f"{result['ready_s']:.1f} s",
                f"{result['start_run_s'] * 1000:.0f} ms",
                str(result["calls"]),
                f"{result['calls_per_s']:,.0f}",
                f"{result['calls_s'] / result['calls'] * 1000:.2f} ms",
                f"{result['stored']} / {result['calls']}"
                + (" ok" if _complete(result, args.calls) else " MISMATCH"),
            ]
        )
    print(f"\nmlflow client {venv_version(bin_dir, 'mlflow')} per-call log_metric, {now_utc()}")
    print(f"modelward {modelward_version()}; {machine_line()}\n")
    header = ["server", "ready", "start_run", "calls", "calls/s", "per call", "points stored"]
    print(table(rows, header))
    ok = not failures and all(_complete(r, args.calls) for r in results.values())
    if "mw server" in results and "mlflow server" in results:
        ratio = results["mw server"]["calls_per_s"] / results["mlflow server"]["calls_per_s"]
        verdict = "met" if ratio >= TARGET else "MISSED"
        print(
            f"\nmw server / mlflow server: {ratio:.1f}x calls/s "
            f"(target >= {TARGET:.0f}x: {verdict})"
        )
        ok = ok and ratio >= TARGET
    for failure in failures:
        print(f"FAILED {failure}")
    if args.json:
        print(json.dumps(results))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
