"""Model serving benchmark: ``mw serve`` versus ``mlflow models serve``, same model, same load.

Run from the repository root::

    python bench/serving.py --rounds 2 --profile          # the README figures, ~15 min
    python bench/serving.py                               # one round, ~7 min
    python bench/serving.py --duration 3 --workers 1      # quick run, ~2 min
    python bench/serving.py --skip-mlflow                 # ratios vs published MLflow figures

In one run, on the same CSV (scikit-learn's breast-cancer set, 569 rows x 30 numeric
features, written to ``bench/_data/serving/``), it

1. registers the model in a fresh ``MODELWARD_HOME`` (``mw data add``, then
   ``run.log_model(model, name=..., data="bc")``, timed cold and warm, and
   ``mw.models.register``) and measures the floor for the model itself: bare
   ``model.predict`` on a one-row and a 100-row DataFrame (``_serving_mw_worker.py``);
2. fits the same estimator in ``bench/.venv-mlflow`` (``mlflow==3.17.2``, installed on
   first use), checks its predictions equal modelward's on every row, and times
   ``mlflow.sklearn.log_model`` and ``mlflow.register_model`` in a fresh SQLite store
   (``_serving_mlflow_worker.py``);
3. for each ``--workers`` count, starts in turn the HTTP floor (an empty Starlette app
   under uvicorn, ``_serving_empty_app.py``), ``mlflow models serve --env-manager local``
   and ``mw serve`` (default options, plus ``--mw-serve-args``; each start on a fresh
   copy of the home as registration left it), each on 127.0.0.1; times how long each
   takes from process start to ready (first 200 from ``GET /ready``; ``GET /ping`` for
   MLflow) and until all its processes are idle; checks its answers; then loads it
   with ``wrk`` (one thread, keep-alive, ``-c`` connections) with the same body for
   every server: ``POST /invocations`` with ``{"dataframe_split": ...}`` of 1 and of
   100 rows, at concurrency 1 and 8, a warm-up then ``--duration`` seconds each;
   ``--rounds N`` repeats the whole sequence and keeps the best of each cell;
4. prints requests/s, p50 and p99 latency, errors (non-2xx, socket errors, timeouts:
   a cell with any is invalid) and the server's CPU time per request (from /proc),
   the ratios to MLflow and to the floor, and the targets.

The floor for a latency is the empty app's p50 in the same scenario plus the bare
predict time, times the requests queued per worker (concurrency / workers, at least 1).

Targets (issue 3/4, item 6): at concurrency 8, single-row requests/s >= 10x MLflow's;
single-row p50 <= 2x the floor; registering a model version < 100 ms; ``mw serve``
ready < 3 s. Exit status 0 only if every target is met and no step failed.

Needs ``wrk`` (Debian: ``apt-get install -y wrk``). ``--profile`` runs one extra,
unreported 1-row load at the highest concurrency on ``mw serve`` under py-spy
(installed on first use into ``bench/.venv-py-spy``; raw stacks kept in
``bench/_data/serving/pyspy-wN/``) and prints where the time goes per request, then
times ``mw serve``'s start-up step by step (``_serving_startup_probe.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import math
import os
import resource
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import asdict, dataclass, field
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
)
from _serving_model import MODEL_KINDS, TARGET

MLFLOW_REQ = "mlflow==3.17.2"
PYSPY_REQ = "py-spy"
MW_WORKER = BENCH_DIR / "_serving_mw_worker.py"
MLFLOW_WORKER = BENCH_DIR / "_serving_mlflow_worker.py"
EMPTY_APP = BENCH_DIR / "_serving_empty_app.py"
STARTUP_PROBE = BENCH_DIR / "_serving_startup_probe.py"
CSV_PATH = DATA_DIR / "serving" / "breast_cancer.csv"
PROFILE_DIR = DATA_DIR / "serving"
MODEL_NAME = "bench-clf"

TARGET_RPS_X = 10.0  # mw / MLflow requests/s, single row, concurrency 8
TARGET_P50_X = 2.0  # mw single-row p50 / floor p50
TARGET_REGISTER_S = 0.100
TARGET_READY_S = 3.0
# Published figures for mlflow 3.17 on this kind of machine (for --skip-mlflow).
REFERENCE = {"rps_1row_c8": 170.0, "p50_1row_c8_ms": 44.0, "ready_s": 10.0, "log_model_s": 3.0}

SERVERS = ("floor", "mlflow", "mw")
SERVER_LABEL = {"floor": "empty ASGI", "mlflow": "mlflow serve", "mw": "mw serve"}

# wrk script: POST the body file; print the summary as one JSON line at the end.
WRK_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open("{body}", "rb"))
wrk.body = f:read("*a")
f:close()
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {{"requests": %d, "duration_us": %d, "bytes": %d, "status_errors": %d, ' ..
    '"connect_errors": %d, "read_errors": %d, "write_errors": %d, "timeouts": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f}}\\n',
    summary.requests, summary.duration, summary.bytes, e.status, e.connect, e.read,
    e.write, e.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean))
end
"""


# --------------------------------------------------------------------------- data


@dataclass
class Load:
    """One wrk measurement against one server."""

    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int  # non-2xx answers + socket errors + timeouts
    server_cpu_ms_per_req: float | None
    wrk_cpu_s: float

    @property
    def valid(self) -> bool:
        return self.errors == 0 and self.requests > 0


