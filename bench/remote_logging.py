"""Remote tracking benchmark: logging and search over HTTP, modelward vs MLflow, in one run.

Run from the repository root::

    python bench/remote_logging.py                       # full run, ~2-3 min here
    python bench/remote_logging.py --points 200000 --search-runs 2000 --skip-mlflow  # quick

What runs, each in its own process on 127.0.0.1:

- **`mw server`** over a fresh SQLite store (this tree's code), its first admin token
  read from its output; **`mlflow server`** (``mlflow==3.17.2`` in ``bench/.venv-mlflow``,
  the venv bench/tracking.py uses) over a fresh SQLite store.
- **MLflow's client, per call** (``bench/_mlflow_remote_worker.py``): ``--mlflow-calls``
  synchronous ``mlflow.log_metric`` calls to ``mlflow server``, one HTTP request each.
  Rate = calls / time from the first call to the end of ``mlflow.end_run()``.
- **modelward's remote client, buffered** (this script's ``--worker log``, with
  ``MODELWARD_URI`` and ``MODELWARD_TOKEN`` set): ``--points`` calls of
  ``run.log_metric("loss", v, step=i)`` in ``with mw.start_run()``; the points are
  buffered and sent in batches by the run's background thread. Rate = calls / time
  from the first call to the end of the ``with`` block (everything flushed and
  acknowledged by the server). Starting the run is timed apart.
- **Nothing lost**: after each tool's run, its server is asked what it stored (the
  metric history, read back over HTTP): every step once, the values' sum equal.
- **Search over HTTP**: ``--search-runs`` runs (a metric ``f1`` uniform in [0, 1) and a
  param ``lr``, seeded) written into the server's store (``--worker fill``, through
  ``RunRepository``, as tracking.py does), then ``mw.tracking.search_runs`` with
  ``MODELWARD_URI`` set (``--worker search``): ``metrics.f1 > 0.8`` ordered by
  ``-metrics.f1``, ``limit=100`` (the top-100 query of bench/tracking.py): the
  client's parse, the HTTP round trip, the server's parse and search, the JSON both
  ways. Median (p50) of ``--repeat`` calls after one warm-up; the answer is checked
  against the data. The same search on the store itself, in-process (``--worker
  fill``, after writing), is the anchor that shows what HTTP adds.

Targets (issue 9, item 9): modelward's buffered remote logging >= 1,000x the MLflow
client's per-call rate over HTTP, every point stored; the search p50 < 50 ms.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
# the driver reads the server back with this tree's client, as the workers run this tree
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

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
)

MLFLOW_REQ = "mlflow==3.17.2"  # the same venv as bench/tracking.py
MLFLOW_WORKER = BENCH_DIR / "_mlflow_remote_worker.py"
TARGET_X = 1000.0
TARGET_SEARCH_MS = 50.0
SEARCH_FILTER = "metrics.f1 > 0.8"  # the query of bench/tracking.py's top-100 search
LRS = ("0.1", "0.01", "0.001", "0.0001")
REFERENCE_MLFLOW_CALLS_PER_S = 14.0  # the figure for this machine (--skip-mlflow)


# --------------------------------------------------------------------------- workers


def _values(points: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [rng.random() for _ in range(points)]


def _search_data(runs: int, seed: int) -> tuple[list[float], list[str]]:
    rng = random.Random(seed + 1)
    return [rng.random() for _ in range(runs)], [rng.choice(LRS) for _ in range(runs)]


def worker_log(points: int, seed: int) -> dict[str, Any]:
    """Buffered logging through MODELWARD_URI: one run, `points` log_metric calls."""
    import modelward as mw

    values = _values(points, seed)
    t0 = time.perf_counter()
    run = mw.start_run(experiment="bench-remote")
    t1 = time.perf_counter()
    c1 = time.process_time()
    with run:
        for step, value in enumerate(values):
            run.log_metric("loss", value, step=step)
    t2 = time.perf_counter()
    return {
        "run_id": run.id,
        "calls": points,
        "start_run_s": t1 - t0,
        "log_s": t2 - t1,
        "log_cpu_s": time.process_time() - c1,
    }


def worker_fill(runs: int, seed: int, repeat: int) -> dict[str, Any]:
    """Write the search runs straight into the (server's) local store; time the search
    there, in-process (the anchor for the search over HTTP)."""
    import uuid
    from datetime import UTC, datetime

    import modelward as mw
    from modelward.store.workspace import open_workspace
    from modelward.tracking.entities import FINISHED
    from modelward.tracking.environment import environment
    from modelward.tracking.repository import RunRepository

    f1s, lrs = _search_data(runs, seed)
    repo = RunRepository(open_workspace().db)
    experiment_id = repo.experiment("bench-search", create=True).id
    env = environment()
    t0 = time.perf_counter()
    for i in range(runs):
        run_id = uuid.uuid4().hex
        repo.create_run(
            {
                "id": run_id,
                "experiment_id": experiment_id,
                "name": f"search-{i}",
                "status": "running",
                "start_time": datetime.now(UTC),
                "user": "bench",
                "git_commit": None,
                "git_dirty": None,
                "source": "bench/remote_logging.py",
                "environment": env,
                "seed": None,
            }
        )
        point = ("f1", f1s[i], 0, int(time.time() * 1000))
        repo.log_batch(run_id, params=[("lr", lrs[i])], metrics=[point])
        repo.finish_run(run_id, FINISHED)
    fill_s = time.perf_counter() - t0
    expected = sorted((f for f in f1s if f > 0.8), reverse=True)[:100]
    local = _timed_search(mw.tracking.search_runs, expected, repeat)
    return {"runs": runs, "fill_s": fill_s, "local": local}


def worker_search(runs: int, seed: int, repeat: int) -> dict[str, Any]:
    """Time the top-100 search through MODELWARD_URI; check its answer."""
    import modelward as mw

    f1s, _ = _search_data(runs, seed)
    expected = sorted((f for f in f1s if f > 0.8), reverse=True)[:100]
    return _timed_search(mw.tracking.search_runs, expected, repeat) | {"runs": runs}


def _timed_search(search_runs: Any, expected: list[float], repeat: int) -> dict[str, Any]:
    def search() -> list[Any]:
        return search_runs(  # type: ignore[no-any-return]
            SEARCH_FILTER, order_by=["-metrics.f1"], experiment="bench-search", limit=100
        )

    found = search()  # warm-up (connection, caches)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        found = search()
        times.append(time.perf_counter() - t0)
    times.sort()
    return {
        "times_s": times,
        "p50_s": statistics.median(times),
        "p90_s": times[min(len(times) - 1, int(len(times) * 0.9))],
        "correct": [r.metrics["f1"] for r in found] == expected,
    }


# --------------------------------------------------------------------------- servers


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(url: str, proc: subprocess.Popen[Any], timeout: float) -> float:
    import httpx

    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if proc.poll() is not None:
            raise BenchError(f"the server at {url} exited with {proc.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return time.perf_counter() - t0
        time.sleep(0.05)
    raise BenchError(f"the server at {url} was not healthy after {timeout:.0f} s")


def _stop(proc: subprocess.Popen[Any]) -> None:
    """SIGTERM the server's process group (it was started in a session of its own)."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def start_mw_server(home: Path, log_file: IO[str]) -> tuple[subprocess.Popen[str], str, str, float]:
    """`mw server` over a fresh home: (process, url, admin token, seconds to healthy)."""
    port = _free_port()
    env = mw_env()
    for var in ("MODELWARD_DB", "MODELWARD_ARTIFACTS", "MODELWARD_URI", "MODELWARD_TOKEN"):
        env.pop(var, None)
    env["MODELWARD_HOME"] = str(home)
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [*mw_command(), "server", "--port", str(port)],
        env=env,
        stdout=log_file,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert proc.stderr is not None
    token = None
    deadline = time.monotonic() + 60
    while token is None and time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        if "MODELWARD_TOKEN=" in line:
            token = line.split("MODELWARD_TOKEN=", 1)[1].split()[0]
    if token is None:
        _stop(proc)
        raise BenchError("`mw server` did not print its first admin token")
    url = f"http://127.0.0.1:{port}"
    _wait_healthy(url, proc, 60)
    return proc, url, token, time.perf_counter() - t0


def start_mlflow_server(bin_dir: Path, work: Path, log_file: IO[str]) -> tuple[Any, str, float]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [
            str(bin_dir / "mlflow"),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--backend-store-uri",
            f"sqlite:///{work / 'mlflow.db'}",
            "--artifacts-destination",
            str(work / "artifacts"),
        ],
        env=env,
        cwd=work,
        stdout=log_file,
        stderr=log_file,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc, 180)
    except BenchError:
        _stop(proc)
        raise
    return proc, url, time.perf_counter() - t0


