"""Pipeline candidates benchmark: 8 candidates on 2 local worker processes vs the same 8
one after another in this process, same store, same data, in one run.

Run from the repository root::

    python bench/pipeline_candidates.py              # 20,000 rows x 20 columns (~1.5 min)
    python bench/pipeline_candidates.py --rows 5000  # quick run

Data (seeded, not timed): 20 normal columns and a binary target with a nonlinear
boundary, added to a fresh home as ``bench@1``. The grid is 8 RandomForestClassifier
candidates (``n_estimators`` 40/80 x ``max_depth`` 10/none x ``criterion``
gini/entropy), each its own tracked run with its stored model, ~2-4 s apiece here.

Measured, in this order, in this one process (wall time of `Executor.run`):

1. ``executor_for(None, workers=2)``: two worker processes forked by a fork server
   this process starts when it makes the executor (its one ~2 s import of
   scikit-learn and the trainer included: nothing runs before training here);
2. the same 8 with ``InProcessExecutor``, one after another here (the first one
   pays this process's import of scikit-learn);
3. two workers again, the fork server already running (a pipeline's second run in
   a long-lived ``mw server``);
4. two workers started with ``spawn`` (each a new interpreter importing everything),
   for the start-method choice.

Every run must give each candidate the same held-out metrics as the sequential one.
Target: sequential / (1) >= 1.7x. Exit status 0 only if it is met.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from _common import log, machine_line, now_utc, table  # noqa: E402

TARGET = 1.7
FOREST = "sklearn.ensemble.RandomForestClassifier"


def _data(rows: int) -> Any:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(rows, 20)), columns=[f"x{i:02d}" for i in range(20)])
    score = frame.x00 - frame.x01 + 0.5 * frame.x02 * frame.x03 + np.sin(2 * frame.x04)
    frame["churned"] = (score + rng.normal(0, 0.8, rows) > 0).astype(int)
    return frame


def _jobs(data: str, label: str) -> list[Any]:
    from modelward.config import load_settings
    from modelward.pipelines.candidates import Candidate, TrainingJob

    grid = [
        (trees, depth, criterion)
        for trees in (40, 80)
        for depth in (10, None)
        for criterion in ("gini", "entropy")
    ]
    return [
        TrainingJob(
            settings=load_settings(),
            data=data,
            target="churned",
            experiment="bench",
            candidate=Candidate(
                number, FOREST, None, {"n_estimators": t, "max_depth": d, "criterion": c}
            ),
            tags={"bench.mode": label},
        )
        for number, (t, d, c) in enumerate(grid, 1)
    ]


def _timed(label: str, make: Callable[[], Any], data: str) -> tuple[float, list[Any]]:
    """Wall time from making the executor to the last outcome."""
    log(f"{label}: 8 candidates ...")
    started = time.perf_counter()
    outcomes = make().run(_jobs(data, label))
    seconds = time.perf_counter() - started
    failed = [o.error for o in outcomes if o.error]
    if failed:
        raise SystemExit(f"{label}: a candidate failed: {failed[0]}")
    log(f"{label}: {seconds:.2f} s")
    return seconds, outcomes


def _same(a: list[Any], b: list[Any]) -> bool:
    return all(
        x.candidate == y.candidate
        and x.metrics.keys() == y.metrics.keys()
        and all(
            abs(x.metrics[k] - y.metrics[k]) <= 1e-9 * max(1.0, abs(y.metrics[k]))
            for k in x.metrics
        )
        for x, y in zip(a, b, strict=True)
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="mw-bench-candidates-"))
    os.environ["MODELWARD_HOME"] = str(home)
    os.environ.pop("MODELWARD_DB", None)
    os.environ.pop("MODELWARD_URI", None)
    from modelward.data.catalog import DatasetCatalog
    from modelward.pipelines.candidates import InProcessExecutor, executor_for
    from modelward.pipelines.local_workers import LocalExecutor
    from modelward.store.workspace import open_workspace

    version, _ = DatasetCatalog(open_workspace()).add_frame(_data(args.rows), name="bench")
    data = str(version.ref)
    print(f"{now_utc()}; {machine_line()}")
    print(f"8 RandomForest candidates on {args.rows:,} rows x 20 columns ({data})\n")

    cold, parallel = _timed("2 workers (forkserver, cold)", lambda: executor_for(None, 2), data)
    sequential_s, sequential = _timed("sequential, in this process", InProcessExecutor, data)
    warm, warm_out = _timed("2 workers (forkserver, warm)", lambda: executor_for(None, 2), data)
    spawn, spawn_out = _timed(
        "2 workers (spawn)", lambda: LocalExecutor(2, start_method="spawn"), data
    )
    same = all(_same(o, sequential) for o in (parallel, warm_out, spawn_out))

    per_candidate = sum(o.seconds for o in sequential) / len(sequential)
    rows = [
        ["sequential, in this process", f"{sequential_s:.2f}", "1.00x"],
        ["2 workers, forkserver started by this run", f"{cold:.2f}", f"{sequential_s / cold:.2f}x"],
        ["2 workers, forkserver already running", f"{warm:.2f}", f"{sequential_s / warm:.2f}x"],
        ["2 workers, spawn", f"{spawn:.2f}", f"{sequential_s / spawn:.2f}x"],
    ]
    print(table(rows, ["8 candidates", "wall s", "vs sequential"]))
    print(f"\nmean candidate {per_candidate:.2f} s sequential; same metrics everywhere: {same}")
    ratio = sequential_s / cold
    met = ratio >= TARGET and same
    print(f"target sequential / 2 workers >= {TARGET}x: {ratio:.2f}x {'met' if met else 'MISSED'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