@dataclass
class ServerRun:
    """One server process: how long it took to be ready, and its loads by scenario."""

    server: str
    workers: int
    ready_s: float | None = None  # the best over rounds
    loads: dict[str, Load] = field(default_factory=dict)  # key: scenario_key; best over rounds
    error: str | None = None
    ready_all: list[float] = field(default_factory=list)
    settled_s: float | None = None  # all workers loaded and idle (best over rounds)
    settled_all: list[float] = field(default_factory=list)
    loads_all: dict[str, list[Load]] = field(default_factory=dict)

    def add_ready(self, seconds: float) -> None:
        self.ready_all.append(seconds)
        self.ready_s = min(self.ready_all)

    def add_settled(self, seconds: float) -> None:
        self.settled_all.append(seconds)
        self.settled_s = min(self.settled_all)

    def add_load(self, key: str, load: Load) -> None:
        """Keep every round; the reported one is the valid run with the most requests/s."""
        self.loads_all.setdefault(key, []).append(load)
        best = self.loads.get(key)
        if best is None or (load.valid, load.rps) > (best.valid, best.rps):
            self.loads[key] = load


def scenario_key(rows: int, conc: int) -> str:
    return f"{rows}x{conc}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_csv() -> Path:
    """scikit-learn's breast-cancer set as CSV (30 float features + int target), cached."""
    if not CSV_PATH.is_file():
        from sklearn.datasets import load_breast_cancer

        CSV_PATH.parent.mkdir(parents=True, exist_ok=True)
        frame = load_breast_cancer(as_frame=True).frame
        tmp = CSV_PATH.with_suffix(".tmp")
        frame.to_csv(tmp, index=False)
        tmp.replace(CSV_PATH)
    return CSV_PATH


def read_features(path: Path) -> tuple[list[str], list[list[float]]]:
    with path.open(newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        rows = [[float(v) for v in row] for row in reader]
    keep = [i for i, name in enumerate(header) if name != TARGET]
    return [header[i] for i in keep], [[row[i] for i in keep] for row in rows]


# --------------------------------------------------------------------------- processes


def group_cpu_s(pgid: int) -> float:
    """utime + stime of the live processes in process group `pgid` (from /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        # fields[0] is state (field 3); pgrp is field 5, utime 14, stime 15.
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / tick


def worker_pids(pgid: int, workers: int) -> list[int]:
    """The processes that answer requests: the server itself, or its uvicorn workers."""
    pids = group_pids(pgid)
    if workers <= 1:
        return [pgid]
    found = []
    for pid in pids:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if pid != pgid and b"resource_tracker" not in cmdline:
            found.append(pid)
    return found or [pgid]


def group_pids(pgid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2 :].split()[2]) == pgid:
            pids.append(int(entry))
    return sorted(pids)


class Server:
    """A server process in its own session (process group), stopped with the group."""

    def __init__(self, cmd: list[str], env: dict[str, str], log_path: Path) -> None:
        self.cmd = cmd
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            cmd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, url: str, timeout: float) -> float:
        """Seconds from process start until GET `url` answers 200."""
        deadline = self.started + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"server exited ({self.proc.returncode}):\n{self.tail()}")
            try:
                with urllib.request.urlopen(url, timeout=1) as resp:
                    if resp.status == 200:
                        return time.perf_counter() - self.started
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(0.01)
        raise BenchError(f"not ready after {timeout:.0f} s: {url}\n{self.tail()}")

    def wait_settled(self, timeout: float, window: float = 0.5, busy: float = 0.15) -> float:
        """Seconds from process start until the process group uses < `busy` of a core.

        After the first 200 from a multi-worker server, the other workers may still be
        loading; the load starts only once they are all idle.
        """
        deadline = self.started + timeout
        cpu = group_cpu_s(self.proc.pid)
        while time.perf_counter() < deadline:
            time.sleep(window)
            now = group_cpu_s(self.proc.pid)
            if now - cpu < busy * window:
                return time.perf_counter() - self.started - window
            cpu = now
        raise BenchError(f"still busy after {timeout:.0f} s\n{self.tail()}")

    def tail(self, lines: int = 15) -> str:
        self._log.flush()
        text = self.log_path.read_text(errors="replace").strip().splitlines()
        return "\n".join(text[-lines:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=15)
        # Workers of a multi-process server may outlive the supervisor: kill the group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        self._log.close()


def post_json(url: str, body: bytes, timeout: float = 30) -> tuple[int, Any]:
    req = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")[:500]


# --------------------------------------------------------------------------- load


def run_wrk(url: str, lua: Path, conc: int, seconds: int, pgid: int, profile: Any = None) -> Load:
    """One bounded wrk run (one thread, `conc` keep-alive connections)."""
    cmd = [
        "wrk",
        "-t1",
        f"-c{conc}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(lua),
        url,
    ]
    cpu0 = group_cpu_s(pgid)
    rusage0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"wrk timed out: {' '.join(cmd)}") from exc
    rusage1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu1 = group_cpu_s(pgid)
    if proc.returncode != 0:
        raise BenchError(f"wrk failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    line = next((x for x in proc.stdout.splitlines() if x.startswith("WRKJSON ")), None)
    if line is None:
        raise BenchError(f"no summary from wrk:\n{proc.stdout[-1000:]}")
    s = json.loads(line.removeprefix("WRKJSON "))
    secs = s["duration_us"] / 1e6
    n = s["requests"]
    errors = sum(
        s[k] for k in ("status_errors", "connect_errors", "read_errors", "write_errors", "timeouts")
    )
    wrk_cpu = (rusage1.ru_utime - rusage0.ru_utime) + (rusage1.ru_stime - rusage0.ru_stime)
    return Load(
        requests=n,
        seconds=secs,
        rps=n / secs if secs else 0.0,
        p50_ms=s["p50_us"] / 1e3,
        p90_ms=s["p90_us"] / 1e3,
        p99_ms=s["p99_us"] / 1e3,
        max_ms=s["max_us"] / 1e3,
        errors=errors,
        server_cpu_ms_per_req=(cpu1 - cpu0) * 1e3 / n if n else None,
        wrk_cpu_s=wrk_cpu,
    )


def check_answers(server: str, url: str, bodies: dict[int, bytes], expected: list[Any]) -> None:
    """One request per body: 200, and (model servers) the predictions modelward's model made."""
    for rows, body in bodies.items():
        status, answer = post_json(url, body)
        if status != 200:
            raise BenchError(f"{server}: {rows}-row request answered {status}: {answer}")
        if server == "floor":
            continue
        got = answer.get("predictions") if isinstance(answer, dict) else None
        if got != expected[:rows]:
            raise BenchError(f"{server}: wrong predictions for {rows} rows: {str(answer)[:300]}")


# --------------------------------------------------------------------------- profile


def pyspy_start(bin_dir: Path, pids: list[int], seconds: int, out_dir: Path) -> list[Any]:
    procs = []
    for pid in pids:
        raw = out_dir / f"mw-serve-{pid}.txt"
        cmd = [
            str(bin_dir / "py-spy"),
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(seconds),
            "--rate",
            "250",
            "--format",
            "raw",
            "--nonblocking",
            "--output",
            str(raw),
        ]
        procs.append(
            (
                subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True),
                raw,
            )
        )
    return procs


