"""Hot swap under load, several workers, and models that must not load."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

import modelward as mw
from modelward.store.workspace import close_workspaces
from tests.serving.conftest import Served, Server


@pytest.mark.timeout(120)
def test_moving_the_alias_under_load_fails_no_request(
    served: Served, server_factory: Callable[..., Server]
) -> None:
    mw.models.set_alias("bc-clf", 1, "canary")
    server = server_factory(served.home, "bc-clf@canary", "--poll-interval", "0.2")
    body = {"instances": served.raw.iloc[:5].to_numpy().tolist()}
    answers: list[tuple[int, int | None]] = []
    stop = threading.Event()

    def client() -> None:
        with httpx.Client(timeout=10) as http:
            while not stop.is_set():
                response = http.post(server.url + "/predict", json=body)
                version = (
                    response.json()["model"]["version"] if response.status_code == 200 else None
                )
                answers.append((response.status_code, version))

    workers = [threading.Thread(target=client) for _ in range(4)]
    for worker in workers:
        worker.start()
    try:
        time.sleep(1.0)
        mw.models.set_alias("bc-clf", 2, "canary", reason="test swap")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(v == 2 for _, v in answers[-20:]):
            time.sleep(0.1)
        time.sleep(0.5)
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=30)
    statuses = {status for status, _ in answers}
    assert statuses == {200}, f"some requests failed: {statuses}"
    versions = [v for _, v in answers]
    assert 1 in versions and 2 in versions
    assert versions[-1] == 2
    assert len(answers) > 50


@pytest.mark.timeout(120)
def test_two_workers_serve_and_stop_cleanly(
    served: Served, server_factory: Callable[..., Server]
) -> None:
    server = server_factory(served.home, "bc-clf@2", "--workers", "2")
    body = {"instances": served.raw.iloc[:3].to_numpy().tolist()}
    with httpx.Client() as http:
        results = [http.post(server.url + "/predict", json=body) for _ in range(40)]
    assert all(r.status_code == 200 and r.json()["model"]["version"] == 2 for r in results)
    server.stop()
    assert server.process.returncode in (0, -15)


def _serve_exit(home: Path, ref: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modelward", "serve", ref, "--port", "0", *args],
        env={**os.environ, "MODELWARD_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_unknown_model_or_alias_is_exit_2(served: Served) -> None:
    result = _serve_exit(served.home, "nobody@production")
    assert result.returncode == 2 and "unknown model 'nobody'" in result.stderr
    result = _serve_exit(served.home, "bc-clf@nonexistent")
    assert result.returncode == 2 and "no alias 'nonexistent'" in result.stderr


def test_a_tampered_artifact_is_refused(tmp_path: Path, served: Served) -> None:
    import shutil

    home = tmp_path / "home"
    shutil.copytree(served.home, home)
    digest = mw.models.get("bc-clf@1").digest
    blob = home / "blobs" / "sha256" / digest[:2] / digest[2:]
    blob.chmod(0o644)
    data = bytearray(blob.read_bytes())
    data[100] ^= 0x01
    blob.write_bytes(bytes(data))
    for workers in ("1", "2"):
        result = _serve_exit(home, "bc-clf@1", "--workers", workers)
        assert result.returncode == 1
        assert "tampered" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_an_untrusted_pickle_is_refused_unless_trusted(
    tmp_path: Path, served: Served, server_factory: Callable[..., Server]
) -> None:
    from sklearn.linear_model import LogisticRegression

    prepared = mw.data.load("bc-prep")
    X, y = prepared.drop(columns=["target"]), prepared["target"]
    with mw.start_run(experiment="pickles") as run:
        version = run.log_model(
            LogisticRegression(max_iter=500).fit(X, y),
            name="pickled",
            data="bc-prep",
            format="pickle",
        )
    assert version.format == "pickle"
    refused = _serve_exit(served.home, version.ref)
    assert refused.returncode == 2 and "--trust" in refused.stderr
    refused = _serve_exit(served.home, version.ref, "--workers", "2")
    assert refused.returncode == 2 and "--trust" in refused.stderr
    with pytest.raises(mw.InvalidInput, match="trust"):
        mw.models.load(version.ref)
    server = server_factory(served.home, version.ref, "--trust")
    answer = httpx.post(
        server.url + "/predict", json={"instances": served.raw.iloc[:2].to_numpy().tolist()}
    )
    assert answer.status_code == 200


def test_an_onnx_model_serves_the_same_answers(
    served: Served, server_factory: Callable[..., Server]
) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "modelward",
            "train",
            "--data",
            "bc-prep",
            "--target",
            "target",
            "--model",
            "sklearn.ensemble.RandomForestClassifier",
            "--param",
            "n_estimators=10",
            "--param",
            "random_state=0",
            "--format",
            "onnx",
            "--register",
            "bc-onnx",
            "--json",
        ],
        env={**os.environ, "MODELWARD_HOME": str(served.home)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    registered = json.loads(result.stdout)["registered"]
    # A fresh engine: this process's pooled SQLite connections once showed a stale
    # view right after another process registered a model (see the session note).
    close_workspaces()
    version = mw.models.get(registered)
    assert version.name == "bc-onnx", result.stdout
    assert (version.format, version.flavor) == ("onnx", "onnx")
    server = server_factory(served.home, "bc-onnx@1")
    rows = served.raw.iloc[:50]
    answer = httpx.post(server.url + "/predict", json={"instances": rows.to_numpy().tolist()})
    assert answer.status_code == 200, answer.text
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import train_test_split

    prepared = mw.data.load("bc-prep")
    X, y = prepared.drop(columns=["target"]), prepared["target"]
    X_train, _, y_train, _ = train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)
    reference = RandomForestClassifier(n_estimators=10, random_state=0).fit(X_train, y_train)
    expected = reference.predict(served.prepared.iloc[:50]).tolist()
    agreement = sum(a == b for a, b in zip(answer.json()["predictions"], expected, strict=True))
    assert agreement >= 49  # float32 inside ONNX may flip a point on a threshold
