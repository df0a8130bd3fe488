"""MLflow half of bench/tracking.py (run by it inside bench/.venv-mlflow; not a benchmark alone).

    bench/.venv-mlflow/bin/python bench/_mlflow_tracking_worker.py DATA.json WORKDIR [options]

Logs the data of DATA.json (written by bench/tracking.py) into a fresh SQLite tracking
store ``sqlite:///WORKDIR/mlflow.db`` with artifacts under ``WORKDIR/artifacts``, counts
what is stored with SQL on MLflow's ``metrics`` table, and prints one JSON object (its
timings and counts) as the last line of stdout. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sqlite3
import statistics
import sys
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

MAX_METRICS_PER_BATCH = 1000  # MLflow's limit for one log_batch call


def log(msg: str) -> None:
    print(f"[mlflow-worker] {msg}", file=sys.stderr, flush=True)


def stored(db: Path, experiment_id: str) -> dict[str, Any]:
    """What the database holds for one experiment: points, runs with points, value sum."""
    with sqlite3.connect(db) as conn:
        count, runs, total = conn.execute(
            "SELECT count(*), count(DISTINCT m.run_uuid), coalesce(sum(m.value), 0) "
            "FROM metrics m JOIN runs r ON r.run_uuid = m.run_uuid WHERE r.experiment_id = ?",
            (int(experiment_id),),
        ).fetchone()
    return {"points": count, "runs": runs, "sum": total}


def timed_median(fn: Any, repeat: int) -> tuple[list[float], Any]:
    result = fn()  # warm-up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return times, result


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("data", type=Path)
    p.add_argument("workdir", type=Path)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--api-runs", type=int, default=1000)
    p.add_argument("--step-batch-runs", type=int, default=10)
    p.add_argument("--async-runs", type=int, default=10)
    args = p.parse_args()

    warnings.filterwarnings("ignore")
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    t_import = time.perf_counter()
    import mlflow
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param

    out: dict[str, Any] = {"mlflow_version": mlflow.__version__}
    out["import_s"] = time.perf_counter() - t_import

    data = json.loads(args.data.read_text())
    db = args.workdir / "mlflow.db"
    artifacts = (args.workdir / "artifacts").as_uri()
    mlflow.set_tracking_uri(f"sqlite:///{db}")
    t0 = time.perf_counter()
    client = MlflowClient()
    exp_ids = {
        name: client.create_experiment(name, artifact_location=f"{artifacts}/{name}")
        for name in ("bench-percall", "bench-async", "bench-batched", "bench-stepbatch")
    }
    exp_ids["bench-search"] = client.create_experiment(
        "bench-search", artifact_location=f"{artifacts}/bench-search"
    )
    out["setup_s"] = time.perf_counter() - t0  # schema creation (migrations) included
    log(f"store ready in {out['setup_s']:.1f} s: {db}")

    # -- 1. per call: mlflow.log_metric, synchronous (MLflow's default) ----------------
    percall: list[list[float]] = data["percall"]
    start_s = log_s = cpu_s = 0.0
    mlflow.set_experiment(experiment_id=exp_ids["bench-percall"])
    for r, values in enumerate(percall):
        t0 = time.perf_counter()
        mlflow.start_run(run_name=f"percall-{r}")
        t1 = time.perf_counter()
        c1 = time.process_time()
        for step, value in enumerate(values):
            mlflow.log_metric("loss", value, step=step)
        mlflow.end_run()
        t2 = time.perf_counter()
        cpu_s += time.process_time() - c1
        start_s += t1 - t0
        log_s += t2 - t1
        if r == 0 or (r + 1) % 20 == 0:
            log(f"per-call: {r + 1}/{len(percall)} runs, {log_s:.1f} s logging")
    calls = sum(len(v) for v in percall)
    out["percall"] = {
        "calls": calls,
        "runs": len(percall),
        "log_s": log_s,
        "log_cpu_s": cpu_s,
        "start_run_s": start_s,
        "expected_sum": math.fsum(v for vs in percall for v in vs),
        "stored": stored(db, exp_ids["bench-percall"]),
    }

    # -- 1b. reference: mlflow.log_metric(synchronous=False), MLflow's own background batching
    async_runs = percall[: args.async_runs]
    start_s = log_s = cpu_s = 0.0
    mlflow.set_experiment(experiment_id=exp_ids["bench-async"])
    for r, values in enumerate(async_runs):
        t0 = time.perf_counter()
        mlflow.start_run(run_name=f"async-{r}")
        t1 = time.perf_counter()
        c1 = time.process_time()
        for step, value in enumerate(values):
            mlflow.log_metric("loss", value, step=step, synchronous=False)
        mlflow.end_run()  # waits for the async queue of the run
        t2 = time.perf_counter()
        cpu_s += time.process_time() - c1
        start_s += t1 - t0
        log_s += t2 - t1
    out["async"] = {
        "calls": sum(len(v) for v in async_runs),
        "runs": len(async_runs),
        "log_s": log_s,
        "log_cpu_s": cpu_s,
        "start_run_s": start_s,
        "expected_sum": math.fsum(v for vs in async_runs for v in vs),
        "stored": stored(db, exp_ids["bench-async"]),
    }
    log(f"async: {out['async']['calls']} calls in {log_s:.1f} s")

    # -- 2. batched: one MlflowClient.log_batch per run with every value of the run -----
    batched: list[list[list[float]]] = data["batched"]
    keys: list[str] = data["metric_keys"]
    ts = int(time.time() * 1000)
    prepared = [
        [
            Metric(key, value, ts, step)
            for step, row in enumerate(steps)
            for key, value in zip(keys, row, strict=True)
        ]
        for steps in batched
    ]
    start_s = log_s = cpu_s = 0.0
    mlflow.set_experiment(experiment_id=exp_ids["bench-batched"])
    for r, metrics in enumerate(prepared):
        t0 = time.perf_counter()
        run = mlflow.start_run(run_name=f"batched-{r}")
        t1 = time.perf_counter()
        c1 = time.process_time()
        for i in range(0, len(metrics), MAX_METRICS_PER_BATCH):
            client.log_batch(run.info.run_id, metrics=metrics[i : i + MAX_METRICS_PER_BATCH])
        mlflow.end_run()
        t2 = time.perf_counter()
        cpu_s += time.process_time() - c1
        start_s += t1 - t0
        log_s += t2 - t1
    out["batched"] = {
        "values": sum(len(m) for m in prepared),
        "calls": sum(math.ceil(len(m) / MAX_METRICS_PER_BATCH) for m in prepared),
        "runs": len(prepared),
        "log_s": log_s,
        "log_cpu_s": cpu_s,
        "start_run_s": start_s,
        "expected_sum": math.fsum(v for run in batched for row in run for v in row),
        "stored": stored(db, exp_ids["bench-batched"]),
    }
    log(f"batched (one log_batch per run): {out['batched']['values']} values in {log_s:.1f} s")

    # -- 2b. reference: one log_batch per step (len(keys) metrics per call) -------------
    step_runs = batched[: args.step_batch_runs]
    start_s = log_s = cpu_s = 0.0
    mlflow.set_experiment(experiment_id=exp_ids["bench-stepbatch"])
    for r, steps in enumerate(step_runs):
        per_step = [
            [Metric(k, v, ts, step) for k, v in zip(keys, row, strict=True)]
            for step, row in enumerate(steps)
        ]
        t0 = time.perf_counter()
        run = mlflow.start_run(run_name=f"stepbatch-{r}")
        t1 = time.perf_counter()
        c1 = time.process_time()
        for metrics in per_step:
            client.log_batch(run.info.run_id, metrics=metrics)
        mlflow.end_run()
        t2 = time.perf_counter()
        cpu_s += time.process_time() - c1
        start_s += t1 - t0
        log_s += t2 - t1
    out["stepbatch"] = {
        "values": sum(len(s) * len(keys) for s in step_runs),
        "calls": sum(len(s) for s in step_runs),
        "runs": len(step_runs),
        "log_s": log_s,
        "log_cpu_s": cpu_s,
        "start_run_s": start_s,
        "expected_sum": math.fsum(v for run in step_runs for row in run for v in row),
        "stored": stored(db, exp_ids["bench-stepbatch"]),
    }
    log(f"per-step log_batch: {out['stepbatch']['values']} values in {log_s:.1f} s")

    # -- 3. search ------------------------------------------------------------------------
    f1s: list[float] = data["search_f1"]
    lrs: list[str] = data["search_lr"]
    threshold: float = data["search_threshold"]
    exp = exp_ids["bench-search"]
    n_api = min(args.api_runs, len(f1s))
    t0 = time.perf_counter()
    for i in range(n_api):
        run = client.create_run(exp, run_name=f"search-{i}")
        client.log_batch(
            run.info.run_id,
            metrics=[Metric("f1", f1s[i], int(time.time() * 1000), 0)],
            params=[Param("lr", lrs[i])],
        )
        client.set_terminated(run.info.run_id)
        if (i + 1) % 250 == 0:
            log(f"search fill via API: {i + 1}/{n_api} runs")
    api_fill_s = time.perf_counter() - t0
    searches: dict[str, Any] = {}

    def search_all() -> Any:
        return client.search_runs([exp], f"metrics.f1 > {threshold}", max_results=50000)

    def search_top() -> Any:
        return client.search_runs(
            [exp], f"metrics.f1 > {threshold}", order_by=["metrics.f1 DESC"], max_results=100
        )

    def measure(n: int) -> None:
        expected = sum(1 for f in f1s[:n] if f > threshold)
        best = sorted((f for f in f1s[:n] if f > threshold), reverse=True)[:100]
        times_all, found = timed_median(search_all, args.repeat)
        times_top, top = timed_median(search_top, args.repeat)
        top_f1 = [r.data.metrics["f1"] for r in top]
        searches[str(n)] = {
            "runs": n,
            "all_s": times_all,
            "all_median_s": statistics.median(times_all),
            "all_found": len(found),
            "all_expected": expected,
            "top_s": times_top,
            "top_median_s": statistics.median(times_top),
            "top_ok": top_f1 == best,
        }
        log(
            f"search over {n} runs: all {len(found)}/{expected} matches "
            f"{statistics.median(times_all) * 1000:.0f} ms, top-100 "
            f"{statistics.median(times_top) * 1000:.0f} ms"
        )

    measure(n_api)
    clone_s = 0.0
    if len(f1s) > n_api:
        t0 = time.perf_counter()
        clone_runs(db, exp, n_api, f1s, lrs)
        clone_s = time.perf_counter() - t0
        measure(len(f1s))
    out["search"] = {
        "api_runs": n_api,
        "api_fill_s": api_fill_s,
        "cloned_runs": len(f1s) - n_api,
        "clone_s": clone_s,
        "by_size": searches,
    }
    print(json.dumps(out))
    return 0


def clone_runs(db: Path, experiment_id: str, start: int, f1s: list[float], lrs: list[str]) -> None:
    """Add runs start..len(f1s)-1 with SQL, each a copy of an API-made run (same rows).

    Creating 10,000 runs through MLflow's API takes ~10 min here, so the runs beyond
    the API-made ones are copies of the first one (its ``runs`` row and tags), with
    their own id, name, f1 metric (``metrics`` and ``latest_metrics``) and lr param.
    """
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        template = conn.execute(
            "SELECT * FROM runs WHERE experiment_id = ? ORDER BY start_time LIMIT 1",
            (int(experiment_id),),
        ).fetchone()
        old_id = template["run_uuid"]
        tags = conn.execute("SELECT key, value FROM tags WHERE run_uuid = ?", (old_id,)).fetchall()
        columns = list(template.keys())
        now = int(time.time() * 1000)
        run_rows, tag_rows, metric_rows, param_rows = [], [], [], []
        for i in range(start, len(f1s)):
            new_id = uuid.uuid4().hex
            name = f"search-{i}"
            row = dict(template)
            row.update(
                run_uuid=new_id,
                name=name,
                start_time=now + i,
                end_time=now + i + 1,
                artifact_uri=str(template["artifact_uri"]).replace(old_id, new_id),
            )
            run_rows.append(tuple(row[c] for c in columns))
            for tag in tags:
                value = name if tag["key"] == "mlflow.runName" else tag["value"]
                tag_rows.append((tag["key"], value, new_id))
            metric_rows.append(("f1", f1s[i], now + i, 0, 0, new_id))
            param_rows.append(("lr", lrs[i], new_id))
        marks = ", ".join("?" for _ in columns)
        conn.executemany(f"INSERT INTO runs ({', '.join(columns)}) VALUES ({marks})", run_rows)
        conn.executemany("INSERT INTO tags (key, value, run_uuid) VALUES (?, ?, ?)", tag_rows)
        for table in ("metrics", "latest_metrics"):
            conn.executemany(
                f"INSERT INTO {table} (key, value, timestamp, step, is_nan, run_uuid) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                metric_rows,
            )
        conn.executemany("INSERT INTO params (key, value, run_uuid) VALUES (?, ?, ?)", param_rows)


if __name__ == "__main__":
    raise SystemExit(main())