def pyspy_finish(procs: list[Any], timeout: float) -> list[Path]:
    done = []
    for proc, raw in procs:
        try:
            _, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        if raw.is_file() and raw.stat().st_size:
            done.append(raw)
        else:
            log(f"py-spy gave no samples: {(err or '').strip()[-300:]}")
    return done


HANDLER = "_predict (modelward/serving/endpoints.py)"
# A sample whose stack holds one of these is on a thread other than the main thread
# (which runs uvicorn's event loop).
THREAD_START = ("Thread._bootstrap (", "Thread.run (")


def summarize_stacks(
    files: list[Path], depth: int = 6, min_share: float = 0.01, top: int = 10
) -> dict[str, Any]:
    """Collapsed py-spy stacks -> where the samples went.

    ``tree``: the call tree under modelward's request handler (``HANDLER``), to
    `depth` levels, nodes with at least `min_share` of all samples, as
    (depth, function, share); ``loop``: the functions on CPU (self time) in the
    event-loop thread outside the handler (uvicorn, Starlette/FastAPI, asyncio);
    ``threads``: samples of other threads (prediction log writer, monitor, alias
    poller...), by the function the thread runs.
    """
    tree: Counter[tuple[str, ...]] = Counter()
    loop_self: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = loop = other = 0
    for path in files:
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            n = int(count)
            total += n
            frames = [_frame_name(f) for f in stack.split(";")]
            at = next((i for i, f in enumerate(frames) if f == HANDLER), None)
            if at is not None:
                sub = frames[at:]
                for d in range(1, min(len(sub), depth) + 1):
                    tree[tuple(sub[:d])] += n
            elif any(f.startswith(THREAD_START) for f in frames):
                other += n
                threads[_thread_target(frames)] += n
            else:  # the main thread: uvicorn's event loop
                loop += n
                loop_self[frames[-1]] += n
    if not total:
        return {"samples": 0, "tree": [], "loop": [], "threads": []}
    rows = [
        (len(k) - 1, k[-1], n / total) for k, n in sorted(tree.items()) if n / total >= min_share
    ]
    return {
        "samples": total,
        "handler_share": tree[(HANDLER,)] / total,
        "loop_share": loop / total,
        "threads_share": other / total,
        "tree": rows,
        "loop": [(name, n / total) for name, n in loop_self.most_common(top)],
        "threads": [(name, n / total) for name, n in threads.most_common(top)],
    }


def _thread_target(frames: list[str]) -> str:
    """The thread's own function: the first frame below threading's bootstrap and, for a
    pool thread, below the pool's machinery (the function submitted to it)."""
    for i, frame in enumerate(frames):
        if frame.startswith("Thread.run ("):
            for below in frames[i + 1 :]:
                if not below.endswith(("(concurrent/futures/thread.py)", "(threading.py)")):
                    return below
            return frames[-1]
    return frames[0] if frames else "?"