# --------------------------------------------------------------------------- driver


def _worker(mode: str, env: dict[str, str], cwd: Path, timeout: float, *extra: str) -> Any:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", mode, *extra]
    result = measure(cmd, cwd=cwd, env=env, timeout=timeout)
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-20:])
        raise BenchError(f"{mode} worker failed (exit {result.returncode}):\n{tail}")
    return last_json_line(result.stdout)


def stored_by_mw(url: str, token: str, run_id: str, values: list[float]) -> dict[str, Any]:
    """What `mw server` holds for the run, read back over HTTP."""
    from modelward.store.remote import ServerClient
    from modelward.tracking.remote import RemoteRunStore

    client = ServerClient(url, token)
    try:
        store = RemoteRunStore(client)
        count = store.count_metric_points(run_id)
        history = store.metric_history(run_id, "loss")
    finally:
        client.close()
    return {
        "stored_points": count,
        "stored_steps_ok": [p.step for p in history] == list(range(len(values))),
        "sum_ok": math.isclose(
            math.fsum(p.value for p in history), math.fsum(values), rel_tol=1e-12
        ),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--points", type=int, default=1_000_000, help="modelward log_metric calls")
    p.add_argument("--mlflow-calls", type=int, default=300, help="MLflow log_metric calls")
    p.add_argument("--search-runs", type=int, default=10_000)
    p.add_argument("--repeat", type=int, default=50, help="timed searches (after a warm-up)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--skip-mlflow", action="store_true", help="ratio against 14 calls/s")
    p.add_argument("--timeout", type=float, default=900, help="limit per worker, seconds")
    p.add_argument("--json-out", type=Path, help="also write the raw results to this file")
    p.add_argument("--worker", choices=["log", "fill", "search"], help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.worker == "log":
        print(json.dumps(worker_log(args.points, args.seed)))
        return 0
    if args.worker == "fill":
        print(json.dumps(worker_fill(args.search_runs, args.seed, args.repeat)))
        return 0
    if args.worker == "search":
        print(json.dumps(worker_search(args.search_runs, args.seed, args.repeat)))
        return 0

    log(f"machine: {machine_line()}")
    (DATA_DIR / "tmp").mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="remote-", dir=DATA_DIR / "tmp"))
    results: dict[str, Any] = {}
    errors: dict[str, str] = {}
    try:
        _run_modelward(args, tmp, results, errors)
        if not args.skip_mlflow:
            _run_mlflow(args, tmp, results, errors)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ok = report(args, results, errors)
    if args.json_out:
        args.json_out.write_text(json.dumps({"results": results, "errors": errors}, indent=2))
    return 0 if ok else 1


