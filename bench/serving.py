"""Model serving benchmark: ``mw serve`` against its floor and ``mlflow models serve``.

Run from the repository root::

    python bench/serving.py --rounds 2 --profile     # the README figures, ~12 min
    python bench/serving.py                          # one round, ~5 min
    python bench/serving.py --duration 3 --skip-mlflow --no-alternatives   # ~2 min

Two models, each served by every server in turn, in one run (issue 8, item 7):

- ``numeric``: scikit-learn's breast-cancer set (569 rows x 30 numbers),
  ``LogisticRegression(solver="newton-cholesky")``, no transform;
- ``transformed``: palmerpenguins' CSV prepared by a transform spec (median fill,
  most frequent sex, z-score, one_hot of ``island`` and ``sex``, drop ``year``), then
  ``LogisticRegression``; requests send the raw columns. MLflow serves the same
  preparation and estimator as one scikit-learn pipeline.

Servers, one at a time on 127.0.0.1, each on a fresh copy of the home:

- ``floor``: a bare ASGI app (``_serving_floor_app.py``) that parses the JSON with
  orjson, builds the feature matrix with NumPy (the transform hand-written from the
  fitted constants), calls the same ``model.predict`` and writes the answer, on the
  same uvicorn (uvloop + httptools) with ``mw serve``'s settings;
- ``mlflow``: ``mlflow models serve --env-manager local`` (mlflow 3.17.2 in
  ``bench/.venv-mlflow``, installed on first use);
- ``mw``: ``mw serve MODEL@production`` with its default options (prediction log on,
  monitor every 10 s, metrics).

Load: ``wrk -t1 -cC`` (keep-alive), a 2 s warm-up then ``--duration`` s, single-row
bodies: ``POST /invocations`` with ``dataframe_split`` and ``POST /predict`` with
``instances`` as objects (MLflow: the same ``instances`` body on ``/invocations``).
Answers are checked first (the predictions modelward's own model makes). Per cell:
requests/s, p50/p99 (wrk's histogram), errors (a cell with any is invalid), server CPU
ms per request (/proc). ``--rounds N`` repeats the whole sequence and keeps each cell's
best valid run.

Alternatives (numeric model, ``/invocations``, unless ``--no-alternatives``): the floor
under granian, on uvicorn with asyncio + h11, with msgspec for JSON, ``mw serve``'s
app under granian (``_serving_mw_granian.py``), and ``mw serve --batch-rows 0`` (one
model call per request, as the floor makes: what stacking concurrent requests gains).
Start-up: ``mw serve`` ready (first 200 from ``GET /ready``) with 1 and with 2 workers.

Targets, one worker, 8 connections, both models and both routes: mw requests/s >= 0.8x
the floor's and >= 20x MLflow's, mw p50 <= 1.5x the floor's; ``mw serve --workers 2``
ready < 3 s. Exit status 0 only if every target is met and no step failed.

Needs ``wrk`` (Debian: ``apt-get install -y wrk``). ``--profile`` runs one extra,
unreported load on ``mw serve`` (numeric, ``/invocations``) under py-spy (installed on
first use into ``bench/.venv-py-spy``; raw stacks kept in ``bench/_data/serving/pyspy/``)
and prints where the time goes.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import math
import os
import resource
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
from _serving_model import TARGET

MLFLOW_REQ = "mlflow==3.17.2"
PYSPY_REQ = "py-spy"
MW_WORKER = BENCH_DIR / "_serving_mw_worker.py"
MLFLOW_WORKER = BENCH_DIR / "_serving_mlflow_worker.py"
FLOOR_APP = BENCH_DIR / "_serving_floor_app.py"
MW_GRANIAN = BENCH_DIR / "_serving_mw_granian.py"
CSV_PATH = DATA_DIR / "serving" / "breast_cancer.csv"
PENGUINS_PATH = DATA_DIR / "serving" / "penguins.csv"
PROFILE_DIR = DATA_DIR / "serving"

TARGET_FLOOR_RPS_X = 0.8  # mw / floor requests/s
TARGET_FLOOR_P50_X = 1.5  # mw p50 / floor p50
TARGET_MLFLOW_X = 20.0  # mw / MLflow requests/s
TARGET_READY_S = 3.0  # mw serve --workers 2

MODELS = ("numeric", "transformed")
MW_REF = {"numeric": "bench-clf@production", "transformed": "bench-peng@production"}
ROUTES = ("/invocations", "/predict")
SERVERS = ("floor", "mlflow", "mw")
ALTERNATIVES = (
    "floor-granian",
    "floor-asyncio-h11",
    "floor-msgspec",
    "mw-granian",
    "mw-per-request",
)
SERVER_LABEL = {
    "floor": "floor (uvicorn, orjson)",
    "mlflow": "mlflow models serve",
    "mw": "mw serve",
    "floor-granian": "floor on granian",
    "floor-asyncio-h11": "floor on uvicorn asyncio + h11",
    "floor-msgspec": "floor with msgspec",
    "mw-granian": "mw serve's app on granian",
    "mw-per-request": "mw serve --batch-rows 0 (one model call per request)",
}

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


HANDLER = "PredictRoute._answer (modelward/serving/endpoints.py)"
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


# --------------------------------------------------------------------------- servers


@dataclass
class Setup:
    """What the servers need: environments, what MLflow serves, expected answers."""

    mw_env: dict[str, str]
    mlflow_env: dict[str, str]
    mlflow_bin: Path | None
    mlflow_uris: dict[str, str] = field(default_factory=dict)  # model -> models:/m-...
    mw_args: list[str] = field(default_factory=list)
    starts: int = 0

    def command(
        self, server: str, model: str, port: int, w: int
    ) -> tuple[list[str], dict[str, str], str]:
        """(argv, environment, readiness URL) for `server` serving `model` on `port`."""
        base = f"http://127.0.0.1:{port}"
        where = ["--host", "127.0.0.1", "--port", str(port), "--workers", str(w)]
        if server == "mlflow":
            assert self.mlflow_bin is not None
            cmd = [str(self.mlflow_bin / "mlflow"), "models", "serve"]
            cmd += ["-m", self.mlflow_uris[model], "--env-manager", "local", *where]
            return cmd, self.mlflow_env, f"{base}/ping"
        env = self._fresh_home()
        if server.startswith("floor"):
            env["FLOOR_MODEL"] = MW_REF[model]
            extra = {
                "floor": [],
                "floor-granian": ["--server", "granian"],
                "floor-asyncio-h11": ["--plain-asyncio"],
                "floor-msgspec": ["--json", "msgspec"],
            }[server]
            return [sys.executable, str(FLOOR_APP), *where, *extra], env, f"{base}/ready"
        if server == "mw-granian":
            env["MW_REF"] = MW_REF[model]
            return [sys.executable, str(MW_GRANIAN), *where], env, f"{base}/ready"
        cmd = [*mw_command(), "serve", MW_REF[model], *where, *self.mw_args]
        if server == "mw-per-request":
            cmd += ["--batch-rows", "0"]
        return cmd, env, f"{base}/ready"

    def _fresh_home(self) -> dict[str, str]:
        # Each server starts from a copy of the home as registration left it, so the
        # prediction log (and the monitor's work on it) of one run does not carry over.
        home = Path(self.mw_env["MODELWARD_HOME"])
        self.starts += 1
        fresh = home.with_name(f"{home.name}-serve-{self.starts}")
        shutil.copytree(home, fresh)
        return {**self.mw_env, "MODELWARD_HOME": str(fresh)}


@dataclass
class Bodies:
    """The request bodies of one model (the same bytes for every server) and the answer."""

    files: dict[str, Path]  # route -> body file
    luas: dict[str, Path]
    expected: Any  # the prediction for the row


def make_bodies(model: str, columns: list[str], row: list[Any], expected: Any, tmp: Path) -> Bodies:
    files, luas = {}, {}
    for route in ROUTES:
        if route == "/invocations":
            payload: dict[str, Any] = {"dataframe_split": {"columns": columns, "data": [row]}}
        else:
            payload = {"instances": [dict(zip(columns, row, strict=True))]}
        slug = route.strip("/")
        files[route] = tmp / f"body-{model}-{slug}.json"
        files[route].write_text(json.dumps(payload))
        luas[route] = tmp / f"post-{model}-{slug}.lua"
        luas[route].write_text(WRK_LUA.format(body=files[route]))
    return Bodies(files, luas, expected)


def url_for(server: str, port: int, route: str) -> str:
    # MLflow's scoring server has no /predict: it takes the same `instances` body on
    # /invocations (its protocol reads that key too).
    return f"http://127.0.0.1:{port}{'/invocations' if server == 'mlflow' else route}"


def bench_server(
    run: ServerRun,
    model: str,
    setup: Setup,
    bodies: Bodies,
    args: argparse.Namespace,
    routes: tuple[str, ...],
    pyspy_bin: Path | None,
    tmp: Path,
    failures: list[str],
) -> dict[str, Any] | None:
    """Start one server, time it to ready, check it, load it on every route, stop it."""
    server, w = run.server, run.workers
    label = f"{SERVER_LABEL[server]} ({model}, workers {w})"
    port = free_port()
    cmd, env, ready_url = setup.command(server, model, port, w)
    log(f"{label}: starting on port {port}")
    srv = Server(cmd, env, tmp / f"{server}-{model}-w{w}-{len(run.ready_all)}.log")
    profile = None
    try:
        ready_s = srv.wait_ready(ready_url, args.ready_timeout)
        run.add_ready(ready_s)
        run.add_settled(srv.wait_settled(args.ready_timeout))
        log(f"{label}: ready in {ready_s:.2f} s, idle at {run.settled_all[-1]:.2f} s")
        for route in routes:
            url = url_for(server, port, route)
            status, answer = post_json(url, bodies.files[route].read_bytes())
            got = answer.get("predictions") if isinstance(answer, dict) else None
            if status != 200 or got is None or [str(v) for v in got] != [str(bodies.expected)]:
                raise BenchError(f"{server} {route}: answered {status}: {str(answer)[:300]}")
        if args.load_seconds == 0:
            return None
        for route in routes:
            url = url_for(server, port, route)
            lua = bodies.luas[route]
            for conc in args.concs:
                if args.warmup:
                    run_wrk(url, lua, conc, args.warmup, srv.proc.pid)
                load = run_wrk(url, lua, conc, args.load_seconds, srv.proc.pid)
                run.add_load(f"{route} c{conc}", load)
                log(
                    f"  {route} c{conc}: {load.rps:,.0f} req/s, p50 {load.p50_ms:.2f} ms, "
                    f"p99 {load.p99_ms:.2f} ms, errors {load.errors}"
                )
                if not load.valid:
                    failures.append(f"{server} {model} {route} c{conc}: {load.errors} errors")
        if pyspy_bin:
            # An extra, unreported run under py-spy, so sampling does not skew figures.
            route, conc = "/invocations", max(args.concs)
            spy = pyspy_start(pyspy_bin, worker_pids(srv.proc.pid, w), args.load_seconds, tmp)
            sampled = run_wrk(
                url_for(server, port, route),
                bodies.luas[route],
                conc,
                args.load_seconds,
                srv.proc.pid,
            )
            files = pyspy_finish(spy, args.load_seconds + 30)
            keep_dir = PROFILE_DIR / "pyspy"
            shutil.rmtree(keep_dir, ignore_errors=True)
            keep_dir.mkdir(parents=True)
            for f in files:
                shutil.copy(f, keep_dir / f.name)
            profile = summarize_stacks(files)
            profile["cpu_ms_per_req"] = sampled.server_cpu_ms_per_req
            profile["rps"] = sampled.rps
            log(f"py-spy stacks kept in {keep_dir}")
    except BenchError as exc:
        run.error = str(exc)
        failures.append(f"{server} {model} w{w}: {exc}")
        log(f"{label} failed: {exc}")
        kept = PROFILE_DIR / f"failed-{server}-{model}-w{w}.log"
        kept.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            shutil.copy(srv.log_path, kept)
            log(f"its output is in {kept}")
    finally:
        srv.stop()
    return profile


# --------------------------------------------------------------------------- main


def ensure_penguins() -> Path:
    """palmerpenguins' CSV (344 rows; NA in numbers and in `sex`), copied once."""
    if not PENGUINS_PATH.is_file():
        try:
            import palmerpenguins
        except ImportError as exc:
            raise BenchError(
                "pip install palmerpenguins (a dev dependency) for the transformed model"
            ) from exc
        PENGUINS_PATH.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(Path(palmerpenguins.__file__).parent / "data" / "penguins.csv", PENGUINS_PATH)
    return PENGUINS_PATH