def _frame_name(frame: str) -> str:
    # py-spy raw frames look like "function (path/to/file.py:123)".
    func, _, where = frame.partition(" (")
    where = where.rstrip(")")
    path = where.rsplit(":", 1)[0]
    for marker in ("site-packages/", "src/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{func} ({path})"


# --------------------------------------------------------------------------- report


def fmt_rps(load: Load | None) -> str:
    if load is None:
        return "-"
    mark = "" if load.valid else f" ({load.errors} err)"
    return f"{load.rps:,.0f}{mark}"


def fmt_ms(x: float | None) -> str:
    if x is None or math.isnan(x):
        return "-"
    return f"{x:.2f}" if x < 10 else f"{x:.1f}"


def fmt_s_ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1e3:,.0f}"


def fmt_x(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}x" if x < 10 else f"{x:.1f}x"


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "FAIL")


def floor_p50_ms(
    runs: dict[tuple[str, int], ServerRun],
    predict_s: dict[int, float],
    rows: int,
    conc: int,
    w: int,
) -> float | None:
    empty = runs.get(("floor", w))
    load = empty.loads.get(scenario_key(rows, conc)) if empty else None
    if load is None or rows not in predict_s:
        return None
    queued = max(1.0, conc / w)
    return load.p50_ms + predict_s[rows] * 1e3 * queued


# --------------------------------------------------------------------------- servers


@dataclass
class ServerCommands:
    """How to start each server: the environments and what MLflow serves."""

    mw_env: dict[str, str]
    mlflow_env: dict[str, str]
    mlflow_bin: Path | None
    mlflow_model_uri: str | None
    mw_args: list[str] = field(default_factory=list)
    starts: int = 0

    def command(self, server: str, port: int, w: int) -> tuple[list[str], dict[str, str], str]:
        """(argv, environment, readiness URL) for `server` on `port` with `w` workers."""
        base = f"http://127.0.0.1:{port}"
        where = ["--host", "127.0.0.1", "--port", str(port), "--workers", str(w)]
        if server == "floor":
            return [sys.executable, str(EMPTY_APP), *where], dict(os.environ), f"{base}/ready"
        if server == "mlflow":
            assert self.mlflow_bin is not None and self.mlflow_model_uri is not None
            cmd = [str(self.mlflow_bin / "mlflow"), "models", "serve"]
            cmd += ["-m", self.mlflow_model_uri, "--env-manager", "local", *where]
            return cmd, self.mlflow_env, f"{base}/ping"
        cmd = [*mw_command(), "serve", f"{MODEL_NAME}@production", *where, *self.mw_args]
        # Each server starts from a copy of the home as registration left it, so the
        # prediction log (and the monitor's work on it) of one run does not carry over.
        home = Path(self.mw_env["MODELWARD_HOME"])
        self.starts += 1
        fresh = home.with_name(f"{home.name}-serve-{self.starts}")
        shutil.copytree(home, fresh)
        return cmd, {**self.mw_env, "MODELWARD_HOME": str(fresh)}, f"{base}/ready"