def _run_modelward(
    args: argparse.Namespace, tmp: Path, results: dict[str, Any], errors: dict[str, str]
) -> None:
    server_home = tmp / "server"
    with (tmp / "mw-server.log").open("w") as server_log:
        try:
            proc, url, token, ready_s = start_mw_server(server_home, server_log)
        except BenchError as exc:
            errors["mw server"] = str(exc)
            return
        log(f"mw server: ready in {ready_s:.2f} s at {url}")
        results["mw_ready_s"] = ready_s
        try:
            client_env = mw_env()
            for var in ("MODELWARD_DB", "MODELWARD_ARTIFACTS"):
                client_env.pop(var, None)
            client_env.update(
                MODELWARD_URI=url, MODELWARD_TOKEN=token, MODELWARD_HOME=str(tmp / "client")
            )
            common = ["--seed", str(args.seed)]
            log(f"modelward: {args.points:,} buffered log_metric calls over HTTP")
            logged = _worker(
                "log", client_env, tmp, args.timeout, "--points", str(args.points), *common
            )
            logged.update(
                stored_by_mw(url, token, logged["run_id"], _values(args.points, args.seed))
            )
            results["modelward"] = logged
            log(f"modelward: {logged['calls']:,} calls in {logged['log_s']:.2f} s")

            local_env = mw_env()
            for var in ("MODELWARD_DB", "MODELWARD_ARTIFACTS", "MODELWARD_URI"):
                local_env.pop(var, None)
            local_env["MODELWARD_HOME"] = str(server_home)
            runs = ["--search-runs", str(args.search_runs), *common]
            log(f"search: writing {args.search_runs:,} runs into the server's store")
            repeat = ["--repeat", str(args.repeat)]
            results["fill"] = _worker("fill", local_env, tmp, args.timeout, *runs, *repeat)
            log("search: timing the top-100 search over HTTP")
            results["search"] = _worker("search", client_env, tmp, args.timeout, *runs, *repeat)
        except BenchError as exc:
            errors["modelward"] = str(exc)
            log(f"modelward failed: {exc}")
        finally:
            _stop(proc)


