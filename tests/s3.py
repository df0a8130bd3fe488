"""A real S3-protocol server for tests: `moto_server` on a free 127.0.0.1 port.

    s3_server          session: the server's endpoint URL (stopped by its PID at the end)
    s3_bucket          one test: a fresh bucket, AWS_* set for it, a private artifact cache;
                       yields the `s3://bucket/prefix` URL for MODELWARD_ARTIFACTS

Import the fixtures into a conftest (`from tests.s3 import s3_bucket, s3_server`).
Nothing here talks to AWS: the endpoint is always the local server.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "modelward-test",
    "AWS_SECRET_ACCESS_KEY": "modelward-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def free_port() -> int:
    """A TCP port nobody listens on at the moment."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_moto(log: Path, **env: str) -> tuple[subprocess.Popen[bytes], str]:
    """Start `moto_server` on a free port; (its process, its endpoint) once it answers."""
    port = free_port()
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto_server exited: {log.read_text()[-2000:]}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return process, f"http://127.0.0.1:{port}"
        time.sleep(0.05)
    stop(process)
    raise RuntimeError("moto_server did not start listening within 30 s")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a server this module started, by its PID."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()


def client(endpoint: str) -> Any:
    """A plain boto3 client of the test server (the tests' independent view of the bucket)."""
    import boto3

    return boto3.session.Session(
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name=CREDENTIALS["AWS_DEFAULT_REGION"],
    ).client("s3", endpoint_url=endpoint)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto_server on 127.0.0.1 for the session; yields its endpoint URL."""
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    process, endpoint = start_moto(log)
    try:
        yield endpoint
    finally:
        stop(process)


@pytest.fixture
def s3_bucket(s3_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket with AWS_* pointing at it; the `s3://bucket/prefix` to store artifacts in."""
    bucket = f"mw-test-{uuid.uuid4().hex[:12]}"
    client(s3_server).create_bucket(Bucket=bucket)
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    return f"s3://{bucket}/team/artifacts"
