"""Cluster prediction benchmark: `mw predict --cluster` on two Dask workers against the
local `mw predict`, the same model and the same 10 million rows, in one run.

Run from the repository root::

    python bench/predict_cluster.py                 # 10,000,000 rows x 10 columns (~5 min)
    python bench/predict_cluster.py --rows 1000000  # quick run

Data (seeded, not timed): 10 normal float columns written as Parquet (pyarrow's
default row groups, ~1M rows each) and added with `mw data add` as ``big@1``. The
model is a LogisticRegression fitted on 20,000 z-scored rows (``bench-clf@1``, its
transform stored with it), so each chunk is transformed as `mw predict` does.

Measured with bench/_common.py's ``measure`` (wall time and the peak RSS of the `mw`
process itself, from ``os.wait4``):

1. ``mw predict bench-clf@1 --data big@1 --out local.parquet`` (the whole dataset
   read into the process, as the local command does);
2. ``mw predict ... --cluster tcp://127.0.0.1:PORT`` against a scheduler and two
   single-threaded ``dask worker`` processes on this machine, started before (their
   first task's import of scikit-learn is in the time). The workers' memory is theirs:
   the figure is the client's.

The two outputs must be equal row for row. Target: the client's peak RSS under 500 MB.
Exit status 0 only if it is met.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(BENCH_DIR.parent))

from _common import (  # noqa: E402
    log,
    machine_line,
    measure,
    mw_command,
    mw_env,
    now_utc,
    table,
)

TARGET_MB = 500
COLUMNS = 10


def _write_data(path: Path, rows: int) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    names = [f"x{i}" for i in range(COLUMNS)]
    block = 1_000_000
    with pq.ParquetWriter(path, pa.schema([(n, pa.float64()) for n in names])) as writer:
        for start in range(0, rows, block):
            count = min(block, rows - start)
            values = rng.normal(size=(count, COLUMNS))
            writer.write_table(pa.table(dict(zip(names, values.T, strict=True))))


def _model(env: dict[str, str]) -> None:
    """`bench-clf@1`: fitted on 20,000 z-scored rows, logged with its transform."""
    import numpy as np
    import pandas as pd

    os.environ.update(env)
    from sklearn.linear_model import LogisticRegression

    import modelward as mw

    rng = np.random.default_rng(1)
    names = [f"x{i}" for i in range(COLUMNS)]
    frame = pd.DataFrame(rng.normal(size=(20_000, COLUMNS)), columns=names)
    frame["y"] = (frame.x0 - frame.x1 + 0.5 * frame.x2 > 0).astype(int)
    raw = mw.data.add(frame, name="train")
    spec = {"steps": [{"normalize": {"columns": names, "method": "zscore"}}]}
    prepared_ref = mw.data.transform(raw.ref, spec, name="train-prep")
    prepared = mw.data.load(prepared_ref.ref)
    with mw.start_run(experiment="bench") as run:
        model = LogisticRegression(max_iter=1000).fit(prepared[names], prepared["y"])
        run.log_model(model, name="bench-clf", data=prepared_ref.ref)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="mw-bench-predict-"))
    try:
        return _bench(work, args.rows)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _bench(work: Path, rows_wanted: int) -> int:
    """Both runs in `work` (deleted afterwards); 0 if the target is met."""
    import pyarrow.parquet as pq
    from tests.cluster import dask_cluster

    home = work / "home"
    env = mw_env({**os.environ, "MODELWARD_HOME": str(home)})
    env.pop("MODELWARD_DB", None)
    env.pop("MODELWARD_ARTIFACTS", None)
    mw = mw_command()

    log(f"writing {rows_wanted:,} rows x {COLUMNS} columns (not timed)")
    data = work / "big.parquet"
    _write_data(data, rows_wanted)
    measure([*mw, "data", "add", str(data), "--name", "big"], env=env).check()
    _model(env)

    log("local: mw predict")
    local = measure(
        [*mw, "predict", "bench-clf@1", "--data", "big@1", "--out", str(work / "local.parquet")],
        env=env,
    ).check()
    log(f"  {local.wall_s:.1f} s, {local.peak_rss_mb:.0f} MB")
    with dask_cluster(workers=2) as cluster:
        log(f"cluster: mw predict --cluster {cluster.address} (2 workers)")
        argv = [*mw, "predict", "bench-clf@1", "--data", "big@1"]
        argv += ["--out", str(work / "cluster.parquet"), "--cluster", cluster.address, "--json"]
        remote = measure(argv, env=env).check()
    log(f"  {remote.wall_s:.1f} s, {remote.peak_rss_mb:.0f} MB")
    rows = json.loads(remote.stdout)["rows"]

    same = pq.read_table(work / "cluster.parquet").equals(pq.read_table(work / "local.parquet"))
    header = ["run", "wall s", "rows/s", "client peak RSS MB"]
    lines = [
        ["mw predict (local)", f"{local.wall_s:.1f}", f"{rows / local.wall_s:,.0f}",
         f"{local.peak_rss_mb:.0f}"],
        ["mw predict --cluster (2 workers)", f"{remote.wall_s:.1f}",
         f"{rows / remote.wall_s:,.0f}", f"{remote.peak_rss_mb:.0f}"],
    ]  # fmt: skip
    print(f"\n{now_utc()}, {machine_line()}")
    print(f"{rows:,} rows x {COLUMNS} columns; outputs equal row for row: {same}\n")
    print(table(lines, header))
    met = same and remote.peak_rss_mb < TARGET_MB
    print(f"\ntarget: client peak RSS < {TARGET_MB} MB: {'met' if met else 'NOT met'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
