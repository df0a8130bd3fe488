"""PostgreSQL load of one `mw serve` replica, idle and under load, with the prediction log
in Parquet segments (the default with an S3 store) and in the database's table.

Run from the repository root::

    python bench/postgres_load.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/db

It needs a PostgreSQL database it may fill (the URL) and starts ``moto_server`` on
127.0.0.1 (stopped by its PID). A LogisticRegression on 2,000 rows x 4 numbers is
trained, registered and aliased ``production`` on PostgreSQL + S3; then, for each log
(``segments``, ``database``), ``mw serve`` (defaults: alias poll every 2 s, monitor every
10 s) runs ``--idle`` seconds without requests and ``--seconds`` seconds under one
keep-alive client sending one-row ``/predict`` requests as fast as it can. The database's
own counters (``pg_stat_database``: transactions committed, rows inserted, rows
returned) are read before and after each phase, so what is counted is every statement
the replica sent, however it sent them. Requests answered are counted by the client.
This is the figure `docs/scaling.md` divides the database's capacity by.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from bench._common import log, machine_line, mw_command, mw_env, now_utc, table  # noqa: E402
from tests import s3 as moto  # noqa: E402


def counters(engine: sa.Engine) -> dict[str, int]:
    """The database's commit, insert and read counters."""
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT pg_stat_clear_snapshot()"))
        row = conn.execute(
            sa.text(
                "SELECT xact_commit, tup_inserted, tup_returned, tup_fetched FROM "
                "pg_stat_database WHERE datname = current_database()"
            )
        ).one()
    return {
        "commits": int(row[0]),
        "inserted": int(row[1]),
        "returned": int(row[2]) + int(row[3]),
    }


def delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {key: after[key] - before[key] for key in before}


def settle(engine: sa.Engine) -> dict[str, int]:
    # pg_stat_database is updated by each backend at most every PGSTAT_MIN_INTERVAL (1 s)
    time.sleep(1.5)
    return counters(engine)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", required=True, help="a PostgreSQL URL it may fill")
    parser.add_argument("--seconds", type=float, default=20.0, help="under load, per log")
    parser.add_argument("--idle", type=float, default=20.0, help="idle, per log")
    args = parser.parse_args()
    log(machine_line())
    engine = sa.create_engine(args.postgres)
    rows: list[list[str]] = []
    with tempfile.TemporaryDirectory(dir=ROOT / "bench") as work_dir:
        work = Path(work_dir)
        process, endpoint = moto.start_moto(work / "moto.log")
        try:
            env = mw_env({**os.environ, **moto.CREDENTIALS, "AWS_ENDPOINT_URL": endpoint})
            bucket = "bench-pg-load"
            moto.client(endpoint).create_bucket(Bucket=bucket)
            env.update(
                MODELWARD_DB=args.postgres,
                MODELWARD_ARTIFACTS=f"s3://{bucket}/team",
                MODELWARD_HOME=str(work / "home"),
                XDG_CACHE_HOME=str(work / "cache"),
            )
            rng = np.random.default_rng(0)
            frame = pd.DataFrame(rng.normal(size=(2000, 4)), columns=["a", "b", "c", "d"])
            frame["label"] = (frame["a"] + frame["b"] > 0).astype(int)
            frame.to_csv(work / "train.csv", index=False)
            model = f"pgload-{os.getpid()}"

            def mw(*cmd: str) -> None:
                subprocess.run([*mw_command(), *cmd], env=env, check=True, capture_output=True)

            mw("data", "add", str(work / "train.csv"), "--name", model)
            estimator = "sklearn.linear_model.LogisticRegression"
            mw("train", "--data", f"{model}@1", "--model", estimator,
               "--target", "label", "--register", model)  # fmt: skip
            mw("models", "alias", model, "1", "production")
            for kind in ("segments", "database"):
                rows.extend(measure(kind, model, env, engine, args, work))
        finally:
            moto.stop(process)
    print()
    print(f"Command: `python bench/postgres_load.py --postgres URL` ({now_utc()}, PostgreSQL "
          f"with fsync on)")  # fmt: skip
    print()
    print(table(rows, ["log, phase", "requests/s", "commits/s", "rows inserted / request",
                       "commits / 1,000 requests", "rows read / request"]))  # fmt: skip
    return 0


def measure(
    kind: str, model: str, env: dict[str, str], engine: sa.Engine, args: Any, work: Path
) -> list[list[str]]:
    port = moto.free_port()
    server_env = {**env, "MODELWARD_PREDICTION_LOG": kind}
    cmd = [*mw_command(), "serve", f"{model}@production", "--port", str(port)]
    with open(work / f"serve-{kind}.log", "wb") as errors:
        server = subprocess.Popen(cmd, env=server_env, stdout=subprocess.DEVNULL, stderr=errors)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError(f"mw serve ({kind}) did not get ready")
            time.sleep(0.2)
        time.sleep(2)
        start = settle(engine)
        time.sleep(args.idle)
        idle = delta(start, settle(engine))
        log(f"{kind}, idle {args.idle:.0f} s: {idle}")
        body = {"instances": [{"a": 0.1, "b": -0.2, "c": 0.3, "d": 0.0}]}
        answered = 0
        start = counters(engine)
        with httpx.Client(base_url=url, timeout=10) as http:
            ends = time.monotonic() + args.seconds
            while time.monotonic() < ends:
                if http.post("/predict", json=body).status_code == 200:
                    answered += 1
        time.sleep(1.5)  # the writer's last batch
        loaded = delta(start, settle(engine))
        log(f"{kind}, {answered} requests in {args.seconds:.0f} s: {loaded}")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    per = max(answered, 1)
    return [
        [f"{kind}, idle", "0", f"{idle['commits'] / args.idle:.2f}", "-", "-", "-"],
        [
            f"{kind}, under load",
            f"{answered / args.seconds:,.0f}",
            f"{loaded['commits'] / args.seconds:.2f}",
            f"{loaded['inserted'] / per:.3f}",
            f"{loaded['commits'] / per * 1000:.2f}",
            f"{loaded['returned'] / per:.2f}",
        ],
    ]


if __name__ == "__main__":
    raise SystemExit(main())
