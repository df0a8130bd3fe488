"""What the dashboard's tests look at: data, a transform, runs, models, served traffic."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

import modelward as mw
from modelward.monitoring.alert_store import AlertRepository
from modelward.monitoring.predictions import PredictionLogRepository, PredictionRecord
from modelward.monitoring.writer import PredictionLogWriter
from modelward.store.database import Database

XSS = "<script>alert('x')</script>&\"'"
IMG_XSS = "<img src=x onerror=alert(1)>"


def seed_loop() -> dict[str, str]:
    """raw@1, raw@2 -> prep@1 (a transform) -> two runs -> clf@1, clf@2 (`production`)."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=200),
            "city": rng.choice(["paris", XSS], size=200),
            "y": rng.integers(0, 2, size=200),
        }
    )
    raw = mw.data.add(frame, name="raw")
    mw.data.add(frame.assign(x=frame.x * 3), name="raw")  # raw@2, for the diff
    prep = mw.data.transform("raw@1", {"steps": [{"one_hot": {"columns": ["city"]}}]}, name="prep")
    data = mw.data.load(prep)
    features = data.drop(columns=["y"])
    run_ids = []
    for c in (1.0, 0.1):
        with mw.start_run(experiment="clf", name=f"C={c}") as run:
            run.log_input(prep)
            model = LogisticRegression(C=c).fit(features, data.y)
            run.log_metric("f1", 0.5 + c / 10)
            run.log_model(model, name="clf", data=prep)
            run_ids.append(run.id)
    mw.models.set_alias("clf", 2, "production", reason=XSS)
    return {"raw": raw.ref, "prep": prep.ref, "run": run_ids[0]}


def seed_traffic(db: Database) -> dict[str, int]:
    """120 logged requests to clf@2 over the last 20 minutes, 4 failed, half labeled."""
    now_ms = int(time.time() * 1000)
    rng = np.random.default_rng(1)
    writer = PredictionLogWriter(PredictionLogRepository(db))
    for i in range(120):
        drifted = i >= 60  # the second half is far from the training data
        writer.record(
            PredictionRecord(
                request_id=f"r{i}",
                model_name="clf",
                model_version=2,
                created_ms=now_ms - (120 - i) * 10_000,
                status=200 if i % 30 else 500,
                latency_ms=float(i % 10 + 1),
                n_rows=1,
                inputs={
                    "x": [float(rng.normal(8 if drifted else 0))],
                    "city": ["paris" if i % 2 else XSS],
                },
                outputs=[int(i % 2)],
            )
        )
    writer.flush()
    log = PredictionLogRepository(db)
    right = labeled = 0
    for i in range(0, 120, 2):
        label = i % 2 if i % 8 else 1 - i % 2  # one in four wrong
        log.add_feedback(f"r{i}", label)
        if i % 30:  # a label for a failed request (no prediction) scores nothing
            labeled += 1
            right += label == i % 2
    AlertRepository(db).add(
        rule="drift", metric="drift_share", state="firing", value=0.5, model="clf",
        message=f"drift {XSS}", details={},
    )  # fmt: skip
    return {"labeled": labeled, "right": right, "now_ms": now_ms}