def penguin_row(path: Path, columns: list[str]) -> list[Any]:
    """The first complete row of the penguins CSV, in `columns` order, typed as JSON."""
    with path.open(newline="") as fh:
        for record in csv.DictReader(fh):
            if all(record[c] not in ("", "NA") for c in columns):
                return [_typed(record[c]) for c in columns]
    raise BenchError("no complete row in the penguins CSV")


def _typed(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=int, default=10, help="seconds of load per measurement")
    p.add_argument("--warmup", type=int, default=2, help="seconds of discarded load before each")
    p.add_argument("--concurrency", default="8", help="connections, comma-separated")
    p.add_argument("--models", default=",".join(MODELS), help="numeric,transformed")
    p.add_argument("--skip-mlflow", action="store_true", help="no MLflow")
    p.add_argument("--no-alternatives", action="store_true", help="skip the stack alternatives")
    p.add_argument("--rounds", type=int, default=1, help="repeat everything; keep each cell's best")
    p.add_argument("--profile", action="store_true", help="py-spy mw serve under load")
    p.add_argument(
        "--mw-serve-args", default="", help='extra options for mw serve, e.g. "--log-sample 0"'
    )
    p.add_argument("--ready-timeout", type=float, default=120, help="seconds for a server")
    p.add_argument("--timeout", type=float, default=900, help="limit for each set-up step")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (logs, stores)")
    p.add_argument("--json-out", type=Path, help="also write the raw results to this file")
    args = p.parse_args(argv)
    args.concs = [int(x) for x in args.concurrency.split(",")]
    args.load_seconds = args.duration
    models = [m for m in args.models.split(",") if m]
    if args.duration < 1 or args.warmup < 0 or args.rounds < 1 or not set(models) <= set(MODELS):
        p.error(
            "--duration and --rounds must be >= 1, --warmup >= 0, --models of " + ",".join(MODELS)
        )
    if shutil.which("wrk") is None:
        print("wrk is not installed (Debian: apt-get install -y wrk)", file=sys.stderr)
        return 2

    machine = machine_line()
    log(f"machine: {machine}")
    (DATA_DIR / "tmp").mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="serving-", dir=DATA_DIR / "tmp"))
    failures: list[str] = []
    runs: dict[tuple[str, str, int], ServerRun] = {}  # (server, model, workers)
    profile: dict[str, Any] | None = None
    ml_setup: dict[str, Any] = {}
    mw_setup: dict[str, Any] = {}
    try:
        csv_path, penguins = ensure_csv(), ensure_penguins()
        columns, features = read_features(csv_path)

        # 1. modelward: both models registered in a fresh home.
        env = mw_env()
        for var in ("MODELWARD_DB", "MODELWARD_ARTIFACTS", "MODELWARD_URI"):
            env.pop(var, None)
        env["MODELWARD_HOME"] = str(tmp / "mw-home")
        log("modelward: mw data add, fit, log_model + register both models (fresh home)")
        measure(
            [*mw_command(), "data", "add", str(csv_path), "--name", "bc"],
            env=env,
            timeout=args.timeout,
        ).check()
        mw_json = tmp / "mw-worker.json"
        measure(
            [
                sys.executable,
                str(MW_WORKER),
                "logreg",
                str(mw_json),
                "--predict-calls",
                "200",
                "--transformed",
                str(penguins),
            ],
            cwd=tmp,
            env=env,
            timeout=args.timeout,
        ).check()
        mw_setup = json.loads(mw_json.read_text())
        peng = mw_setup["transformed"]
        if not peng["plan_compiled"]:
            failures.append("the transformed model's transform did not compile to the NumPy path")
        row = penguin_row(penguins, peng["columns"])
        all_rows = penguin_rows_expected(penguins, peng)
        bodies = {
            "numeric": make_bodies(
                "numeric", columns, features[0], mw_setup["predictions"][0], tmp
            ),
            "transformed": make_bodies(
                "transformed", peng["columns"], row, all_rows[tuple(map(str, row))], tmp
            ),
        }

        # 2. MLflow: the same estimators (the transformed one as a pipeline), logged.
        ml_env = dict(os.environ)
        mlflow_bin = None
        if not args.skip_mlflow:
            try:
                mlflow_bin = ensure_venv("mlflow", [MLFLOW_REQ])
                work = tmp / "mlflow"
                work.mkdir()
                log("mlflow: fit, check predictions, log_model")
                out = measure(
                    [
                        str(mlflow_bin / "python"),
                        str(MLFLOW_WORKER),
                        "logreg",
                        str(csv_path),
                        str(work),
                        str(mw_json),
                        "--transformed",
                        str(penguins),
                    ],
                    cwd=work,
                    timeout=args.timeout,
                ).check()
                ml_setup = last_json_line(out.stdout)
                if ml_setup["prediction_mismatches"] or not ml_setup["same_columns"]:
                    raise BenchError(
                        "MLflow's numeric model differs: "
                        f"{ml_setup['prediction_mismatches']} predictions"
                    )
                log(
                    f"mlflow: same predictions on {ml_setup['rows_compared']} rows (numeric); "
                    f"{ml_setup['transformed']['prediction_mismatches']} of "
                    f"{ml_setup['transformed']['rows_compared']} differ (transformed pipeline)"
                )
                ml_env["PATH"] = f"{mlflow_bin}{os.pathsep}{ml_env.get('PATH', '')}"
                ml_env["MLFLOW_TRACKING_URI"] = ml_setup["tracking_uri"]
            except BenchError as exc:
                failures.append(f"mlflow set-up: {exc}")
                log(f"mlflow set-up failed: {exc}")
                mlflow_bin = None
        setup = Setup(env, ml_env, mlflow_bin, mw_args=args.mw_serve_args.split())
        if ml_setup:
            setup.mlflow_uris = {
                "numeric": ml_setup["model_uri"],
                "transformed": ml_setup["transformed"]["model_uri"],
            }

        pyspy_bin = ensure_venv("py-spy", [PYSPY_REQ]) if args.profile else None

        # 3. the servers, one at a time; with --rounds, the whole sequence again.
        for round_no in range(1, args.rounds + 1):
            log(f"round {round_no} of {args.rounds} (load average {os.getloadavg()[0]:.1f})")
            plan: list[tuple[str, str, int, tuple[str, ...]]] = []
            for model in models:
                for server in SERVERS:
                    if server != "mlflow" or mlflow_bin is not None:
                        plan.append((server, model, 1, ROUTES))
            if not args.no_alternatives:
                plan += [(alt, "numeric", 1, ("/invocations",)) for alt in ALTERNATIVES]
            plan.append(("mw", "numeric", 2, ()))  # start-up with two workers
            for server, model, w, routes in plan:
                run = runs.setdefault((server, model, w), ServerRun(server, w))
                spy = (
                    pyspy_bin
                    if round_no == 1 and (server, model, w) == ("mw", "numeric", 1)
                    else None
                )
                if not routes:
                    saved, args.load_seconds = args.load_seconds, 0
                got = bench_server(
                    run, model, setup, bodies[model], args, routes or ROUTES, spy, tmp, failures
                )
                if not routes:
                    args.load_seconds = saved
                profile = got or profile
    except BenchError as exc:
        failures.append(str(exc))
        log(f"failed: {exc}")
    finally:
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    ok = report(args, runs, models, ml_setup, failures, machine)
    if profile:
        print_profile(profile)
    if args.json_out:
        raw = {
            "machine": machine,
            "args": {k: str(v) for k, v in vars(args).items()},
            "mlflow": ml_setup,
            "runs": [
                {"key": list(key), **asdict(r), "loads": {k: asdict(v) for k, v in r.loads.items()}}
                for key, r in runs.items()
            ],
            "failures": failures,
            "profile": profile,
        }
        args.json_out.write_text(json.dumps(raw, indent=1, default=str))
    return 0 if ok else 1


