"""Prediction-log throughput: ``mw serve`` at its peak request rate with the log as
Parquet segments in S3, against logging off (issue [5/5], item 6c).

Run from the repository root::

    python bench/prediction_log.py --rounds 3      # the README figures, ~7 min
    python bench/prediction_log.py --rounds 1 --duration 5   # quick run, ~1 min

One model (scikit-learn's breast-cancer set, ``LogisticRegression``, as in
``bench/serving.py``), trained, registered and aliased ``production`` once per kind of
home; each server then starts on a fresh copy of that home (and, on S3, a fresh bucket
prefix holding a copy of its artifacts). Configurations, one ``mw serve
bench-clf@production`` at a time on 127.0.0.1, with its default options otherwise:

1. ``off``: ``--log-sample 0``, artifacts in S3 -- the floor;
2. ``segments``: the prediction log as Parquet segments beside the artifacts in S3
   (``MODELWARD_PREDICTION_LOG=segments``) -- the target;
3. ``database``: the log in the metadata database (SQLite), local artifacts -- reference.

S3 is ``moto_server`` on a free 127.0.0.1 port (started here, stopped by its PID).

Load: ``wrk -t1 -cC`` (keep-alive; bench/serving.py's ``run_wrk``), a warm-up then
``--duration`` s of single-row ``POST /predict`` bodies (``instances``) that cycle
through the dataset's 569 rows, the same for every server; the answer to the first is
checked first. The warm-up (5 s) covers the server's start-up work: a monitoring
server's background child imports scipy and pandas and loads the model's reference
statistics (~2 s of CPU) just after the server is ready. Traffic of one repeated row
(``--same-row``) is the worst case for the monitor's drift rounds: the window is one
point, so scipy's exact KS p-value takes ~10 ms per feature instead of ~1. Per run:
requests/s, p50 and p99 (wrk's latency histogram), server CPU per request.
Nothing lost: after wrk ends, the server's own count of answered requests
(``modelward_requests_total{route="/predict",status="200"}`` from ``GET /metrics``, the
warm-up and check included) is read, the server gets SIGTERM (by its PID) and must exit
0; then the log is read back (``prediction_log_store``: ``.count`` and
``.request_ids``, in a child process with the server's settings) and must hold exactly
that many records under as many distinct request ids. ``--rounds N`` repeats the three
configurations, interleaved (each round starts one later in the list); each figure is
its configuration's best over valid rounds; every round must lose nothing.

Targets: segments' p50 and p99 <= 1.10x the floor's, requests/s >= 0.9x; logged ==
answered in every round (segments and database). Exit status 0 only if all are met.

Needs ``wrk`` (Debian: ``apt-get install -y wrk``) and moto (a dev dependency).
``--profile`` adds one extra, unreported load on the first segments server under
``py-spy record --gil`` (installed on first use into ``bench/.venv-py-spy``; raw stacks
kept in ``bench/_data/prediction_log/pyspy/``) and prints which threads hold the GIL.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(BENCH_DIR.parent))

from _common import (  # noqa: E402
    DATA_DIR,
    BenchError,
    ensure_venv,
    log,
    machine_line,
    measure,
    modelward_version,
    mw_command,
    mw_env,
    now_utc,
    table,
)
from tests import s3 as moto  # noqa: E402

from serving import (  # noqa: E402
    WRK_LUA,
    Load,
    Server,
    ensure_csv,
    fmt_ms,
    fmt_x,
    free_port,
    post_json,
    read_features,
    run_wrk,
)
from serving import _frame_name as frame_name  # noqa: E402

MODEL = "bench-clf"
REF = f"{MODEL}@production"
CONFIGS = ("off", "segments", "database")
LABEL = {
    "off": "logging off (--log-sample 0), S3 artifacts",
    "segments": "Parquet segments in S3",
    "database": "metadata database (SQLite), local artifacts",
}
PROFILE_DIR = DATA_DIR / "prediction_log" / "pyspy"
TARGET_LATENCY_X = 1.10  # segments p50 and p99 / the floor's
TARGET_RPS_X = 0.9  # segments req/s / the floor's
# After bench/serving.py's script: each connection sends the bodies in turn, one per line.
CYCLE_LUA = """
local requests = {{}}
local next_request = 0
init = function(args)
  for line in io.lines("{bodies}") do
    requests[#requests + 1] = wrk.format(nil, nil, nil, line)
  end
end
request = function()
  next_request = next_request % #requests + 1
  return requests[next_request]
end
"""
ANSWERED = re.compile(
    r'^modelward_requests_total\{route="/predict",status="(\d+)"\}\s+([0-9.e+]+)$', re.M
)


@dataclass
class Run:
    """One server start: its load and what it answered and logged."""

    config: str
    load: Load | None = None
    answered: int | None = None  # 200s by the server's own counter
    not_ok: int = 0  # /predict answers other than 200
    logged: int | None = None
    distinct_ids: int | None = None
    exit_code: int | None = None
    stop_s: float | None = None
    moto_cpu_s: float | None = None  # moto_server's CPU during the measured load
    children_cpu_s: dict[str, float] | None = None  # of the server's child processes, by kind
    error: str | None = None

    @property
    def lossless(self) -> bool:
        if self.config == "off":
            return self.logged == 0
        return self.answered is not None and self.logged == self.answered == self.distinct_ids

    @property
    def valid(self) -> bool:
        return (
            self.error is None
            and self.load is not None
            and self.load.valid
            and self.not_ok == 0
            and self.exit_code == 0
        )


@dataclass
class Homes:
    """The registered homes to copy from, and how to make each server's settings."""

    tmp: Path
    base_env: dict[str, str]
    bucket: str
    s3_home: Path
    local_home: Path
    s3: Any
    starts: int = 0
    expected: Any = None
    profile_bin: Path | None = None  # py-spy's bin/ with --profile
    profile: dict[str, Any] | None = None

    def fresh(self, config: str) -> dict[str, str]:
        """A fresh copy of the home for `config` (on S3: a fresh prefix with the artifacts)."""
        self.starts += 1
        n = self.starts
        source = self.local_home if config == "database" else self.s3_home
        home = self.tmp / f"home-{n}-{config}"
        shutil.copytree(source, home)
        env = {**self.base_env, "MODELWARD_HOME": str(home)}
        env["XDG_CACHE_HOME"] = str(self.tmp / f"cache-{n}")
        if config == "database":
            env["MODELWARD_PREDICTION_LOG"] = "database"
            return env
        prefix = f"run-{n}"
        copy_prefix(self.s3, self.bucket, "base/", f"{prefix}/")
        env["MODELWARD_ARTIFACTS"] = f"s3://{self.bucket}/{prefix}"
        env["MODELWARD_PREDICTION_LOG"] = "segments"
        return env


def copy_prefix(s3: Any, bucket: str, source: str, target: str) -> None:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=source)
    for page in pages:
        for item in page.get("Contents", ()):
            key = item["Key"]
            s3.copy_object(
                Bucket=bucket,
                Key=target + key[len(source) :],
                CopySource={"Bucket": bucket, "Key": key},
            )


