"""Two `mw serve` replicas over one PostgreSQL and one S3-protocol store, as on two
machines (each its own home): one alias move reaches both, their prediction logs land
in one place, and only one of them runs the model's monitor."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelward.config import load_settings
from modelward.monitoring.segment_log import segment_prediction_log
from tests.helpers import bird_features, mw_in_process
from tests.serving.support import Server, start_server

TRAIN = ("--target", "label", "--seed", "3", "--register", "birds-clf")


def _until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.timeout(180)
def test_two_replicas_follow_one_alias_move_and_share_one_prediction_log(
    postgres_url: str, s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELWARD_DB", postgres_url)
    monkeypatch.setenv("MODELWARD_ARTIFACTS", s3_bucket)
    shared = {"MODELWARD_DB": postgres_url, "MODELWARD_ARTIFACTS": s3_bucket}
    frame, rng = bird_features(300, 5)
    frame["label"] = ((frame["bill"] > 44) ^ (rng.random(300) < 0.1)).astype(int)
    csv = tmp_path / "birds.csv"
    frame.drop(columns=["island"]).to_csv(csv, index=False)
    laptop = tmp_path / "laptop"

    def mw(*args: str | Path) -> Any:
        result = mw_in_process(*args, "--json", home=laptop, env=shared)
        assert result.code == 0, result.stderr
        return result.json()

    mw("data", "add", csv, "--name", "birds")
    mw("train", "--data", "birds@1", "--model", "sklearn.tree.DecisionTreeClassifier", *TRAIN)
    mw("train", "--data", "birds@1", "--model", "sklearn.tree.DecisionTreeClassifier",
       "--param", "max_depth=2", *TRAIN)  # fmt: skip
    mw("models", "alias", "birds-clf", "1", "production")

    args = ("--poll-interval", "0.3", "--monitor-interval", "0.5")
    replicas: list[Server] = []
    sent: list[str] = []
    by_version: dict[int, int] = {}
    try:
        for name in ("replica-1", "replica-2"):
            replicas.append(start_server(tmp_path / name, "birds-clf@production", *args))
        rows = frame.drop(columns=["island", "label"]).head(5).to_dict(orient="records")

        def versions() -> list[int]:
            answered = []
            for replica in replicas:
                for _ in range(5):
                    answer = httpx.post(f"{replica.url}/predict", json={"instances": rows})
                    assert answer.status_code == 200, answer.text
                    answered.append(answer.json()["model"]["version"])
                    sent.append(answer.headers["x-request-id"])
                    by_version[answered[-1]] = by_version.get(answered[-1], 0) + 1
            return answered

        assert versions() == [1] * 10
        mw("models", "alias", "birds-clf", "2", "production")
        moved = time.monotonic()
        _until(lambda: set(versions()) == {2}, 10, "both replicas to answer with version 2")
        assert time.monotonic() - moved < 10

    finally:
        told = [replica.stop()[1] for replica in replicas]
    # every answered request of both replicas, in the one log: Parquet segments in the
    # bucket (the default with an S3 store), written at the latest on SIGTERM
    log = segment_prediction_log(load_settings())
    assert log.request_ids("birds-clf") == set(sent)
    assert log.count("birds-clf") == len(sent)
    assert log.requests_per_version("birds-clf") == by_version
    followers = [err for err in told if "runs the monitor of model 'birds-clf'" in err]
    assert len(followers) == 1, told  # one monitor for the model, the other says who
    for replica_home in (tmp_path / "replica-1", tmp_path / "replica-2"):
        stored = (
            [p for p in replica_home.rglob("*") if p.is_file()] if replica_home.exists() else []
        )
        assert not any(p.parent.name == "sha256" or "blobs" in p.parts for p in stored), stored