def penguin_rows_expected(path: Path, peng: dict[str, Any]) -> dict[tuple[str, ...], str]:
    """modelward's prediction for each raw penguins row, keyed by its values as text."""
    with path.open(newline="") as fh:
        records = list(csv.DictReader(fh))
    return {
        tuple(str(_typed(r[c])) for c in peng["columns"]): pred
        for r, pred in zip(records, peng["predictions"], strict=True)
    }


def print_profile(prof: dict[str, Any]) -> None:
    cpu = prof.get("cpu_ms_per_req") or 0.0
    print(
        f"\n### Where `mw serve` spends its time (numeric model, /invocations, "
        f"{prof['rps']:,.0f} req/s, {cpu:.2f} ms server CPU per request; "
        f"{prof['samples']} py-spy samples, all threads, on-CPU only)\n"
    )
    if not prof["samples"]:
        print("No samples.")
        return
    rows = [
        [("  " * d) + ("- " if d else "") + name, f"{share:.1%}", f"{share * cpu:.3f}"]
        for d, name, share in prof["tree"]
    ]
    print(table(rows, ["in the request handler (call tree, >= 1% of samples)", "share", "~ms/req"]))
    print(
        f"\nEvent loop outside the handler (uvicorn, asyncio): {prof['loop_share']:.1%}; "
        f"other threads: {prof['threads_share']:.1%}\n"
    )
    rows = [[name, f"{share:.1%}", f"{share * cpu:.3f}"] for name, share in prof["loop"]]
    print(table(rows, ["event loop, function (self)", "share", "~ms/req"]))
    if prof["threads"]:
        rows = [[name, f"{share:.1%}", f"{share * cpu:.3f}"] for name, share in prof["threads"]]
        print()
        print(table(rows, ["other threads run", "share", "~ms/req"]))