# --------------------------------------------------------------------------- load


def profile_load(
    homes: Homes, url: str, lua: Path, args: argparse.Namespace, pid: int
) -> dict[str, Any]:
    """An extra, unreported load under py-spy (samples of the thread holding the GIL)."""
    assert homes.profile_bin is not None
    raw = homes.tmp / "pyspy-segments.txt"
    cmd = [str(homes.profile_bin / "py-spy"), "record", "--pid", str(pid), "--gil"]
    cmd += ["--duration", str(args.duration), "--rate", "250", "--format", "raw"]
    cmd += ["--nonblocking", "--output", str(raw)]
    spy = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    load = run_wrk(url, lua, args.connections, args.duration, pid)
    try:
        _, err = spy.communicate(timeout=args.duration + 30)
    except subprocess.TimeoutExpired:
        spy.kill()
        _, err = spy.communicate()
    if not raw.is_file() or not raw.stat().st_size:
        raise BenchError(f"py-spy gave no samples: {(err or '').strip()[-300:]}")
    PROFILE_DIR.mkdir(parents=True, exist_ok=True)
    shutil.copy(raw, PROFILE_DIR / raw.name)
    log(f"py-spy stacks kept in {PROFILE_DIR / raw.name}")
    return {"rows": gil_profile(raw), "rps": load.rps, "p99_ms": load.p99_ms}


