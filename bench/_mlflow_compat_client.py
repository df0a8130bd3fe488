"""The client half of bench/mlflow_compat.py (run by it in bench/.venv-mlflow; not a benchmark).

    MLFLOW_TRACKING_URI=http://127.0.0.1:PORT [MLFLOW_TRACKING_TOKEN=...] \\
        bench/.venv-mlflow/bin/python bench/_mlflow_compat_client.py --calls N

The unmodified MLflow client, as a user's training script drives it: one run,
``mlflow.log_metric("loss", value, step=i)`` N times (synchronous, one HTTP request
per call, MLflow's default), then ``mlflow.end_run()``. The calls are timed from the
first to the end of the run. It then reads the series back with
``MlflowClient.get_metric_history`` and checks every (step, value) pair. Prints one
JSON object as the last line of stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, required=True)
    parser.add_argument("--experiment", default="mlflow-compat-bench")
    parser.add_argument("--no-read-back", action="store_true", help="for the floor server")
    args = parser.parse_args()

    import mlflow

    values = [1.0 / (step + 1) for step in range(args.calls)]
    mlflow.set_experiment(args.experiment)
    started = time.perf_counter()
    run = mlflow.start_run()
    run_started = time.perf_counter()
    for step, value in enumerate(values):
        mlflow.log_metric("loss", value, step=step)
    mlflow.end_run()
    ended = time.perf_counter()

    expected = list(enumerate(values))
    got: list[tuple[int, float]] = []
    if not args.no_read_back:
        history = mlflow.MlflowClient().get_metric_history(run.info.run_id, "loss")
        got = sorted((point.step, point.value) for point in history)
    print(
        json.dumps(
            {
                "run_id": run.info.run_id,
                "experiment_id": run.info.experiment_id,
                "calls": args.calls,
                "start_run_s": run_started - started,
                "calls_s": ended - run_started,
                "calls_per_s": args.calls / (ended - run_started),
                "read_back": len(got),
                "all_points_match": got == expected,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