def _cell(load: Load | None) -> str:
    if load is None:
        return "-"
    return f"{fmt_rps(load)} / {fmt_ms(load.p50_ms)} / {fmt_ms(load.p99_ms)}"


def report(
    args: argparse.Namespace,
    runs: dict[tuple[str, str, int], ServerRun],
    models: list[str],
    ml_setup: dict[str, Any],
    failures: list[str],
    machine: str,
) -> bool:
    def load_of(server: str, model: str, key: str, w: int = 1) -> Load | None:
        run = runs.get((server, model, w))
        return run.loads.get(key) if run else None

    print(f"\n## Serving benchmark ({now_utc()})\n")
    print(f"Machine: {machine}")
    print(
        f"modelward {modelward_version()}, mlflow {ml_setup.get('mlflow_version', 'not run')}; "
        f"mw serve {args.mw_serve_args or '(default options)'}; one worker; wrk -t1, "
        f"{args.warmup} s warm-up + {args.duration} s per cell, 1-row requests"
        + (f", best of {args.rounds} rounds" if args.rounds > 1 else "")
        + "\n"
    )
    rows_out: list[list[str]] = []
    results: list[bool | None] = []
    for model in models:
        for route in ROUTES:
            for conc in args.concs:
                key = f"{route} c{conc}"
                fl, ml, mw = (load_of(s, model, key) for s in SERVERS)
                rps_x = mw.rps / fl.rps if mw and fl and mw.valid and fl.valid else None
                p50_x = mw.p50_ms / fl.p50_ms if mw and fl and mw.valid and fl.valid else None
                ml_x = mw.rps / ml.rps if mw and ml and mw.valid and ml.valid else None
                if conc == 8:
                    results += [
                        None if rps_x is None else rps_x >= TARGET_FLOOR_RPS_X,
                        None if p50_x is None else p50_x <= TARGET_FLOOR_P50_X,
                    ]
                    if not args.skip_mlflow:
                        results.append(None if ml_x is None else ml_x >= TARGET_MLFLOW_X)
                rows_out.append(
                    [
                        f"{model}, {route}, c{conc}",
                        *(_cell(x) for x in (fl, ml, mw)),
                        fmt_x(rps_x),
                        fmt_x(p50_x),
                        fmt_x(ml_x),
                        " / ".join(
                            fmt_ms(x.server_cpu_ms_per_req) if x else "-" for x in (fl, ml, mw)
                        ),
                    ]
                )
    print(
        table(
            rows_out,
            [
                "model, route, connections",
                "floor req/s / p50 / p99 ms",
                "mlflow req/s / p50 / p99 ms",
                "mw req/s / p50 / p99 ms",
                f"mw / floor req/s (>= {TARGET_FLOOR_RPS_X}x)",
                f"mw / floor p50 (<= {TARGET_FLOOR_P50_X}x)",
                f"mw / mlflow req/s (>= {TARGET_MLFLOW_X:.0f}x)",
                "server CPU ms/req floor / mlflow / mw",
            ],
        )
    )
    if ml_setup.get("transformed"):
        t = ml_setup["transformed"]
        print(
            f"\nMLflow serves the same estimators (the transformed model as one scikit-learn "
            f"pipeline); predictions equal modelward's on {ml_setup['rows_compared']} rows "
            f"(numeric) and differ on {t['prediction_mismatches']} of {t['rows_compared']} "
            "(transformed)."
        )
    alt_rows = []
    base = load_of("floor", "numeric", f"/invocations c{max(args.concs)}")
    mw_base = load_of("mw", "numeric", f"/invocations c{max(args.concs)}")
    for server in ("floor", *ALTERNATIVES[:3], "mw", *ALTERNATIVES[3:]):
        load = load_of(server, "numeric", f"/invocations c{max(args.concs)}")
        ref = mw_base if server.startswith("mw") else base
        if load is None:
            continue
        alt_rows.append(
            [
                SERVER_LABEL[server],
                f"{fmt_rps(load)} / {fmt_ms(load.p50_ms)} / {fmt_ms(load.p99_ms)}",
                fmt_x(load.rps / ref.rps if ref and ref.rps else None),
                fmt_ms(load.server_cpu_ms_per_req),
            ]
        )
    if len(alt_rows) > 2:
        print(f"\nAlternatives (numeric model, /invocations, c{max(args.concs)}, same run):\n")
        print(
            table(
                alt_rows,
                [
                    "stack",
                    "req/s / p50 / p99 ms",
                    "req/s vs its baseline",
                    "server CPU ms/req (granian: its workers not counted)",
                ],
            )
        )
    start_rows = []
    for (server, model, w), run in sorted(runs.items()):
        if model == "numeric" and run.ready_s is not None and server in SERVERS:
            start_rows.append(
                [
                    f"{SERVER_LABEL[server]}, {w} worker(s)",
                    fmt_s_ms(run.ready_s),
                    fmt_s_ms(run.settled_s),
                ]
            )
    print("\nStart-up (numeric model; ms from process start):\n")
    print(table(start_rows, ["server", "first 200 from /ready (/ping)", "all processes idle"]))
    two = runs.get(("mw", "numeric", 2))
    results.append(None if two is None or two.ready_s is None else two.ready_s < TARGET_READY_S)
    if failures:
        print("\nFailed steps:")
        for f in failures:
            lines = [x.strip() for x in f.strip().splitlines() if x.strip()]
            print(f"- {' ... '.join(dict.fromkeys([lines[0], lines[-1]]))[:400]}")
    verdicts = ", ".join("PASS" if r else ("n/a" if r is None else "FAIL") for r in results)
    print(f"\nTargets ({len(results)}): {verdicts}")
    return not failures and all(r is True for r in results)


if __name__ == "__main__":
    sys.exit(main())