def gil_profile(raw: Path, depth: int = 4, min_share: float = 0.01) -> list[tuple[int, str, float]]:
    """py-spy raw stacks -> (depth, name, share of samples): the event loop (the main
    thread) and each other thread by the function it runs, with the call tree below it."""
    tree: Counter[tuple[str, ...]] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [frame_name(f) for f in stack.split(";")]
        at = next((i for i, f in enumerate(frames) if f.startswith("Thread.run (")), None)
        if at is None:
            tree[("event loop (main thread: uvicorn, the request handler)",)] += n
            continue
        below = [f for f in frames[at + 1 :] if not f.endswith("(threading.py)")]
        for d in range(1, min(len(below), depth) + 1):
            tree[tuple(below[:d])] += n
    if not total:
        return []
    return [
        (len(k) - 1, k[-1], n / total) for k, n in sorted(tree.items()) if n / total >= min_share
    ]


def answered_counts(port: int) -> dict[int, int]:
    """/predict answers by status, from the server's Prometheus counter."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as resp:
        text = resp.read().decode()
    return {int(status): int(float(n)) for status, n in ANSWERED.findall(text)}


def _stat_fields(pid: int) -> list[str]:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2 :].split()


def process_cpu_s(pid: int) -> float:
    fields = _stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


CHILD_KINDS = {"segment_uploader": "uploader", "monitoring.background": "background"}


def children_cpu_s(pid: int) -> dict[tuple[int, str], float]:
    """CPU seconds of each running child process of `pid`, by (pid, kind)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            child = int(entry.name)
            if int(_stat_fields(child)[1]) != pid:
                continue
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            kind = next((k for m, k in CHILD_KINDS.items() if m in cmdline), "other")
            found[(child, kind)] = process_cpu_s(child)
        except (OSError, ValueError, IndexError):
            continue  # exited meanwhile
    return found


def cpu_by_kind(
    before: dict[tuple[int, str], float], after: dict[tuple[int, str], float]
) -> dict[str, float]:
    """CPU seconds each kind of child used between two readings."""
    used: dict[str, float] = {}
    for (child, kind), seconds in after.items():
        used[kind] = used.get(kind, 0.0) + seconds - before.get((child, kind), 0.0)
    return used


COUNT_PY = """
import json
from modelward.monitoring.ports import prediction_log_store
from modelward.store.workspace import open_workspace
store = prediction_log_store(open_workspace())
print(json.dumps({"kind": type(store).__name__, "count": store.count(%(model)r),
                  "ids": len(store.request_ids(%(model)r))}))
"""


def read_log(env: dict[str, str], timeout: float) -> dict[str, Any]:
    """What the prediction log of these settings holds (read by a fresh process)."""
    out = measure([sys.executable, "-c", COUNT_PY % {"model": MODEL}], env=env, timeout=timeout)
    found = json.loads(out.check().stdout.strip().splitlines()[-1])
    assert isinstance(found, dict)
    return found