def bench_server(
    run: ServerRun,
    commands: ServerCommands,
    bodies: dict[int, bytes],
    luas: dict[int, Path],
    expected: list[Any],
    args: argparse.Namespace,
    pyspy_bin: Path | None,
    tmp: Path,
    failures: list[str],
) -> dict[str, Any] | None:
    """Start one server, time it to ready, check it, load it in every scenario, stop it.

    With `pyspy_bin`, samples the server during the 1-row load at the highest
    concurrency and returns the summary of the stacks.
    """
    server, w = run.server, run.workers
    label = f"{SERVER_LABEL[server]} (workers {w})"
    port = free_port()
    cmd, env, ready_url = commands.command(server, port, w)
    log(f"{label}: starting on port {port}")
    srv = Server(cmd, env, tmp / f"{server}-w{w}-{len(run.ready_all)}.log")
    profile = None
    concs = [int(x) for x in args.concurrency.split(",")]
    try:
        ready_s = srv.wait_ready(ready_url, args.ready_timeout)
        run.add_ready(ready_s)
        run.add_settled(srv.wait_settled(args.ready_timeout))
        log(f"{label}: ready in {ready_s:.2f} s, all workers idle at {run.settled_all[-1]:.2f} s")
        url = f"http://127.0.0.1:{port}/invocations"
        check_answers(server, url, bodies, expected)
        for rows, lua in luas.items():
            for conc in concs:
                if args.warmup:
                    run_wrk(url, lua, conc, args.warmup, srv.proc.pid)
                load = run_wrk(url, lua, conc, args.duration, srv.proc.pid)
                if pyspy_bin and rows == 1 and conc == max(concs):
                    # An extra, unreported run under py-spy, so sampling does not skew figures.
                    pids = worker_pids(srv.proc.pid, w)
                    spy = pyspy_start(pyspy_bin, pids, args.duration, tmp)
                    sampled = run_wrk(url, lua, conc, args.duration, srv.proc.pid)
                    files = pyspy_finish(spy, args.duration + 30)
                    keep_dir = PROFILE_DIR / f"pyspy-w{w}"
                    shutil.rmtree(keep_dir, ignore_errors=True)
                    keep_dir.mkdir(parents=True)
                    for f in files:
                        shutil.copy(f, keep_dir / f.name)
                    profile = summarize_stacks(files)
                    profile["cpu_ms_per_req"] = sampled.server_cpu_ms_per_req
                    profile["rps"] = sampled.rps
                    log(f"py-spy stacks kept in {keep_dir}")
                run.add_load(scenario_key(rows, conc), load)
                log(
                    f"  {rows:>3} rows, c{conc}: {load.rps:,.0f} req/s, p50 {load.p50_ms:.2f} ms, "
                    f"p99 {load.p99_ms:.2f} ms, errors {load.errors}"
                )
                if not load.valid:
                    failures.append(f"{server} w{w} {rows} rows c{conc}: {load.errors} errors")
    except BenchError as exc:
        run.error = str(exc)
        failures.append(f"{server} w{w}: {exc}")
        log(f"{label} failed: {exc}")
        kept = PROFILE_DIR / f"failed-{server}-w{w}.log"
        kept.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            shutil.copy(srv.log_path, kept)
            log(f"its output is in {kept}")
    finally:
        srv.stop()
    return profile


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=int, default=10, help="seconds of load per measurement")
    p.add_argument("--warmup", type=int, default=2, help="seconds of discarded load before each")
    p.add_argument("--workers", default="1,2", help="server worker counts, comma-separated")
    p.add_argument("--rows", default="1,100", help="rows per request, comma-separated")
    p.add_argument("--concurrency", default="1,8", help="connections, comma-separated")
    p.add_argument("--model", choices=MODEL_KINDS, default="logreg", help="the estimator")
    p.add_argument(
        "--skip-mlflow", action="store_true", help="no MLflow; ratios vs its published figures"
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run every server this many times (interleaved); report the best of each cell",
    )
    p.add_argument("--profile", action="store_true", help="py-spy mw serve under 1-row load")
    p.add_argument(
        "--mw-serve-args",
        default="",
        help='extra options for mw serve, e.g. "--log-sample 0 --monitor-interval 0"',
    )
    p.add_argument("--ready-timeout", type=float, default=120, help="seconds for a server")
    p.add_argument("--timeout", type=float, default=900, help="limit for each set-up step")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (logs, stores)")
    p.add_argument("--json-out", type=Path, help="also write the raw results to this file")
    args = p.parse_args(argv)
    workers = [int(x) for x in args.workers.split(",")]
    row_counts = [int(x) for x in args.rows.split(",")]
    concs = [int(x) for x in args.concurrency.split(",")]
    if args.duration < 1 or args.warmup < 0 or args.rounds < 1:
        p.error("--duration and --rounds must be >= 1, --warmup >= 0")
    if shutil.which("wrk") is None:
        print("wrk is not installed (Debian: apt-get install -y wrk)", file=sys.stderr)
        return 2

    machine = machine_line()
    log(f"machine: {machine}")
    load_at_start = os.getloadavg()
    (DATA_DIR / "tmp").mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="serving-", dir=DATA_DIR / "tmp"))
    failures: list[str] = []
    runs: dict[tuple[str, int], ServerRun] = {}
    mw_setup: dict[str, Any] = {}
    ml_setup: dict[str, Any] = {}
    profiles: dict[int, dict[str, Any]] = {}
    startup: dict[str, Any] = {}
    mlflow_bin: Path | None = None
    try:
        csv_path = ensure_csv()
        columns, features = read_features(csv_path)

        # 1. modelward: dataset, model, registration, bare predict.
        env = mw_env()
        for var in ("MODELWARD_DB", "MODELWARD_ARTIFACTS", "MODELWARD_URI"):
            env.pop(var, None)
        env["MODELWARD_HOME"] = str(tmp / "mw-home")
        log("modelward: mw data add, fit, log_model + register (fresh MODELWARD_HOME)")
        added = measure(
            [*mw_command(), "data", "add", str(csv_path), "--name", "bc"],
            env=env,
            timeout=args.timeout,
        ).check()
        mw_json = tmp / "mw-worker.json"
        measure(
            [sys.executable, str(MW_WORKER), args.model, str(mw_json)],
            cwd=tmp,
            env=env,
            timeout=args.timeout,
        ).check()
        mw_setup = json.loads(mw_json.read_text())
        mw_setup["data_add_s"] = added.wall_s
        expected = mw_setup["predictions"]
        log(
            f"modelward: log_model+register cold {mw_setup['log_register_cold_s'] * 1e3:.0f} ms, "
            f"warm {mw_setup['log_register_warm_s'] * 1e3:.1f} ms, "
            f"register {mw_setup['register_s'] * 1e3:.1f} ms"
        )

        # 2. MLflow: same estimator in its venv, same predictions, log_model timings.
        ml_env = dict(os.environ)
        if not args.skip_mlflow:
            try:
                mlflow_bin = ensure_venv("mlflow", [MLFLOW_REQ])
                work = tmp / "mlflow"
                work.mkdir()
                log("mlflow: fit, check predictions, log_model + register_model")
                out = measure(
                    [
                        str(mlflow_bin / "python"),
                        str(MLFLOW_WORKER),
                        args.model,
                        str(csv_path),
                        str(work),
                        str(mw_json),
                    ],
                    cwd=work,
                    timeout=args.timeout,
                ).check()
                ml_setup = last_json_line(out.stdout)
                if ml_setup["prediction_mismatches"] or not ml_setup["same_columns"]:
                    raise BenchError(
                        "MLflow's model differs from modelward's: "
                        f"{ml_setup['prediction_mismatches']} of {ml_setup['rows_compared']} "
                        "predictions differ"
                    )
                log(
                    f"mlflow: log_model cold {ml_setup['log_model_cold_s']:.2f} s, "
                    f"warm {ml_setup['log_model_warm_s']:.2f} s; predictions equal on "
                    f"{ml_setup['rows_compared']} rows (max proba diff "
                    f"{ml_setup.get('max_proba_diff', 0):.1e})"
                )
                # `mlflow models serve` execs `uvicorn` from PATH: the venv's must come first.
                ml_env["PATH"] = f"{mlflow_bin}{os.pathsep}{ml_env.get('PATH', '')}"
                ml_env["MLFLOW_TRACKING_URI"] = ml_setup["tracking_uri"]
            except BenchError as exc:
                failures.append(f"mlflow set-up: {exc}")
                log(f"mlflow set-up failed: {exc}")
                mlflow_bin = None

        # 3. request bodies (the same bytes for every server) and wrk scripts.
        bodies: dict[int, bytes] = {}
        luas: dict[int, Path] = {}
        for rows in row_counts:
            data = features[:rows]
            body = json.dumps({"dataframe_split": {"columns": columns, "data": data}}).encode()
            bodies[rows] = body
            body_path = tmp / f"body-{rows}.json"
            body_path.write_bytes(body)
            luas[rows] = tmp / f"post-{rows}.lua"
            luas[rows].write_text(WRK_LUA.format(body=body_path))

        pyspy_bin = ensure_venv("py-spy", [PYSPY_REQ]) if args.profile else None

        # 4. the servers, one at a time; with --rounds, the whole sequence again.
        commands = ServerCommands(
            env, ml_env, mlflow_bin, ml_setup.get("model_uri"), shlex.split(args.mw_serve_args)
        )
        for round_no in range(1, args.rounds + 1):
            if args.rounds > 1:
                log(f"round {round_no} of {args.rounds} (load average {os.getloadavg()[0]:.1f})")
            for w in workers:
                for server in SERVERS:
                    if server == "mlflow" and mlflow_bin is None:
                        continue
                    run = runs.setdefault((server, w), ServerRun(server, w))
                    spy_bin = pyspy_bin if round_no == 1 and server == "mw" else None
                    prof = bench_server(
                        run, commands, bodies, luas, expected, args, spy_bin, tmp, failures
                    )
                    if prof:
                        profiles[w] = prof
        if args.profile:
            log("mw serve start-up, step by step (_serving_startup_probe.py)")
            probe = measure(
                [sys.executable, str(STARTUP_PROBE), f"{MODEL_NAME}@production"],
                cwd=tmp,
                env=env,
                timeout=args.timeout,
            ).check()
            startup = last_json_line(probe.stdout)
            startup["process_s"] = probe.wall_s
            interp = measure([sys.executable, "-c", "pass"], timeout=60).check()
            startup["python_s"] = interp.wall_s
    except BenchError as exc:
        failures.append(str(exc))
        log(f"failed: {exc}")
    finally:
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    ok = report(args, runs, mw_setup, ml_setup, workers, row_counts, concs, failures, machine)
    for w, prof in profiles.items():
        print_profile(w, prof)
    if startup:
        print_startup(startup)
    if args.json_out:
        raw = {
            "machine": machine,
            "load_at_start": load_at_start,
            "args": vars(args) | {"json_out": str(args.json_out)},
            "modelward": {k: v for k, v in mw_setup.items() if k not in ("predictions", "proba")},
            "mlflow": ml_setup,
            "runs": [
                {**asdict(r), "loads": {k: asdict(v) for k, v in r.loads.items()}}
                for r in runs.values()
            ],
            "failures": failures,
            "profiles": profiles,
            "startup": startup,
        }
        args.json_out.write_text(json.dumps(raw, indent=1, default=str))
    return 0 if ok else 1


