"""Experiment-tracking benchmark: MLflow versus modelward on SQLite, in one run.

Run from the repository root::

    python bench/tracking.py                                   # full run, ~4-7 min here
    python bench/tracking.py --runs 20 --search-runs 2000 --skip-mlflow   # quick run

Both tools get the same seeded data (written once to a JSON file in a temp dir) and a
fresh SQLite store each, and each runs in its own process: MLflow (``mlflow==3.17.2``,
installed on first run into ``bench/.venv-mlflow``) through
``bench/_mlflow_tracking_worker.py``, modelward through this script's ``--worker`` mode
with a fresh ``MODELWARD_HOME``. Both run with a temp dir as working directory.

Phases (``--runs`` R, ``--steps`` S, ``--metrics`` M, ``--search-runs`` N):

1. **per call**: R runs x S steps, one call per step: ``mlflow.log_metric("loss", v,
   step=i)`` (synchronous, MLflow's default) vs ``run.log_metric("loss", v, step=i)``.
   Throughput = calls / time from the first call of a run to the end of its run
   (``mlflow.end_run()`` / the end of the ``with`` block, which flushes modelward's
   buffer), summed over runs. Starting the runs is timed apart and reported.
2. **batched**: R runs x S steps x M metrics. MLflow: one ``MlflowClient.log_batch``
   per run carrying all S*M values (chunks of 1000, MLflow's limit per call): the
   fastest way MLflow offers. modelward: ``run.log_metrics({M keys}, step=i)`` once per
   step (it has no separate batch call; points are buffered and written in batches).
   Throughput = values / time, as above.
3. **search**: N runs, each with a metric ``f1`` (uniform in [0, 1), seeded) and a
   param ``lr``. ``metrics.f1 > 0.8`` returning every match (~N/5) and ``limit=100``
   ordered by ``-metrics.f1``; median of ``--repeat`` calls after one warm-up, timed
   at min(N, ``--mlflow-api-runs``) runs (1000 by default) and at N runs. The runs are
   made through each tool's write path: modelward's ``RunRepository`` (create_run,
   log_batch, finish_run: the rows ``start_run`` would write, without its per-run
   git/environment probe); MLflow's ``MlflowClient`` (create_run, log_batch,
   set_terminated) for the first ``--mlflow-api-runs`` (1000) runs, the rest are SQL
   copies of an API-made run (MLflow creates ~15-20 runs/s here, so 10,000 would take
   ~10 min).

Nothing lost: after each phase the points in the database are counted with SQL
(``run_metrics`` / MLflow's ``metrics``) and their sum compared with the data logged;
searches must return exactly the expected runs.

Reference rows (no target): MLflow's ``log_metric(synchronous=False)`` (its own
background batching; 10 runs, as each ``end_run`` waits ~1 s for its queue) and
``log_batch`` once per step (``--mlflow-step-batch-runs`` runs).

Targets: per call >= 100x MLflow's calls/s; batched >= 20x MLflow's values/s; nothing
lost; search over 10,000 runs < 50 ms. If the search misses, ``--profile`` (on by
default when it misses) writes a cProfile of the call to
``bench/_data/tracking_search_profile.txt`` and prints where the time goes.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
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
    mw_env,
    now_utc,
    table,
)

MLFLOW_REQ = "mlflow==3.17.2"
MLFLOW_WORKER = BENCH_DIR / "_mlflow_tracking_worker.py"
PROFILE_OUT = DATA_DIR / "tracking_search_profile.txt"
THRESHOLD = 0.8
TARGET_PERCALL_X = 100.0
TARGET_BATCHED_X = 20.0
TARGET_SEARCH_MS = 50.0
# Published figures for MLflow 3.17 on this kind of machine (used with --skip-mlflow).
REFERENCE = {"percall_per_s": 290.0, "batched_per_s": 4600.0, "search_1000_ms": 90.0}


# --------------------------------------------------------------------------- data


def make_data(runs: int, steps: int, metrics: int, search_runs: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    return {
        "seed": seed,
        "percall": [[rng.random() for _ in range(steps)] for _ in range(runs)],
        "metric_keys": [f"m{k}" for k in range(metrics)],
        "batched": [
            [[rng.random() for _ in range(metrics)] for _ in range(steps)] for _ in range(runs)
        ],
        "search_f1": [rng.random() for _ in range(search_runs)],
        "search_lr": [rng.choice(["0.1", "0.01", "0.001", "0.0001"]) for _ in range(search_runs)],
        "search_threshold": THRESHOLD,
    }


# --------------------------------------------------------------------------- modelward worker


def _stored(db_file: Path, experiment: str) -> dict[str, Any]:
    import sqlite3

    with sqlite3.connect(db_file) as conn:
        count, runs, total = conn.execute(
            "SELECT count(*), count(DISTINCT m.run_id), coalesce(sum(m.value), 0) "
            "FROM run_metrics m JOIN runs r ON r.id = m.run_id "
            "JOIN experiments e ON e.id = r.experiment_id WHERE e.name = ?",
            (experiment,),
        ).fetchone()
    return {"points": count, "runs": runs, "sum": total}


def modelward_worker(
    data_path: Path, repeat: int, profile: bool, first_size: int
) -> dict[str, Any]:
    """The modelward half, in a process whose MODELWARD_HOME is a fresh temp dir."""
    t0 = time.perf_counter()
    import modelward as mw
    from modelward.store.workspace import open_workspace

    out: dict[str, Any] = {"import_s": time.perf_counter() - t0}
    data = json.loads(data_path.read_text())
    t0 = time.perf_counter()
    workspace = open_workspace()
    out["setup_s"] = time.perf_counter() - t0
    db_file = workspace.settings.home / "modelward.db"
    if not db_file.is_file():
        raise BenchError(f"expected the SQLite store at {db_file} (is MODELWARD_DB set?)")

    # -- 1. per call ------------------------------------------------------------------
    percall: list[list[float]] = data["percall"]
    start_s = log_s = cpu_s = 0.0
    for values in percall:
        t0 = time.perf_counter()
        run = mw.start_run(experiment="bench-percall")
        t1 = time.perf_counter()
        c1 = time.process_time()
        with run:
            for step, value in enumerate(values):
                run.log_metric("loss", value, step=step)
        t2 = time.perf_counter()
        cpu_s += time.process_time() - c1
        start_s += t1 - t0
        log_s += t2 - t1
    out["percall"] = {
        "calls": sum(len(v) for v in percall),
        "runs": len(percall),
        "log_s": log_s,
        "log_cpu_s": cpu_s,
        "start_run_s": start_s,
        "expected_sum": math.fsum(v for vs in percall for v in vs),
        "stored": _stored(db_file, "bench-percall"),
    }
    log(f"modelward per-call: {out['percall']['calls']} calls in {log_s:.2f} s")

    # -- 2. batched: log_metrics with every key of a step, once per step ------------------
    keys: list[str] = data["metric_keys"]
    prepared = [[dict(zip(keys, row, strict=True)) for row in steps] for steps in data["batched"]]
    start_s = log_s = cpu_s = 0.0
    for steps_dicts in prepared:
        t0 = time.perf_counter()
        run = mw.start_run(experiment="bench-batched")
        t1 = time.perf_counter()
        c1 = time.process_time()
        with run:
            for step, metrics in enumerate(steps_dicts):
                run.log_metrics(metrics, step=step)
        t2 = time.perf_counter()
        cpu_s += time.process_time() - c1
        start_s += t1 - t0
        log_s += t2 - t1
    out["batched"] = {
        "values": sum(len(d) for steps in prepared for d in steps),
        "calls": sum(len(steps) for steps in prepared),
        "runs": len(prepared),
        "log_s": log_s,
        "log_cpu_s": cpu_s,
        "start_run_s": start_s,
        "expected_sum": math.fsum(v for run_ in data["batched"] for row in run_ for v in row),
        "stored": _stored(db_file, "bench-batched"),
    }
    log(f"modelward batched: {out['batched']['values']} values in {log_s:.2f} s")

    # -- 3. search ----------------------------------------------------------------------
    out["search"] = _modelward_search(workspace, db_file, data, repeat, profile, first_size)
    return out


def _modelward_search(
    workspace: Any,
    db_file: Path,
    data: dict[str, Any],
    repeat: int,
    profile: bool,
    first_size: int,
) -> dict[str, Any]:
    import uuid
    from datetime import UTC, datetime

    import modelward as mw
    from modelward.tracking.entities import FINISHED
    from modelward.tracking.environment import current_user, environment
    from modelward.tracking.repository import RunRepository

    f1s: list[float] = data["search_f1"]
    lrs: list[str] = data["search_lr"]
    threshold: float = data["search_threshold"]
    experiment = "bench-search"
    repo = RunRepository(workspace.db)
    exp_id = repo.experiment(experiment, create=True).id
    env, user = environment(), current_user()
    fill_s = 0.0

    def fill(start: int, stop: int) -> None:
        nonlocal fill_s
        t0 = time.perf_counter()
        for i in range(start, stop):
            run_id = uuid.uuid4().hex
            repo.create_run(
                {
                    "id": run_id,
                    "experiment_id": exp_id,
                    "name": f"search-{i}",
                    "status": "running",
                    "start_time": datetime.now(UTC),
                    "user": user,
                    "git_commit": None,
                    "git_dirty": None,
                    "source": "bench/tracking.py",
                    "environment": env,
                    "seed": None,
                }
            )
            point = ("f1", f1s[i], 0, int(time.time() * 1000))
            repo.log_batch(run_id, params=[("lr", lrs[i])], metrics=[point])
            repo.finish_run(run_id, FINISHED)
        fill_s += time.perf_counter() - t0

    def search_all() -> list[Any]:
        return mw.tracking.search_runs(
            f"metrics.f1 > {threshold}", experiment=experiment, limit=len(f1s) + 1
        )

    def search_top() -> list[Any]:
        return mw.tracking.search_runs(
            f"metrics.f1 > {threshold}", order_by=["-metrics.f1"], experiment=experiment, limit=100
        )

    sizes: dict[str, Any] = {}

    def measure_size(n: int) -> None:
        expected = sum(1 for f in f1s[:n] if f > threshold)
        best = sorted((f for f in f1s[:n] if f > threshold), reverse=True)[:100]
        times_all, found = _timed_median(search_all, repeat)
        times_top, top = _timed_median(search_top, repeat)
        sizes[str(n)] = {
            "runs": n,
            "all_s": times_all,
            "all_median_s": statistics.median(times_all),
            "all_found": len(found),
            "all_expected": expected,
            "top_s": times_top,
            "top_median_s": statistics.median(times_top),
            "top_ok": [r.metrics["f1"] for r in top] == best,
            "sql_floor_all_s": _sql_floor(db_file, experiment, threshold, repeat),
        }
        log(
            f"modelward search over {n} runs: all {len(found)}/{expected} "
            f"{sizes[str(n)]['all_median_s'] * 1000:.1f} ms, top-100 "
            f"{sizes[str(n)]['top_median_s'] * 1000:.1f} ms"
        )

    first = max(1, min(first_size, len(f1s)))
    fill(0, first)
    measure_size(first)
    if len(f1s) > first:
        fill(first, len(f1s))
        measure_size(len(f1s))
    result: dict[str, Any] = {"fill_s": fill_s, "by_size": sizes}
    largest = sizes[str(len(f1s))]
    if profile or largest["all_median_s"] * 1000 >= TARGET_SEARCH_MS:
        result["profile"] = _profile_search(search_all, len(f1s))
    return result


def _timed_median(fn: Any, repeat: int) -> tuple[list[float], Any]:
    result = fn()  # warm-up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return times, result


def _sql_floor(db_file: Path, experiment: str, threshold: float, repeat: int) -> float:
    """Median time of the same search in raw sqlite3: matching run rows plus their params,
    tags and latest metrics (what a search returns), no ORM, no objects. A floor."""
    import sqlite3

    conn = sqlite3.connect(db_file)
    try:

        def run() -> int:
            rows = conn.execute(
                "SELECT r.* FROM runs r JOIN experiments e ON e.id = r.experiment_id "
                "WHERE e.name = ? AND EXISTS (SELECT 1 FROM run_latest_metrics m "
                "WHERE m.run_id = r.id AND m.key = 'f1' AND m.value > ?) "
                "ORDER BY r.start_time DESC, r.id",
                (experiment, threshold),
            ).fetchall()
            ids = [r[0] for r in rows]
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for name in ("run_params", "run_tags", "run_latest_metrics"):
                    conn.execute(
                        f"SELECT run_id, key, value FROM {name} WHERE run_id IN ({marks})", chunk
                    ).fetchall()
            return len(rows)

        times, _ = _timed_median(run, repeat)
        return statistics.median(times)
    finally:
        conn.close()


def _profile_search(search_all: Any, n: int) -> dict[str, Any]:
    """cProfile one search; split its time into SQL in SQLite and Python around it."""
    import cProfile
    import io
    import pstats

    profiler = cProfile.Profile()
    t0 = time.perf_counter()
    profiler.enable()
    search_all()
    profiler.disable()
    wall = time.perf_counter() - t0
    stats = pstats.Stats(profiler)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]

    def tottime(pred: Any) -> float:
        return sum(v[2] for k, v in raw.items() if pred(k))

    def cumtime(pred: Any) -> float:
        # Cumulative time of the outermost matching entries (sum over matching keys can
        # double count recursion; these functions are not recursive).
        return sum(v[3] for k, v in raw.items() if pred(k))

    def is_name(*names: str) -> Any:
        return lambda k: k[2] in names

    def in_file(fragment: str, *names: str) -> Any:
        return lambda k: fragment in k[0] and (not names or k[2] in names)

    total = stats.total_tt  # type: ignore[attr-defined]
    parts = {
        "profiled_total_s": total,
        "wall_with_profiler_s": wall,
        "sqlite_execute_s": tottime(
            is_name(
                "<method 'execute' of 'sqlite3.Cursor' objects>",
                "<method 'executemany' of 'sqlite3.Cursor' objects>",
            )
        ),
        "sqlite_fetch_s": tottime(
            is_name(
                "<method 'fetchall' of 'sqlite3.Cursor' objects>",
                "<method 'fetchmany' of 'sqlite3.Cursor' objects>",
                "<method 'fetchone' of 'sqlite3.Cursor' objects>",
            )
        ),
        "sqlalchemy_expanding_in_s": cumtime(
            in_file("sqlalchemy/sql/compiler.py", "_process_parameters_for_postcompile")
        ),
        "main_query_s": cumtime(in_file("modelward/tracking/repository.py", "search"))
        - cumtime(in_file("modelward/tracking/repository.py", "_hydrate")),
        "hydrate_s": cumtime(in_file("modelward/tracking/repository.py", "_hydrate")),
        "hydrate_grouped_s": cumtime(in_file("modelward/tracking/repository.py", "_grouped")),
        "datetime_parse_s": cumtime(in_file("sqlalchemy/dialects/sqlite/base.py", "process")),
        "json_loads_s": cumtime(lambda k: k[0].endswith("json/__init__.py") and k[2] == "loads"),
        "run_objects_s": tottime(
            lambda k: "modelward/tracking/repository.py" in k[0] and k[2] == "<listcomp>"
        )
        + cumtime(lambda k: k[2] == "__init__" and "<string>" in k[0]),
    }
    buffer = io.StringIO()
    stats.stream = buffer  # type: ignore[attr-defined]
    stats.sort_stats("cumulative").print_stats(35)
    stats.sort_stats("tottime").print_stats(25)
    PROFILE_OUT.parent.mkdir(parents=True, exist_ok=True)
    PROFILE_OUT.write_text(
        f"cProfile of modelward search_runs('metrics.f1 > {THRESHOLD}', limit=all) over "
        f"{n} runs\n{json.dumps(parts, indent=2)}\n\n{buffer.getvalue()}"
    )
    return parts


# --------------------------------------------------------------------------- driver


def _run_worker(cmd: list[str], env: dict[str, str], cwd: Path, timeout: float) -> dict[str, Any]:
    result = measure(cmd, cwd=cwd, env=env, timeout=timeout)
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-20:])
        raise BenchError(f"worker failed (exit {result.returncode}):\n{tail}")
    out = last_json_line(result.stdout)
    out["worker_wall_s"] = result.wall_s
    out["worker_peak_rss_mb"] = result.peak_rss_mb
    return out


def _lost(phase: dict[str, Any], expected_points: int, expected_runs: int) -> str | None:
    """None if every point is stored (count, runs and sum match), else what is wrong."""
    s = phase["stored"]
    problems = []
    if s["points"] != expected_points:
        problems.append(f"{s['points']}/{expected_points} points")
    if s["runs"] != expected_runs:
        problems.append(f"{s['runs']}/{expected_runs} runs")
    if not math.isclose(s["sum"], phase["expected_sum"], rel_tol=1e-9, abs_tol=1e-9):
        problems.append(f"sum {s['sum']!r} != {phase['expected_sum']!r}")
    return "; ".join(problems) or None


def _fmt_rate(x: float | None, unit: str) -> str:
    return "n/a" if x is None else f"{x:,.0f} {unit}"


def _fmt_ms(x: float | None) -> str:
    return "n/a" if x is None else (f"{x * 1000:.1f} ms" if x < 1 else f"{x:.2f} s")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=100, help="runs in phases 1 and 2")
    p.add_argument("--steps", type=int, default=100, help="steps per run in phases 1 and 2")
    p.add_argument("--metrics", type=int, default=10, help="metrics per step in phase 2")
    p.add_argument("--search-runs", type=int, default=10_000, help="runs to search over")
    p.add_argument("--repeat", type=int, default=5, help="timed searches (after a warm-up)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument(
        "--skip-mlflow",
        action="store_true",
        help="modelward only; ratios against the published MLflow figures",
    )
    p.add_argument(
        "--mlflow-api-runs",
        type=int,
        default=1000,
        help="search runs MLflow creates through its API (the rest: SQL copies)",
    )
    p.add_argument(
        "--mlflow-step-batch-runs",
        type=int,
        default=10,
        help="runs for the reference row 'MLflow log_batch once per step'",
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help="cProfile modelward's search even if it meets the target",
    )
    p.add_argument("--timeout", type=float, default=1800, help="limit per worker, seconds")
    p.add_argument("--json-out", type=Path, help="also write the raw results to this file")
    p.add_argument("--worker", choices=["modelward"], help=argparse.SUPPRESS)
    p.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.worker == "modelward":
        print(
            json.dumps(modelward_worker(args.data, args.repeat, args.profile, args.mlflow_api_runs))
        )
        return 0

    log(f"machine: {machine_line()}")
    (DATA_DIR / "tmp").mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="tracking-", dir=DATA_DIR / "tmp"))
    results: dict[str, Any] = {}
    errors: dict[str, str] = {}
    mlflow_version = "not run"
    try:
        data = make_data(args.runs, args.steps, args.metrics, args.search_runs, args.seed)
        data_path = tmp / "data.json"
        data_path.write_text(json.dumps(data))

        home = tmp / "mw"
        home.mkdir()
        env = mw_env()
        for var in ("MODELWARD_DB", "MODELWARD_ARTIFACTS", "MODELWARD_URI"):
            env.pop(var, None)
        env["MODELWARD_HOME"] = str(home / ".modelward")
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--worker",
            "modelward",
            "--data",
            str(data_path),
            "--repeat",
            str(args.repeat),
            "--mlflow-api-runs",
            str(args.mlflow_api_runs),
        ]
        if args.profile:
            cmd.append("--profile")
        log("modelward: running (fresh MODELWARD_HOME)")
        try:
            results["modelward"] = _run_worker(cmd, env, home, args.timeout)
        except BenchError as exc:
            errors["modelward"] = str(exc)
            log(f"modelward failed: {exc}")

        if not args.skip_mlflow:
            try:
                bin_dir = ensure_venv("mlflow", [MLFLOW_REQ])
                work = tmp / "mlflow"
                work.mkdir()
                cmd = [
                    str(bin_dir / "python"),
                    str(MLFLOW_WORKER),
                    str(data_path),
                    str(work),
                    "--repeat",
                    str(args.repeat),
                    "--api-runs",
                    str(args.mlflow_api_runs),
                    "--step-batch-runs",
                    str(args.mlflow_step_batch_runs),
                ]
                log("mlflow: running (fresh sqlite store; the per-call phase takes a few min)")
                env_ml = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
                results["mlflow"] = _run_worker(cmd, env_ml, work, args.timeout)
                mlflow_version = results["mlflow"]["mlflow_version"]
            except BenchError as exc:
                errors["mlflow"] = str(exc)
                log(f"mlflow failed: {exc}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    ok = report(args, results, errors, mlflow_version)
    if args.json_out:
        args.json_out.write_text(json.dumps({"results": results, "errors": errors}, indent=2))
    return 0 if ok else 1


def report(
    args: argparse.Namespace,
    results: dict[str, Any],
    errors: dict[str, str],
    mlflow_version: str,
) -> bool:
    mw, ml = results.get("modelward"), results.get("mlflow")
    ref = ml is None
    rows: list[list[str]] = []
    ok = "modelward" not in errors and (args.skip_mlflow or "mlflow" not in errors)
    n_percall = args.runs * args.steps
    n_batched = n_percall * args.metrics

    def lost_cell(phase: str) -> str:
        cells = []
        for name, res in (("mlflow", ml), ("mw", mw)):
            if res is None:
                continue
            ph = res[phase]
            problem = _lost(ph, ph.get("values", ph["calls"]), ph["runs"])
            cells.append(f"{name} {'ok' if problem is None else 'LOST: ' + problem}")
        return ", ".join(cells)

    def verdict(passed: bool | None) -> str:
        nonlocal ok
        if passed is None:
            ok = False
            return "n/a"
        ok = ok and passed
        return "PASS" if passed else "FAIL"

    # 1. per call
    ml_rate = ml["percall"]["calls"] / ml["percall"]["log_s"] if ml else REFERENCE["percall_per_s"]
    mw_rate = mw["percall"]["calls"] / mw["percall"]["log_s"] if mw else None
    ratio = mw_rate / ml_rate if mw_rate else None
    lost_ok = all(r is None or _lost(r["percall"], n_percall, args.runs) is None for r in (ml, mw))
    rows.append(
        [
            f"1. per call: {args.runs} runs x {args.steps} log_metric calls",
            _fmt_rate(ml_rate, "calls/s") + (" (ref)" if ref else ""),
            _fmt_rate(mw_rate, "calls/s"),
            "n/a" if ratio is None else f"{ratio:,.1f}x",
            f">= {TARGET_PERCALL_X:.0f}x",
            verdict(None if ratio is None else ratio >= TARGET_PERCALL_X and lost_ok),
            lost_cell("percall"),
        ]
    )
    # 2. batched
    ml_rate = ml["batched"]["values"] / ml["batched"]["log_s"] if ml else REFERENCE["batched_per_s"]
    mw_rate = mw["batched"]["values"] / mw["batched"]["log_s"] if mw else None
    ratio = mw_rate / ml_rate if mw_rate else None
    lost_ok = all(r is None or _lost(r["batched"], n_batched, args.runs) is None for r in (ml, mw))
    rows.append(
        [
            f"2. batched: {args.runs} runs x {args.steps} steps x {args.metrics} metrics",
            _fmt_rate(ml_rate, "values/s") + (" (ref)" if ref else ""),
            _fmt_rate(mw_rate, "values/s"),
            "n/a" if ratio is None else f"{ratio:,.1f}x",
            f">= {TARGET_BATCHED_X:.0f}x",
            verdict(None if ratio is None else ratio >= TARGET_BATCHED_X and lost_ok),
            lost_cell("batched"),
        ]
    )
    # 3. search, at each size
    sizes = sorted({int(k) for r in (ml, mw) if r for k in r["search"]["by_size"]})
    for n in sizes:
        for kind, label in (("all", "all matches"), ("top", "limit 100, -metrics.f1")):
            ml_s = ml["search"]["by_size"].get(str(n)) if ml else None
            mw_s = mw["search"]["by_size"].get(str(n)) if mw else None
            ml_t = ml_s[f"{kind}_median_s"] if ml_s else None
            if ref and n == 1000 and kind == "all":
                ml_t = REFERENCE["search_1000_ms"] / 1000
            mw_t = mw_s[f"{kind}_median_s"] if mw_s else None
            checks = []
            for name, s in (("mlflow", ml_s), ("mw", mw_s)):
                if s is None:
                    continue
                if kind == "all":
                    good = s["all_found"] == s["all_expected"]
                    checks.append(
                        f"{name} {s['all_found']}/{s['all_expected']} runs"
                        + ("" if good else " WRONG")
                    )
                else:
                    checks.append(f"{name} {'top-100 ok' if s['top_ok'] else 'WRONG ORDER'}")
            correct = all(("WRONG" not in c) for c in checks)
            is_target = n >= 10_000
            rows.append(
                [
                    f"3. search {n:,} runs: metrics.f1 > {THRESHOLD}, {label}",
                    _fmt_ms(ml_t) + (" (ref)" if ref and ml_t is not None else ""),
                    _fmt_ms(mw_t),
                    "n/a" if not (ml_t and mw_t) else f"{ml_t / mw_t:,.1f}x faster",
                    f"< {TARGET_SEARCH_MS:.0f} ms" if is_target else "-",
                    verdict(None if mw_t is None else mw_t * 1000 < TARGET_SEARCH_MS and correct)
                    if is_target
                    else ("ok" if correct else verdict(False)),
                    ", ".join(checks),
                ]
            )
    if args.search_runs < 10_000:
        log(f"note: --search-runs {args.search_runs} < 10,000: the search target is not judged")

    print(f"\ncommand: python bench/{Path(__file__).name} {' '.join(sys.argv[1:])}".rstrip())
    print(f"machine: {machine_line()}")
    print(f"date: {now_utc()}; modelward {modelward_version()}; mlflow {mlflow_version}")
    print()
    print(
        table(
            rows,
            ["phase", "mlflow", "modelward", "ratio", "target", "result", "nothing lost / correct"],
        )
    )
    print()
    if ml and mw:
        cross = ", ".join(
            f"{label} {ml[ph]['log_cpu_s'] / mw[ph]['log_cpu_s']:,.1f}x"
            for ph, label in (("percall", "per call"), ("batched", "batched"))
            if mw[ph]["log_cpu_s"] > 0
        )
        print(
            f"cross-check on process CPU time (less sensitive to other load than wall time): "
            f"mlflow CPU / modelward CPU: {cross}"
        )
        print()
    # Details and reference rows.
    phases = [
        ("percall", "1. per call"),
        ("batched", "2. batched"),
        ("async", "ref: log_metric(synchronous=False)"),
        ("stepbatch", "ref: log_batch once per step"),
    ]
    detail: list[list[str]] = []
    for name, res in (("mlflow", ml), ("modelward", mw)):
        for phase, label in phases:
            if res is None or phase not in res:
                continue
            ph = res[phase]
            n_values = ph.get("values", ph["calls"])
            problem = _lost(ph, n_values, ph["runs"])
            detail.append(
                [
                    name,
                    label,
                    f"{ph['runs']} x {ph['calls'] // ph['runs']} calls, {n_values:,} values",
                    f"{ph['log_s']:.2f} s",
                    _fmt_rate(n_values / ph["log_s"], "values/s"),
                    f"{ph['log_cpu_s']:.2f} s",
                    f"{ph['start_run_s'] / ph['runs'] * 1000:.1f} ms",
                    _fmt_rate(n_values / (ph["log_s"] + ph["start_run_s"]), "values/s"),
                    "ok" if problem is None else f"LOST: {problem}",
                ]
            )
    if detail:
        print(
            table(
                detail,
                [
                    "tool",
                    "phase",
                    "runs x calls",
                    "logging incl. end of run",
                    "throughput",
                    "CPU of that",
                    "start_run each",
                    "throughput incl. start_run",
                    "stored",
                ],
            )
        )
        print()
    for name, res in (("mlflow", ml), ("modelward", mw)):
        if res is None:
            continue
        s = res["search"]
        fill = (
            f"{s['api_runs']} runs via API in {s['api_fill_s']:.0f} s, "
            f"{s['cloned_runs']} SQL copies in {s['clone_s']:.1f} s"
            if name == "mlflow"
            else f"{args.search_runs} runs via RunRepository in {s['fill_s']:.0f} s"
        )
        print(
            f"{name}: search runs: {fill}; worker wall {res['worker_wall_s']:.0f} s, "
            f"peak RSS {res['worker_peak_rss_mb']:.0f} MB, store set-up {res['setup_s']:.1f} s"
        )
        if name == "modelward":
            for n, size in s["by_size"].items():
                print(
                    f"  raw sqlite3 floor for the all-matches search over {n} runs "
                    f"(rows + params/tags/latest metrics, no objects): "
                    f"{size['sql_floor_all_s'] * 1000:.1f} ms"
                )
            if "profile" in s:
                prof = s["profile"]
                print(
                    f"  cProfile of one all-matches search over {args.search_runs} runs "
                    f"(profiled total {prof['profiled_total_s'] * 1000:.0f} ms; "
                    f"full listing in {PROFILE_OUT.relative_to(BENCH_DIR.parent)}):"
                )
                for key, value in prof.items():
                    if key != "profiled_total_s":
                        print(f"    {key:<26} {value * 1000:8.1f} ms")
    for name, err in errors.items():
        print(f"\n{name} FAILED: {err}")
    print(f"\noverall: {'PASS' if ok else 'FAIL'}")
    return ok


if __name__ == "__main__":
    raise SystemExit(main())