def bench_config(
    config: str,
    homes: Homes,
    lua: Path,
    body: bytes,
    args: argparse.Namespace,
    moto_pid: int,
) -> Run:
    """Start `mw serve` for `config` on a fresh home, load it, stop it, count its log."""
    run = Run(config)
    env = homes.fresh(config)
    port = free_port()
    cmd = [*mw_command(), "serve", REF, "--host", "127.0.0.1", "--port", str(port)]
    if config == "off":
        cmd += ["--log-sample", "0"]
    srv = Server(cmd, env, homes.tmp / f"serve-{homes.starts}-{config}.log")
    try:
        srv.wait_ready(f"http://127.0.0.1:{port}/ready", args.ready_timeout)
        url = f"http://127.0.0.1:{port}/predict"
        status, answer = post_json(url, body)
        got = answer.get("predictions") if isinstance(answer, dict) else None
        if status != 200 or got != [homes.expected]:
            raise BenchError(f"{config}: /predict answered {status}: {str(answer)[:300]}")
        if args.warmup:
            run_wrk(url, lua, args.connections, args.warmup, srv.proc.pid)
        moto0 = process_cpu_s(moto_pid)
        children0 = children_cpu_s(srv.proc.pid)
        run.load = run_wrk(url, lua, args.connections, args.duration, srv.proc.pid)
        run.moto_cpu_s = process_cpu_s(moto_pid) - moto0
        children1 = children_cpu_s(srv.proc.pid)
        run.children_cpu_s = cpu_by_kind(children0, children1)
        if homes.profile_bin is not None and config == "segments" and homes.profile is None:
            homes.profile = profile_load(homes, url, lua, args, srv.proc.pid)
        time.sleep(0.5)  # a request wrk cut off may still be answered: let it finish
        counts = answered_counts(port)
        run.answered = counts.get(200, 0)
        run.not_ok = sum(n for s, n in counts.items() if s != 200)
        stop_t0 = time.perf_counter()
        os.kill(srv.proc.pid, signal.SIGTERM)
        try:
            run.exit_code = srv.proc.wait(timeout=args.ready_timeout)
        except subprocess.TimeoutExpired as exc:
            raise BenchError(
                f"{config}: still running {args.ready_timeout:.0f} s after SIGTERM"
            ) from exc
        run.stop_s = time.perf_counter() - stop_t0
        found = read_log(env, args.ready_timeout)
        run.logged, run.distinct_ids = int(found["count"]), int(found["ids"])
        if config != "off" and found["kind"] != (
            "SegmentPredictionLog" if config == "segments" else "PredictionLogRepository"
        ):
            raise BenchError(f"{config}: the log read back is a {found['kind']}")
    except (BenchError, OSError, ValueError) as exc:
        run.error = str(exc)
        log(f"{config} failed: {exc}\n{srv.tail()}")
    finally:
        srv.stop()
    return run


# --------------------------------------------------------------------------- set-up


REGISTER = "--register"  # hidden: train, register and alias the model in MODELWARD_HOME


def register(out: Path, csv_path: Path) -> int:
    """In a child process: fit the model on the dataset `bc`, register it, alias it."""
    import warnings

    warnings.filterwarnings("ignore")
    from _serving_model import TARGET, make_model

    import modelward as mw

    df = mw.data.load("bc")
    X, y = df.drop(columns=[TARGET]), df[TARGET]
    model = make_model("logreg").fit(X, y)
    with mw.start_run(experiment="bench") as run:
        version = run.log_model(model, name=MODEL, data="bc")
    mw.models.set_alias(MODEL, version.version, "production")
    out.write_text(json.dumps({"first": model.predict(X.iloc[:1]).tolist()[0]}))
    return 0


def make_home(env: dict[str, str], csv_path: Path, tmp: Path, timeout: float) -> Any:
    """`mw data add` + the model registered in the home of `env`; the first row's answer."""
    measure(
        [*mw_command(), "data", "add", str(csv_path), "--name", "bc"], env=env, timeout=timeout
    ).check()
    out = tmp / f"register-{uuid.uuid4().hex[:6]}.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), REGISTER, str(out), str(csv_path)]
    measure(cmd, env=env, timeout=timeout).check()
    return json.loads(out.read_text())["first"]


# --------------------------------------------------------------------------- report


def best(runs: list[Run]) -> dict[str, float] | None:
    """Each figure's best over the valid runs."""
    loads = [r.load for r in runs if r.valid and r.load is not None]
    if not loads:
        return None
    cpu = [x.server_cpu_ms_per_req for x in loads if x.server_cpu_ms_per_req is not None]
    return {
        "rps": max(x.rps for x in loads),
        "p50": min(x.p50_ms for x in loads),
        "p99": min(x.p99_ms for x in loads),
        "cpu": min(cpu) if cpu else float("nan"),
    }