def print_profile(w: int, prof: dict[str, Any]) -> None:
    cpu = prof.get("cpu_ms_per_req") or 0.0
    print(
        f"\n### Where `mw serve` (workers {w}) spends its time: 1-row requests at the highest "
        f"concurrency ({prof['rps']:,.0f} req/s, {cpu:.2f} ms server CPU per request; "
        f"{prof['samples']} py-spy samples, all threads, on-CPU only)\n"
    )
    if not prof["samples"]:
        print("No samples.")
        return
    rows = [
        [("  " * d) + ("- " if d else "") + name, f"{share:.1%}", f"{share * cpu:.3f}"]
        for d, name, share in prof["tree"]
    ]
    print("Inside modelward's request handler (call tree, >= 1% of samples):\n")
    print(table(rows, ["function", "share", "~ms/req"]))
    print(
        f"\nEvent loop outside the handler (uvicorn, Starlette/FastAPI, asyncio): "
        f"{prof['loop_share']:.1%} (~{prof['loop_share'] * cpu:.3f} ms/req); "
        "functions on CPU there:\n"
    )
    rows = [[name, f"{share:.1%}", f"{share * cpu:.3f}"] for name, share in prof["loop"]]
    print(table(rows, ["function (self)", "share", "~ms/req"]))
    if prof["threads"]:
        print(
            f"\nOther threads (prediction log, monitor, alias poller...): "
            f"{prof['threads_share']:.1%} (~{prof['threads_share'] * cpu:.3f} ms/req), by "
            "thread function:\n"
        )
        rows = [[name, f"{share:.1%}", f"{share * cpu:.3f}"] for name, share in prof["threads"]]
        print(table(rows, ["thread runs", "share", "~ms/req"]))


