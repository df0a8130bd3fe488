"""MLflow half of bench/serving.py's set-up (run by it inside bench/.venv-mlflow).

    bench/.venv-mlflow/bin/python bench/_serving_mlflow_worker.py KIND CSV WORKDIR MW.json

Fits ``make_model(KIND)`` on CSV (the file modelward ingested), checks its predictions
equal those modelward's model made (MW.json, from _serving_mw_worker.py), then, in a
fresh SQLite tracking store ``sqlite:///WORKDIR/mlflow.db`` (artifacts in
``WORKDIR/artifacts``), times ``mlflow.sklearn.log_model`` (cold: the first call in the
process; warm: again in new runs), and ``mlflow.register_model`` of the logged model.
Prints one JSON object (timings, run id, model URI) as the last line of stdout.
Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from _serving_model import PENGUIN_TARGET, TARGET, make_model, make_pipeline

NAME = "bench-clf"
WARM_REPEAT = 5
REGISTER_REPEAT = 5


def log(msg: str) -> None:
    print(f"[mlflow-worker] {msg}", file=sys.stderr, flush=True)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("kind")
    p.add_argument("csv", type=Path)
    p.add_argument("workdir", type=Path)
    p.add_argument("mw_json", type=Path)
    p.add_argument("--transformed", type=Path, help="penguins CSV: also log a pipeline")
    args = p.parse_args()
    warnings.filterwarnings("ignore")
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")

    import pandas as pd

    df = pd.read_csv(args.csv)
    X, y = df.drop(columns=[TARGET]), df[TARGET]
    model = make_model(args.kind).fit(X, y)
    mine = model.predict(X).tolist()
    theirs = json.loads(args.mw_json.read_text())
    out: dict[str, Any] = {
        "same_columns": list(X.columns) == theirs["columns"],
        "prediction_mismatches": sum(
            a != b for a, b in zip(mine, theirs["predictions"], strict=True)
        ),
        "rows_compared": len(mine),
    }
    if "proba" in theirs and hasattr(model, "predict_proba"):
        proba = model.predict_proba(X)[:, -1].tolist()
        out["max_proba_diff"] = max(abs(a - b) for a, b in zip(proba, theirs["proba"], strict=True))

    t0 = time.perf_counter()
    import mlflow
    import mlflow.sklearn
    from mlflow.models import infer_signature

    out["import_s"] = time.perf_counter() - t0
    out["mlflow_version"] = mlflow.__version__
    import sklearn

    out["sklearn"] = sklearn.__version__
    db = args.workdir / "mlflow.db"
    mlflow.set_tracking_uri(f"sqlite:///{db}")
    out["tracking_uri"] = f"sqlite:///{db}"
    experiment = mlflow.create_experiment(
        "bench", artifact_location=(args.workdir / "artifacts").as_uri()
    )
    signature = infer_signature(X, model.predict(X))

    def log_once() -> tuple[str, str]:
        with mlflow.start_run(experiment_id=experiment) as run:
            info = mlflow.sklearn.log_model(model, name="model", signature=signature)
        return run.info.run_id, info.model_uri

    t0 = time.perf_counter()
    run_id, model_uri = log_once()
    out["log_model_cold_s"] = time.perf_counter() - t0
    log(f"log_model (cold) {out['log_model_cold_s']:.2f} s")
    warm = []
    for _ in range(WARM_REPEAT):
        t0 = time.perf_counter()
        log_once()
        warm.append(time.perf_counter() - t0)
    out["log_model_warm_s"] = statistics.median(warm)

    reg = []
    for _ in range(REGISTER_REPEAT):
        t0 = time.perf_counter()
        mlflow.register_model(model_uri, NAME)
        reg.append(time.perf_counter() - t0)
    out["register_first_s"] = reg[0]
    out["register_s"] = statistics.median(reg)
    out["run_id"] = run_id
    # MLflow 3 stores the model as a "logged model" (models:/m-...), not under the run.
    out["model_uri"] = model_uri
    if args.transformed:
        out["transformed"] = log_pipeline(args.transformed, theirs["transformed"], experiment)
    print(json.dumps(out), flush=True)
    return 0


def log_pipeline(csv: Path, theirs: dict[str, Any], experiment: str) -> dict[str, Any]:
    """The penguins model as one scikit-learn pipeline, logged like the numeric one."""
    import mlflow
    import mlflow.sklearn
    import pandas as pd
    from mlflow.models import infer_signature

    frame = pd.read_csv(csv)
    X = frame[theirs["columns"]]
    model = make_pipeline().fit(X, frame[PENGUIN_TARGET])
    mine = [str(v) for v in model.predict(X)]
    with mlflow.start_run(experiment_id=experiment):
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(X, model.predict(X)),
            skops_trusted_types=["numpy.dtype"],  # the encoders' dtype parameter
        )
    return {
        "model_uri": info.model_uri,
        "rows_compared": len(mine),
        "prediction_mismatches": sum(
            a != b for a, b in zip(mine, theirs["predictions"], strict=True)
        ),
    }


if __name__ == "__main__":
    sys.exit(main())