def report(runs: dict[str, list[Run]], args: argparse.Namespace, machine: str) -> bool:
    print(f"\n## Prediction log throughput ({now_utc()})\n")
    print(f"Machine: {machine}")
    rows_used = "the first row" if args.same_row else "cycling the rows"
    print(
        f"modelward {modelward_version()}; mw serve {REF}, one worker, defaults otherwise; "
        f"wrk -t1 -c{args.connections}, {args.warmup} s warm-up + {args.duration} s, "
        f"1-row POST /predict ({rows_used}); best of {args.rounds} round(s) per figure\n"
    )
    floor = best(runs["off"])
    rows = []
    results: list[bool] = []
    for config in CONFIGS:
        b = best(runs[config])
        rx = b["rps"] / floor["rps"] if b and floor else None
        p50x = b["p50"] / floor["p50"] if b and floor else None
        p99x = b["p99"] / floor["p99"] if b and floor else None
        lossless = all(r.lossless for r in runs[config])
        if config == "segments":
            results += [
                rx is not None and rx >= TARGET_RPS_X,
                p50x is not None and p50x <= TARGET_LATENCY_X,
                p99x is not None and p99x <= TARGET_LATENCY_X,
            ]
        if config != "off":
            results.append(lossless and bool(runs[config]))
        counts = "; ".join(
            f"{r.logged if r.logged is not None else '-'}/"
            f"{r.answered if r.answered is not None else '-'}"
            for r in runs[config]
        )
        rows.append(
            [
                LABEL[config],
                f"{b['rps']:,.0f}" if b else "-",
                fmt_ms(b["p50"]) if b else "-",
                fmt_ms(b["p99"]) if b else "-",
                f"{fmt_x(rx)} / {fmt_x(p50x)} / {fmt_x(p99x)}",
                fmt_ms(b["cpu"]) if b else "-",
                counts,
            ]
        )
    print(
        table(
            rows,
            [
                "prediction log",
                "req/s",
                "p50 ms",
                "p99 ms",
                "vs floor req/s / p50 / p99",
                "server CPU ms/req",
                "logged / answered, per round",
            ],
        )
    )
    print()
    for config in CONFIGS:
        for i, r in enumerate(runs[config], 1):
            x = r.load
            moto_cpu = f"{r.moto_cpu_s:.2f}" if r.moto_cpu_s is not None else "-"
            child_cpu = (
                ", ".join(f"{k} {v:.2f} s" for k, v in sorted(r.children_cpu_s.items())) or "none"
                if r.children_cpu_s is not None
                else "-"
            )
            stop = f"{r.stop_s:.2f}" if r.stop_s is not None else "-"
            figures = (
                f"{x.rps:,.0f} req/s, p50 {x.p50_ms:.2f}, p99 {x.p99_ms:.2f}, "
                f"max {x.max_ms:.1f} ms, wrk errors {x.errors}"
                if x
                else "no load"
            )
            print(
                f"- {config} round {i}: {figures}; answered {r.answered}, other statuses "
                f"{r.not_ok}, logged {r.logged} ({r.distinct_ids} ids); exit {r.exit_code} "
                f"{stop} s after SIGTERM; CPU of moto {moto_cpu} s, of the server's "
                f"children: {child_cpu}"
                + (f"; error: {r.error.splitlines()[0][:200]}" if r.error else "")
            )
    verdicts = ", ".join("PASS" if ok else "FAIL" for ok in results)
    print(
        f"\nTargets (segments req/s >= {TARGET_RPS_X}x, p50 <= {TARGET_LATENCY_X}x, "
        f"p99 <= {TARGET_LATENCY_X}x the floor's; nothing lost: segments, database): {verdicts}"
    )
    return all(results)