def print_startup(startup: dict[str, Any]) -> None:
    print(
        f"\n### `mw serve` start-up, step by step (one process; `python -c pass` takes "
        f"{startup['python_s'] * 1e3:.0f} ms, the whole probe process "
        f"{startup['process_s'] * 1e3:,.0f} ms)\n"
    )
    rows = [[name, f"{secs * 1e3:,.0f}"] for name, secs in startup["steps"]]
    rows.append(["total (from the probe's first line)", f"{startup['total_s'] * 1e3:,.0f}"])
    print(table(rows, ["step", "ms"]))


def report(
    args: argparse.Namespace,
    runs: dict[tuple[str, int], ServerRun],
    mw_setup: dict[str, Any],
    ml_setup: dict[str, Any],
    workers: list[int],
    row_counts: list[int],
    concs: list[int],
    failures: list[str],
    machine: str,
) -> bool:
    predict_s = {}
    if mw_setup:
        predict_s = {1: mw_setup["predict_1_s"], 100: mw_setup["predict_100_s"]}

    def load_of(server: str, w: int, rows: int, conc: int) -> Load | None:
        run = runs.get((server, w))
        return run.loads.get(scenario_key(rows, conc)) if run else None

    print(f"\n## Serving benchmark ({now_utc()})\n")
    print(f"Machine: {machine}")
    print(
        f"modelward {modelward_version()}, mlflow {ml_setup.get('mlflow_version', 'not run')}, "
        f"scikit-learn {mw_setup.get('sklearn', '?')}; model: {args.model}; "
        f"mw serve {args.mw_serve_args or '(default options)'}; "
        f"wrk -t1, {args.warmup} s warm-up + {args.duration} s per cell"
        + (f", best of {args.rounds} rounds" if args.rounds > 1 else "")
        + "\n"
    )

    rows_out = []
    for rows in row_counts:
        for conc in concs:
            for w in workers:
                fl = load_of("floor", w, rows, conc)
                ml = load_of("mlflow", w, rows, conc)
                mw = load_of("mw", w, rows, conc)
                floor_ms = floor_p50_ms(runs, predict_s, rows, conc, w)
                ratio = mw.rps / ml.rps if mw and ml and ml.rps else None
                rows_out.append(
                    [
                        f"{rows} row{'s' if rows > 1 else ''}, c{conc}",
                        str(w),
                        f"{fmt_rps(fl)} / {fmt_ms(fl.p50_ms) if fl else '-'}",
                        fmt_ms(floor_ms),
                        f"{fmt_rps(ml)} / {fmt_ms(ml.p50_ms) if ml else '-'}"
                        + (f" / {fmt_ms(ml.p99_ms)}" if ml else ""),
                        f"{fmt_rps(mw)} / {fmt_ms(mw.p50_ms) if mw else '-'}"
                        + (f" / {fmt_ms(mw.p99_ms)}" if mw else ""),
                        fmt_x(ratio),
                        fmt_x(mw.p50_ms / floor_ms if mw and floor_ms else None),
                        " / ".join(
                            fmt_ms(x.server_cpu_ms_per_req) if x else "-" for x in (fl, ml, mw)
                        ),
                    ]
                )
    print(
        table(
            rows_out,
            [
                "scenario",
                "workers",
                "empty ASGI req/s / p50 ms",
                "floor p50 ms",
                "mlflow req/s / p50 / p99 ms",
                "mw req/s / p50 / p99 ms",
                "mw / mlflow req/s",
                "mw p50 / floor",
                "server CPU ms/req (empty / mlflow / mw)",
            ],
        )
    )

    # At concurrency 1 a request's latency is its server CPU time plus the network; a p50
    # far above that means the server waited (e.g. Nagle + delayed ACK on kept-alive
    # connections), which says nothing about its speed.
    waits = []
    for (server, w), run in sorted(runs.items()):
        for rows in row_counts:
            load = run.loads.get(scenario_key(rows, 1))
            cpu = load.server_cpu_ms_per_req if load else None
            if load and cpu is not None and load.p50_ms > 2 * cpu + 10:
                waits.append(
                    f"{SERVER_LABEL[server]} w{w} {rows} row(s) c1: p50 {load.p50_ms:.1f} ms "
                    f"for {cpu:.1f} ms of CPU"
                )
    if waits:
        print(
            "\nIdle waits (p50 at c1 far above the server's CPU time per request; not "
            "compute, see bench/README.md): " + "; ".join(waits) + "."
        )

    # Set-up figures.
    print()
    setup_rows = []
    if mw_setup:
        ml_cold = ml_setup.get("log_model_cold_s")
        setup_rows += [
            [
                "log a model + register a version (first call in the process)",
                f"{ml_cold * 1e3:,.0f}" if ml_cold else f"~{REFERENCE['log_model_s'] * 1e3:,.0f}*",
                f"{mw_setup['log_register_cold_s'] * 1e3:,.1f}",
            ],
            [
                "log a model + register a version (again, median of 5)",
                f"{ml_setup['log_model_warm_s'] * 1e3:,.0f}" if ml_setup else "-",
                f"{mw_setup['log_register_warm_s'] * 1e3:,.1f}",
            ],
            [
                "register an already-logged model (median of 10 / MLflow 5)",
                f"{ml_setup['register_s'] * 1e3:,.1f}" if ml_setup else "-",
                f"{mw_setup['register_s'] * 1e3:,.1f}",
            ],
            [
                "bare model.predict, 1 row (lowest of 5 batch medians)",
                "-",
                f"{mw_setup['predict_1_s'] * 1e3:.3f}",
            ],
            [
                "bare model.predict, 1 row as a NumPy array (reference)",
                "-",
                f"{mw_setup['predict_1_numpy_s'] * 1e3:.3f}",
            ],
            [
                "bare model.predict, 100 rows (lowest of 5 batch medians)",
                "-",
                f"{mw_setup['predict_100_s'] * 1e3:.3f}",
            ],
        ]
    for w in workers:
        for attr, what in (("ready_s", "first 200"), ("settled_s", "all workers idle")):
            got = {
                name: getattr(runs[(name, w)], attr) if (name, w) in runs else None
                for name in SERVERS
            }
            setup_rows.append(
                [
                    f"server start -> {what}, workers {w} [empty ASGI: {fmt_s_ms(got['floor'])}]",
                    fmt_s_ms(got["mlflow"]),
                    fmt_s_ms(got["mw"]),
                ]
            )
    print(table(setup_rows, ["step (ms)", "mlflow", "modelward"]))
    if args.skip_mlflow:
        print("\n* published figure (MLflow not run)")
    mlflow_note = ""
    if ml_setup:
        mlflow_note = (
            f"; MLflow's model: same estimator, predictions equal on "
            f"{ml_setup['rows_compared']} rows"
        )
    print(
        f"\n`mw data add` of the CSV (whole command): {mw_setup.get('data_add_s', 0) * 1e3:,.0f} "
        f"ms; stored format: {mw_setup.get('format')}{mlflow_note}."
    )

    # Targets.
    target_rows: list[list[str]] = []
    results: list[bool | None] = []
    c_hi, c_lo = max(concs), min(concs)
    for w in workers:
        mw = load_of("mw", w, 1, c_hi)
        ml = load_of("mlflow", w, 1, c_hi)
        base = ml.rps if ml and ml.valid else None
        source = "measured"
        if base is None and args.skip_mlflow:
            base, source = REFERENCE["rps_1row_c8"], "published"
        ratio = mw.rps / base if mw and mw.valid and base else None
        ok = None if ratio is None else ratio >= TARGET_RPS_X
        results.append(ok)
        target_rows.append(
            [
                f"1-row req/s at c{c_hi}, workers {w}: mw / mlflow ({source})",
                fmt_x(ratio),
                f">= {TARGET_RPS_X:.0f}x",
                verdict(ok),
            ]
        )
    for w in workers:
        for conc in (c_lo, c_hi):
            mw = load_of("mw", w, 1, conc)
            floor_ms = floor_p50_ms(runs, predict_s, 1, conc, w)
            ratio = mw.p50_ms / floor_ms if mw and mw.valid and floor_ms else None
            ok = None if ratio is None else ratio <= TARGET_P50_X
            results.append(ok)
            target_rows.append(
                [
                    f"1-row p50 at c{conc}, workers {w}: mw / floor "
                    f"({fmt_ms(mw.p50_ms) if mw else '-'} / {fmt_ms(floor_ms)} ms)",
                    fmt_x(ratio),
                    f"<= {TARGET_P50_X:.0f}x",
                    verdict(ok),
                ]
            )
            if c_lo == c_hi:
                break
    if mw_setup:
        for label, key in (
            ("register an already-logged model (mw.models.register)", "register_s"),
            ("log_model(name=...) + register, warm", "log_register_warm_s"),
            ("log_model(name=...) + register, first call in the process", "log_register_cold_s"),
        ):
            ok = mw_setup[key] < TARGET_REGISTER_S
            results.append(ok)
            target_rows.append(
                [
                    label,
                    f"{mw_setup[key] * 1e3:,.1f} ms",
                    f"< {TARGET_REGISTER_S * 1e3:.0f} ms",
                    verdict(ok),
                ]
            )
    for w in workers:
        run = runs.get(("mw", w))
        ready_s = run.ready_s if run else None
        ok = None if ready_s is None else ready_s < TARGET_READY_S
        results.append(ok)
        target_rows.append(
            [
                f"mw serve ready, workers {w}",
                f"{ready_s:.2f} s" if ready_s else "-",
                f"< {TARGET_READY_S:.0f} s",
                verdict(ok),
            ]
        )
    print()
    print(table(target_rows, ["target", "measured", "target", "result"]))
    if failures:
        print("\nFailed steps:")
        for f in failures:
            lines = [x.strip() for x in f.strip().splitlines() if x.strip()]
            print(f"- {' ... '.join(dict.fromkeys([lines[0], lines[-1]]))[:400]}")
    return not failures and all(r is True for r in results)


if __name__ == "__main__":
    sys.exit(main())