def _run_mlflow(
    args: argparse.Namespace, tmp: Path, results: dict[str, Any], errors: dict[str, str]
) -> None:
    work = tmp / "mlflow"
    work.mkdir()
    with (tmp / "mlflow-server.log").open("w") as server_log:
        try:
            bin_dir = ensure_venv("mlflow", [MLFLOW_REQ])
            proc, url, ready_s = start_mlflow_server(bin_dir, work, server_log)
        except BenchError as exc:
            errors["mlflow server"] = str(exc)
            return
        log(f"mlflow server: ready in {ready_s:.1f} s at {url}")
        results["mlflow_ready_s"] = ready_s
        try:
            env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
            cmd = [str(bin_dir / "python"), str(MLFLOW_WORKER), url, str(args.mlflow_calls)]
            log(f"mlflow: {args.mlflow_calls} per-call log_metric calls over HTTP")
            result = measure(cmd, cwd=work, env=env, timeout=args.timeout).check()
            results["mlflow"] = last_json_line(result.stdout)
        except BenchError as exc:
            errors["mlflow"] = str(exc)
            log(f"mlflow failed: {exc}")
        finally:
            _stop(proc)


def _stored_cell(res: dict[str, Any] | None) -> str:
    if res is None:
        return "n/a"
    whole = res["stored_points"] == res["calls"] and res["stored_steps_ok"] and res["sum_ok"]
    return f"{res['stored_points']:,}/{res['calls']:,} stored" + ("" if whole else " LOST")


def report(args: argparse.Namespace, results: dict[str, Any], errors: dict[str, str]) -> bool:
    mw, ml, search = results.get("modelward"), results.get("mlflow"), results.get("search")
    ok = not errors
    rows: list[list[str]] = []
    ml_rate = ml["calls"] / ml["log_s"] if ml else REFERENCE_MLFLOW_CALLS_PER_S
    mw_rate = mw["calls"] / mw["log_s"] if mw else None
    ratio = mw_rate / ml_rate if mw_rate else None
    whole = all(
        r is None or (r["stored_points"] == r["calls"] and r["stored_steps_ok"] and r["sum_ok"])
        for r in (ml, mw)
    )
    passed = ratio is not None and ratio >= TARGET_X and whole
    ok = ok and passed
    rows.append(
        [
            "log_metric over HTTP, per call (MLflow) vs buffered (modelward)",
            f"{ml_rate:,.1f} calls/s" + ("" if ml else " (ref)"),
            "n/a" if mw_rate is None else f"{mw_rate:,.0f} calls/s",
            "n/a" if ratio is None else f"{ratio:,.0f}x",
            f">= {TARGET_X:,.0f}x, nothing lost",
            "PASS" if passed else "FAIL",
            f"mlflow {_stored_cell(ml)}; mw {_stored_cell(mw)}",
        ]
    )
    if search is not None:
        p50 = search["p50_s"] * 1000
        judged = args.search_runs >= 10_000
        passed = p50 < TARGET_SEARCH_MS and search["correct"]
        ok = ok and (passed or not judged)
        rows.append(
            [
                f"search {search['runs']:,} runs over HTTP: {SEARCH_FILTER}, top 100 by f1",
                "-",
                f"p50 {p50:.1f} ms (p90 {search['p90_s'] * 1000:.1f} ms)",
                "-",
                f"p50 < {TARGET_SEARCH_MS:.0f} ms",
                ("PASS" if passed else "FAIL") if judged else "not judged (< 10,000 runs)",
                "top 100 correct" if search["correct"] else "WRONG ANSWER",
            ]
        )
    else:
        ok = False

    print(f"\ncommand: python bench/{Path(__file__).name} {' '.join(sys.argv[1:])}".rstrip())
    print(f"machine: {machine_line()}")
    version = ml["mlflow_version"] if ml else "not run"
    print(f"date: {now_utc()}; modelward {modelward_version()}; mlflow {version}")
    print()
    print(table(rows, ["measure", "mlflow", "modelward", "ratio", "target", "result", "stored"]))
    print()
    if mw:
        print(
            f"modelward: start_run {mw['start_run_s'] * 1000:.0f} ms; logging CPU "
            f"{mw['log_cpu_s']:.2f} s of {mw['log_s']:.2f} s wall"
        )
    if ml:
        print(f"mlflow: start_run {ml['start_run_s'] * 1000:.0f} ms")
    for key, label in (("mw_ready_s", "mw server"), ("mlflow_ready_s", "mlflow server")):
        if key in results:
            print(f"{label}: healthy {results[key]:.2f} s after start")
    if "fill" in results:
        fill, local = results["fill"], results["fill"]["local"]
        print(f"search runs written through RunRepository in {fill['fill_s']:.0f} s")
        print(
            f"the same search on the server's store, in-process (no HTTP): p50 "
            f"{local['p50_s'] * 1000:.1f} ms (p90 {local['p90_s'] * 1000:.1f} ms)"
            + ("" if local["correct"] else ", WRONG ANSWER")
        )
    for name, err in errors.items():
        print(f"\n{name} FAILED: {err}")
    print(f"\noverall: {'PASS' if ok else 'FAIL'}")
    return ok


if __name__ == "__main__":
    raise SystemExit(main())