def print_profile(prof: dict[str, Any]) -> None:
    print(
        f"\n### Who holds the GIL in `mw serve` with segments (py-spy --gil, an extra "
        f"load: {prof['rps']:,.0f} req/s, p99 {prof['p99_ms']:.1f} ms)\n"
    )
    rows = [
        [("  " * d) + ("- " if d else "") + name, f"{share:.1%}"] for d, name, share in prof["rows"]
    ]
    print(table(rows, ["thread, call tree (>= 1% of samples)", "share of GIL samples"]))


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == REGISTER:
        return register(Path(argv[1]), Path(argv[2]))
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    # 30 s, not 10: a 10-s window holds the monitor's first drift round and a p99 of a
    # few hundred late requests; 30-s rounds of the same code came out steadier
    p.add_argument("--duration", type=int, default=30, help="seconds of measured load")
    p.add_argument("--warmup", type=int, default=5, help="seconds of discarded load before it")
    p.add_argument("--connections", type=int, default=8, help="wrk keep-alive connections")
    p.add_argument("--rounds", type=int, default=3, help="repeat the configurations")
    p.add_argument(
        "--same-row", action="store_true", help="send the first row only (drift's worst case)"
    )
    p.add_argument("--ready-timeout", type=float, default=120, help="seconds for a server")
    p.add_argument("--timeout", type=float, default=600, help="limit for each set-up step")
    p.add_argument("--profile", action="store_true", help="py-spy the segments server once")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (logs, homes)")
    args = p.parse_args(argv)
    if args.duration < 1 or args.warmup < 0 or args.rounds < 1 or args.connections < 1:
        p.error("--duration, --rounds and --connections must be >= 1, --warmup >= 0")
    if shutil.which("wrk") is None:
        print("wrk is not installed (Debian: apt-get install -y wrk)", file=sys.stderr)
        return 2

    machine = machine_line()  # the load average before the bench adds its own
    log(f"machine: {machine}")
    (DATA_DIR / "tmp").mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="prediction-log-", dir=DATA_DIR / "tmp"))
    runs: dict[str, list[Run]] = {c: [] for c in CONFIGS}
    failed: str | None = None
    homes: Homes | None = None
    moto_proc, endpoint = moto.start_moto(tmp / "moto.log")
    try:
        base = mw_env()
        for var in ("MODELWARD_DB", "MODELWARD_ARTIFACTS", "MODELWARD_URI", "AWS_PROFILE"):
            base.pop(var, None)
        base.pop("AWS_ENDPOINT_URL_S3", None)
        base.update(moto.CREDENTIALS)
        base["AWS_ENDPOINT_URL"] = endpoint
        s3 = moto.client(endpoint)
        bucket = f"bench-{uuid.uuid4().hex[:10]}"
        s3.create_bucket(Bucket=bucket)
        csv_path = ensure_csv()
        columns, features = read_features(csv_path)
        homes = Homes(tmp, base, bucket, tmp / "base-s3", tmp / "base-local", s3)
        if args.profile:
            homes.profile_bin = ensure_venv("py-spy", ["py-spy"])
        log("registering the model in a home with S3 artifacts and in one with local ones")
        s3_env = {
            **base,
            "MODELWARD_HOME": str(homes.s3_home),
            "MODELWARD_ARTIFACTS": f"s3://{bucket}/base",
            "XDG_CACHE_HOME": str(tmp / "cache-base"),
        }
        homes.expected = make_home(s3_env, csv_path, tmp, args.timeout)
        local_env = {**base, "MODELWARD_HOME": str(homes.local_home)}
        if make_home(local_env, csv_path, tmp, args.timeout) != homes.expected:
            raise BenchError("the two homes' models answer the first row differently")
        bodies = [
            json.dumps({"instances": [dict(zip(columns, row, strict=True))]})
            for row in (features[:1] if args.same_row else features)
        ]
        body, body_path, bodies_path = bodies[0], tmp / "body.json", tmp / "bodies.jsonl"
        body_path.write_text(body)
        bodies_path.write_text("\n".join(bodies) + "\n")
        lua = tmp / "post.lua"
        lua.write_text(WRK_LUA.format(body=body_path) + CYCLE_LUA.format(bodies=bodies_path))

        for round_no in range(args.rounds):
            order = CONFIGS[round_no % 3 :] + CONFIGS[: round_no % 3]
            log(f"round {round_no + 1} of {args.rounds} (load average {os.getloadavg()[0]:.1f})")
            for config in order:
                run = bench_config(config, homes, lua, body.encode(), args, moto_proc.pid)
                runs[config].append(run)
                x = run.load
                log(
                    f"  {config}: "
                    + (
                        f"{x.rps:,.0f} req/s, p50 {x.p50_ms:.2f}, p99 {x.p99_ms:.2f} ms; "
                        if x
                        else ""
                    )
                    + f"answered {run.answered}, logged {run.logged}"
                )
    except (BenchError, RuntimeError, OSError) as exc:
        failed = str(exc)
        log(f"failed: {exc}")
    finally:
        moto.stop(moto_proc)
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    ok = report(runs, args, machine)
    if homes is not None and homes.profile:
        print_profile(homes.profile)
    if failed:
        print(f"\nFailed: {failed.splitlines()[0][:400]}")
    return 0 if ok and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
