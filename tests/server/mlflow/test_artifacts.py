"""Artifacts through MLflow's artifact proxy: logged, listed, downloaded; no path escapes.

`mlflow.log_artifact` uploads to `/api/2.0/mlflow-artifacts/artifacts/...`; the bytes
land in modelward's content-addressed store and the run records them. Every path
trick is sent raw (http.client does not normalise paths as httpx and requests do).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import mlflow
import pytest
import requests

from modelward.server.tokens import READER, WRITER
from modelward.tracking.repository import RunRepository
from modelward.tracking.run import ActiveRun
from tests.server.mlflow.support import LiveServer, mlflow_app, unique

pytestmark = pytest.mark.timeout(120)


def _run(live: LiveServer) -> tuple[str, str]:
    client = mlflow.MlflowClient()
    experiment_id = client.create_experiment(unique("art"))
    return experiment_id, client.create_run(experiment_id).info.run_id


def _raw(
    live: LiveServer, method: str, path: str, body: bytes = b"", role: str = WRITER
) -> tuple[int, dict[str, object]]:
    """Send `path` exactly as written (no normalisation, no re-encoding)."""
    parts = urlsplit(live.url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        connection.putrequest(method, path, skip_accept_encoding=True)
        connection.putheader("Authorization", f"Bearer {live.secrets[role]}")
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        data = response.read()
    finally:
        connection.close()
    try:
        decoded = json.loads(data) if data else {}
    except ValueError:
        decoded = {"raw": data.decode("latin-1")}
    return response.status, decoded


def test_logged_files_are_listed_downloaded_and_stored_by_digest(
    mlflow_client: LiveServer, tmp_path: Path
) -> None:
    source = tmp_path / "out"
    (source / "plots").mkdir(parents=True)
    files = {
        "report.txt": b"accuracy 0.93\n",
        "plots/roc.png": os.urandom(70_000),
        "plots/pr.png": os.urandom(1000),
    }
    for name, data in files.items():
        (source / name).write_bytes(data)
    mlflow.set_experiment(unique("art"))
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(source / "report.txt"))
        mlflow.log_artifacts(str(source / "plots"), artifact_path="figures")
    run_id = run.info.run_id

    client = mlflow.MlflowClient()
    top = client.list_artifacts(run_id)
    assert [(f.path, f.is_dir, f.file_size) for f in top] == [
        ("figures", True, None),
        ("report.txt", False, len(files["report.txt"])),
    ]
    inner = client.list_artifacts(run_id, "figures")
    assert {(f.path, f.file_size) for f in inner} == {
        ("figures/roc.png", 70_000),
        ("figures/pr.png", 1000),
    }
    target = tmp_path / "back"
    target.mkdir()
    mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path="figures", dst_path=str(target)
    )
    assert (target / "figures" / "roc.png").read_bytes() == files["plots/roc.png"]
    assert (target / "figures" / "pr.png").read_bytes() == files["plots/pr.png"]

    stored = {a.path: a for a in RunRepository(mlflow_client.workspace.db).get(run_id).artifacts}
    assert set(stored) == {"report.txt", "figures/roc.png", "figures/pr.png"}
    for path, name in (("report.txt", "report.txt"), ("figures/roc.png", "plots/roc.png")):
        assert stored[path].digest == hashlib.sha256(files[name]).hexdigest()
        assert mlflow_client.workspace.artifacts.read_bytes(stored[path].digest) == files[name]

    with mlflow_client.http(READER) as http_client:
        listed = http_client.get(
            "/api/2.0/mlflow/artifacts/list", params={"run_id": run_id, "path": "figures"}
        ).json()
    assert listed["root_uri"] == run.info.artifact_uri
    assert {f["path"] for f in listed["files"]} == {"figures/pr.png", "figures/roc.png"}


def test_a_modelward_runs_artifacts_download_through_the_mlflow_client(
    mlflow_client: LiveServer, tmp_path: Path
) -> None:
    with ActiveRun(mlflow_client.workspace, experiment=unique("mwart")) as run:
        run.log_bytes(b'{"rows": 3}', "eval/summary.json")
    out = mlflow.artifacts.download_artifacts(
        run_id=run.id, artifact_path="eval/summary.json", dst_path=str(tmp_path)
    )
    assert Path(out).read_bytes() == b'{"rows": 3}'


def test_a_download_is_verified_against_its_digest(
    mlflow_client: LiveServer, tmp_path: Path
) -> None:
    experiment_id, run_id = _run(mlflow_client)
    (tmp_path / "w.bin").write_bytes(b"weights" * 100)
    mlflow.MlflowClient().log_artifact(run_id, str(tmp_path / "w.bin"))
    artifact = RunRepository(mlflow_client.workspace.db).get(run_id).artifacts[0]
    blob = mlflow_client.workspace.local_artifacts.local_path(artifact.digest)
    os.chmod(blob, 0o600)
    blob.write_bytes(b"tampered" * 100)
    status, body = _raw(
        mlflow_client,
        "GET",
        f"/api/2.0/mlflow-artifacts/artifacts/{experiment_id}/{run_id}/artifacts/w.bin",
    )
    assert (status, body["error_code"]) == (500, "DATA_LOSS")
    assert "tampered" in str(body["message"])


ATTACKS = [
    "../../../../../../tmp/{marker}",
    "%2e%2e/%2e%2e/%2e%2e/%2e%2e/tmp/{marker}",
    "%252e%252e/%252e%252e/%252e%252e/tmp/{marker}",
    "..%2f..%2f..%2f..%2ftmp%2f{marker}",
    "%25252e%25252e%25252f{marker}",
    "..%5c..%5c..%5ctmp%5c{marker}",
    "..;/..;/..;/tmp/{marker}",
    "a;x=../../{marker}",
    "/tmp/{marker}",
    "%2ftmp%2f{marker}",
    "C:%5cWindows%5c{marker}",
    "./{marker}",
    "a//{marker}",
    "a/%00/{marker}",
    "a%0a{marker}",
]


@pytest.mark.parametrize("attack", ATTACKS)
def test_every_path_trick_is_refused_on_every_artifact_route(
    mlflow_client: LiveServer, attack: str
) -> None:
    experiment_id, run_id = _run(mlflow_client)
    marker = f"mw-escape-{uuid.uuid4().hex[:8]}"
    inner = attack.format(marker=marker)
    root = f"{experiment_id}/{run_id}/artifacts"
    for method, path, body in (
        ("PUT", f"/api/2.0/mlflow-artifacts/artifacts/{root}/{inner}", b"owned"),
        ("GET", f"/api/2.0/mlflow-artifacts/artifacts/{root}/{inner}", b""),
        ("GET", f"/api/2.0/mlflow-artifacts/artifacts?path={root}/{inner}", b""),
        ("GET", f"/api/2.0/mlflow/artifacts/list?run_id={run_id}&path={inner}", b""),
    ):
        status, answer = _raw(mlflow_client, method, path, body)
        assert status == 400, (method, path, status, answer)
        assert answer["error_code"] == "INVALID_PARAMETER_VALUE", (method, path, answer)
        assert "Invalid path" in str(answer["message"])
    assert RunRepository(mlflow_client.workspace.db).get(run_id).artifacts == ()
    for folder in (Path("/tmp"), mlflow_client.workspace.settings.home.parent):
        assert not (folder / marker).exists()


def test_a_path_outside_any_run_is_not_found(mlflow_client: LiveServer) -> None:
    experiment_id, run_id = _run(mlflow_client)
    for path in (
        "/api/2.0/mlflow-artifacts/artifacts/etc/passwd",
        f"/api/2.0/mlflow-artifacts/artifacts/{experiment_id}/{'0' * 32}/artifacts/x",
        f"/api/2.0/mlflow-artifacts/artifacts/987654/{run_id}/artifacts/x",
        f"/api/2.0/mlflow-artifacts/artifacts/{experiment_id}/{run_id}/artifacts/missing.txt",
    ):
        status, answer = _raw(mlflow_client, "GET", path)
        assert (status, answer["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST"), path


@pytest.fixture
def small_upload_cap(live: LiveServer) -> Iterator[int]:
    """This module's server takes uploads of at most 1,000 bytes, for one test."""
    state = mlflow_app(live.app).state
    before = state.max_artifact_bytes
    state.max_artifact_bytes = 1000
    yield 1000
    state.max_artifact_bytes = before


