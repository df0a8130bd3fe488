"""MLflow half of bench/remote_logging.py (run by it inside bench/.venv-mlflow).

    bench/.venv-mlflow/bin/python bench/_mlflow_remote_worker.py URI CALLS

Logs CALLS points one `mlflow.log_metric` call each (synchronous, MLflow's default)
to the tracking server at URI, then reads the metric history back from that server
and prints one JSON object (timings, what the server stored) as its last line.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import sys
import time
import warnings


def main() -> int:
    uri, calls = sys.argv[1], int(sys.argv[2])
    warnings.filterwarnings("ignore")
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    os.environ["MLFLOW_ENABLE_ASYNC_LOGGING"] = "false"
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("bench-remote")
    rng = random.Random(7)
    values = [rng.random() for _ in range(calls)]
    t0 = time.perf_counter()
    run = mlflow.start_run()
    t1 = time.perf_counter()
    for step, value in enumerate(values):
        mlflow.log_metric("loss", value, step=step)
    mlflow.end_run()
    t2 = time.perf_counter()
    history = MlflowClient().get_metric_history(run.info.run_id, "loss")
    out = {
        "mlflow_version": mlflow.__version__,
        "calls": calls,
        "start_run_s": t1 - t0,
        "log_s": t2 - t1,
        "stored_points": len(history),
        "stored_steps_ok": sorted(m.step for m in history) == list(range(calls)),
        "sum_ok": math.isclose(
            math.fsum(m.value for m in history), math.fsum(values), rel_tol=1e-12
        ),
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
