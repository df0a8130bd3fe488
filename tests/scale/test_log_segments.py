"""A real `mw serve` over a real S3-protocol store logs to Parquet segments in the bucket
(the default there): live accuracy on /metrics, the drift of the logged window and
SIGTERM under load all come out of the segments, with nothing answered missing."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from scipy import stats
from sklearn.metrics import accuracy_score

from modelward.config import load_settings
from modelward.monitoring.segment_log import segment_prediction_log
from tests import s3
from tests.helpers import bird_features, mw_in_process
from tests.serving.support import start_server


@pytest.mark.timeout(240)
def test_mw_serve_on_s3_logs_segments_that_feed_live_metrics_drift_and_survive_sigterm(
    s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELWARD_ARTIFACTS", s3_bucket)
    monkeypatch.delenv("MODELWARD_DB", raising=False)
    monkeypatch.delenv("MODELWARD_PREDICTION_LOG", raising=False)
    home = tmp_path / "home"
    monkeypatch.setenv("MODELWARD_HOME", str(home))
    frame, rng = bird_features(600, 11)
    frame["label"] = ((frame["bill"] > 44) ^ (rng.random(600) < 0.1)).astype(int)
    data = frame[["bill", "mass", "label"]]
    csv = tmp_path / "birds.csv"
    data.to_csv(csv, index=False)

    def mw(*args: str | Path) -> Any:
        result = mw_in_process(*args, "--json", home=home, env={"MODELWARD_ARTIFACTS": s3_bucket})
        assert result.code == 0, result.stderr
        return result.json()

    mw("data", "add", csv, "--name", "birds")
    mw("train", "--data", "birds@1", "--model", "sklearn.linear_model.LogisticRegression",
       "--target", "label", "--register", "birds-clf")  # fmt: skip
    mw("models", "alias", "birds-clf", "1", "production")
    server = start_server(home, "birds-clf@production", "--monitor-interval", "0.5")
    answered: list[str] = []
    try:
        labels, predicted = [], []
        with httpx.Client(base_url=server.url, timeout=10) as http:
            for i in range(20):
                row = data.iloc[i][["bill", "mass"]].to_dict()
                answer = http.post("/predict", json={"instances": [row]}).json()
                answered.append(answer["request_id"])
                prediction = answer["predictions"][0]
                label = prediction if i < 15 else 1 - prediction
                sent = http.post(
                    "/feedback", json={"request_id": answer["request_id"], "label": label}
                )
                assert sent.status_code == 200, sent.text  # found in the segments
                labels.append(label)
                predicted.append(prediction)
            unknown = http.post("/feedback", json={"request_id": "never-asked", "label": 1})
            assert unknown.status_code == 404, unknown.text
            expected = accuracy_score(labels, predicted)

            def scraped() -> float | None:
                for line in http.get("/metrics").text.splitlines():
                    if line.startswith(
                        'modelward_live_metric{metric="accuracy",model="birds-clf"}'
                    ):
                        return float(line.split()[-1])
                return None

            deadline = time.monotonic() + 20
            while scraped() != pytest.approx(expected) and time.monotonic() < deadline:
                time.sleep(0.5)
            assert scraped() == pytest.approx(expected)

            # a shifted batch of inputs: the drift of the logged window is read from segments
            shifted = data.iloc[100:400][["bill", "mass"]].assign(bill=lambda f: f["bill"] + 6)
            answer = http.post("/predict", json={"instances": shifted.to_dict(orient="records")})
            assert answer.status_code == 200
            answered.append(answer.json()["request_id"])

        def load() -> None:
            with httpx.Client(base_url=server.url, timeout=10) as http:
                row = {"bill": 40.0, "mass": 4000.0}
                while True:
                    try:
                        response = http.post("/predict", json={"instances": [row]})
                    except httpx.TransportError:
                        return  # the server is going away
                    if response.status_code != 200:
                        return
                    answered.append(response.json()["request_id"])

        clients = [threading.Thread(target=load) for _ in range(4)]
        for thread in clients:
            thread.start()
        time.sleep(1.5)
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(timeout=60)
        for thread in clients:
            thread.join(timeout=30)
    finally:
        server.stop()
    assert len(answered) > 50
    log = segment_prediction_log(load_settings())
    assert log.request_ids("birds-clf") == set(answered)  # nothing answered is missing
    assert log.count("birds-clf") == len(answered)

    report = mw("monitor", "drift", "birds-clf", "--window", "1h")
    features = {item["name"]: item for item in report["features"]}
    current = [*data.iloc[:20]["bill"], *shifted["bill"], *[40.0] * (len(answered) - 21)]
    expected_ks = stats.ks_2samp(data["bill"], current).statistic
    assert features["bill"]["n_current"] == len(current)
    assert features["bill"]["ks_statistic"] == pytest.approx(expected_ks, abs=1e-9)
    assert features["bill"]["drifted"] is True

    bucket, prefix = s3_bucket.removeprefix("s3://").split("/", 1)
    listed = s3.client(os.environ["AWS_ENDPOINT_URL"]).list_objects_v2(
        Bucket=bucket, Prefix=f"{prefix}/prediction-log/"
    )
    keys = [item["Key"].removeprefix(f"{prefix}/prediction-log/") for item in listed["Contents"]]
    assert keys and all(k.startswith("model=birds-clf/version=1/hour=") for k in keys)
    assert not (home / "prediction-log").exists()  # nothing of the log in the home


def test_segments_in_s3_are_stored_once_per_batch_and_a_first_send_looks_nothing_up(
    s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelward.monitoring.prediction_records import PredictionRecord, encode_line

    monkeypatch.setenv("MODELWARD_ARTIFACTS", s3_bucket)
    segments = segment_prediction_log(load_settings())
    calls: list[str] = []
    segments.predictions.client.meta.events.register(  # type: ignore[attr-defined]
        "before-call.s3", lambda model, **_: calls.append(model.name)
    )
    hour_start = int(time.time() * 1000) // 3_600_000 * 3_600_000  # one hour partition
    records = [
        PredictionRecord(f"r{i}", "m", 1 + i % 2, hour_start + i, 200, 1.0, 1, {"x": [i]}, [0])
        for i in range(10)
    ]
    lines = [encode_line(r) for r in records]
    # the writer's first try of a batch: one PUT per partition (version), no lookup
    assert segments.add_lines(lines, batch_id="b1", first_send=True) == 10
    assert calls == ["PutObject", "PutObject"]
    # its resend (the answer lost): one HEAD per segment, whatever the hour's size
    calls.clear()
    assert segments.add_lines(lines, batch_id="b1") == 0
    assert calls == ["HeadObject", "HeadObject"]
    # a resend of a batch cut short stores the missing segment alone
    (hour,) = [h for h in segments.hours("m") if h.version == 2]
    (key,) = segments.predictions.files(hour.folder)
    segments.predictions.delete([key])
    assert not segments.predictions.exists(key)
    assert segments.add_lines(lines, batch_id="b1") == 5
    assert segments.predictions.exists(key)
    assert segments.count("m") == 10
    assert segments.request_ids("m") == {r.request_id for r in records}


def test_a_reader_lists_an_hour_in_s3_whole_once_then_from_its_newest_segment_on(
    s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelward.monitoring.prediction_records import PredictionRecord
    from modelward.store.object_folders import LocalObjectFolder

    monkeypatch.setenv("MODELWARD_ARTIFACTS", s3_bucket)
    segments = segment_prediction_log(load_settings())
    listed: list[tuple[str, str | None]] = []
    segments.predictions.client.meta.events.register(  # type: ignore[attr-defined]
        "provide-client-params.s3.ListObjectsV2",
        lambda params, **_: listed.append((params["Prefix"], params.get("StartAfter"))),
    )
    hour_start = int(time.time() * 1000) // 3_600_000 * 3_600_000
    for second in range(3):
        created = hour_start + 1000 * second
        segments.add_records(
            [PredictionRecord(f"r{second}", "m", 1, created, 200, 1.0, 1, {"x": [1]}, [0])]
        )
    hour_folder = next(iter(segments.hours("m"))).folder
    listed.clear()
    assert segments.request_summary("m", hour_start).total == 3
    assert segments.request_summary("m", hour_start).total == 3
    base = segments.predictions.base  # type: ignore[attr-defined]
    starts = [start for prefix, start in listed if prefix == base + hour_folder]
    # the hour's folder: whole the first time, from a minute before its newest after
    newest_but_a_minute = f"{base}{hour_folder}{hour_start + 2000 - 60_000:013d}"
    assert starts == [None, newest_but_a_minute]
    # S3 and a local folder list from a name on alike
    local = LocalObjectFolder(tmp_path / "listing")
    for key in segments.predictions.files(hour_folder):
        local.put(key, b"x")
    first = segments.predictions.files(hour_folder)[0].rsplit("/", 1)[-1]
    for after in ("", first, "0"):
        assert segments.predictions.files(hour_folder, after=after) == local.files(
            hour_folder, after=after
        )
    for after in ("", "hour=", hour_folder.split("/")[-2], "hour=9"):
        assert segments.predictions.children("model=m/version=1/", after=after) == (
            local.children("model=m/version=1/", after=after)
        )