def test_uploads_over_the_cap_are_refused_and_leave_nothing(
    mlflow_client: LiveServer, small_upload_cap: int, tmp_path: Path
) -> None:
    experiment_id, run_id = _run(mlflow_client)
    (tmp_path / "big.bin").write_bytes(b"x" * (small_upload_cap + 1))
    with pytest.raises(requests.HTTPError) as refused:  # what the client raises for uploads
        mlflow.MlflowClient().log_artifact(run_id, str(tmp_path / "big.bin"))
    answer = refused.value.response
    assert answer is not None
    assert answer.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "1,000-byte limit" in answer.json()["message"]
    # without a Content-Length: streamed, and cut off at the cap
    with mlflow_client.http() as http_client:
        response = http_client.put(
            f"/api/2.0/mlflow-artifacts/artifacts/{experiment_id}/{run_id}/artifacts/chunks.bin",
            content=iter([b"y" * 600, b"y" * 600]),
        )
    assert (response.status_code, response.json()["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    assert RunRepository(mlflow_client.workspace.db).get(run_id).artifacts == ()
    assert not list(mlflow_client.workspace.local_artifacts.root.glob("mlflow-upload-*"))
    (tmp_path / "ok.bin").write_bytes(b"z" * small_upload_cap)
    mlflow.MlflowClient().log_artifact(run_id, str(tmp_path / "ok.bin"))
    assert [a.path for a in RunRepository(mlflow_client.workspace.db).get(run_id).artifacts] == [
        "ok.bin"
    ]


def test_a_dropped_upload_records_nothing_and_the_server_keeps_serving(
    mlflow_client: LiveServer,
) -> None:
    experiment_id, run_id = _run(mlflow_client)
    parts = urlsplit(mlflow_client.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(
            (
                f"PUT /api/2.0/mlflow-artifacts/artifacts/{experiment_id}/{run_id}/artifacts/"
                f"half.bin HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                f"Authorization: Bearer {mlflow_client.secrets[WRITER]}\r\n"
                "Content-Length: 100000\r\n\r\n"
            ).encode()
            + b"h" * 5000
        )
        time.sleep(0.2)
    deadline = time.monotonic() + 5
    while list(mlflow_client.workspace.local_artifacts.root.glob("mlflow-upload-*")):
        assert time.monotonic() < deadline, "the partial upload was left behind"
        time.sleep(0.05)
    assert RunRepository(mlflow_client.workspace.db).get(run_id).artifacts == ()
    assert mlflow.MlflowClient().get_run(run_id).info.run_id == run_id
