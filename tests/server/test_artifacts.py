"""Artifacts over HTTP (issue 9, item 4): streamed, verified both ends, capped, whole or nothing."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import threading
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from modelward.errors import IntegrityError, InvalidInput, TooLarge
from modelward.server.app import create_app
from modelward.store.artifacts import LocalArtifactStore
from modelward.store.remote import ServerClient
from modelward.store.remote_artifacts import RemoteArtifactStore
from modelward.store.workspace import Workspace, open_workspace
from tests.server.live import live_server, raw_request, status_of
from tests.server.support import BASE_URL, READER, WRITER, TeamServer

MiB = 1 << 20


@pytest.fixture
def team(home: Path) -> TeamServer:
    """A team server over a SQLite store (artifacts do not touch the metadata backend)."""
    workspace = open_workspace()
    workspace.local_artifacts.create()
    return TeamServer.start(workspace)


def _limited(team: TeamServer, max_bytes: int) -> TeamServer:
    """The same store behind a server whose upload limit is `max_bytes`."""
    workspace = team.workspace
    settings = dataclasses.replace(workspace.settings, max_upload_bytes=max_bytes)
    limited = Workspace(settings=settings, artifacts=workspace.artifacts, database=workspace.db)
    return TeamServer(app=create_app(limited), workspace=limited, secrets=team.secrets)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _store(team: TeamServer) -> LocalArtifactStore:
    return team.workspace.local_artifacts


def _files(root: Path) -> set[Path]:
    return {path for path in root.rglob("*") if path.is_file()}


def _blobs(team: TeamServer) -> set[Path]:
    root = _store(team).root / "sha256"
    return _files(root) if root.exists() else set()


def _tmp_files(team: TeamServer) -> list[Path]:
    tmp = _store(team).root / "tmp"
    return list(tmp.iterdir()) if tmp.exists() else []


def _remote(team: TeamServer, tmp_path: Path, role: str = WRITER) -> RemoteArtifactStore:
    return RemoteArtifactStore(team.client(role), cache=LocalArtifactStore(tmp_path / "cache"))


def test_an_upload_round_trips_and_lands_in_the_servers_store(
    team: TeamServer, tmp_path: Path
) -> None:
    source = tmp_path / "model.bin"
    source.write_bytes(os.urandom(3 * MiB + 17))  # several chunks and a ragged end
    remote = _remote(team, tmp_path)

    digest = remote.put_file(source)

    assert digest == _sha(source.read_bytes())
    assert _store(team).verify(digest).read_bytes() == source.read_bytes()
    assert remote.exists(digest) and remote.size_of(digest) == source.stat().st_size
    reader = _remote(team, tmp_path / "other-client", READER)
    assert reader.read_bytes(digest) == source.read_bytes()
    assert reader.local_path(digest).read_bytes() == source.read_bytes()
    assert _tmp_files(team) == []


def test_put_answers_created_then_a_cheap_200_for_bytes_already_held(team: TeamServer) -> None:
    data = b"abc" * 1000
    digest = _sha(data)
    writer = team.http(WRITER)
    url, headers = f"/api/v1/artifacts/{digest}", {"x-content-sha256": digest}

    first = writer.put(url, content=data, headers=headers)
    again = writer.put(url, content=data, headers=headers)

    assert first.status_code == 201, first.text
    assert first.json() == {"digest": digest, "size": len(data), "created": True}
    assert again.status_code == 200
    assert again.json() == {"digest": digest, "size": len(data), "created": False}
    head = writer.head(url)
    assert head.status_code == 200
    assert head.headers["content-length"] == str(len(data))
    assert head.headers["x-content-sha256"] == digest
    got = team.http(READER).get(url)
    assert got.content == data and got.headers["x-content-sha256"] == digest


def test_a_damaged_blob_of_another_size_is_replaced_by_a_new_upload(team: TeamServer) -> None:
    data = b"payload" * 100
    digest = _sha(data)
    headers = {"x-content-sha256": digest}
    team.http(WRITER).put(f"/api/v1/artifacts/{digest}", content=data, headers=headers)
    blob = _store(team).verify(digest)
    blob.write_bytes(data[:10])  # truncated on the server's disk

    answer = team.http(WRITER).put(f"/api/v1/artifacts/{digest}", content=data, headers=headers)

    assert answer.status_code == 201
    assert _store(team).verify(digest).read_bytes() == data


def test_bytes_that_do_not_hash_to_the_digest_are_refused_and_nothing_is_stored(
    team: TeamServer, tmp_path: Path
) -> None:
    data, claimed = b"the real bytes", _sha(b"other bytes")
    writer = team.http(WRITER)

    mismatch = writer.put(
        f"/api/v1/artifacts/{claimed}", content=data, headers={"x-content-sha256": claimed}
    )
    header_differs = writer.put(
        f"/api/v1/artifacts/{_sha(data)}", content=data, headers={"x-content-sha256": claimed}
    )
    no_header = writer.put(f"/api/v1/artifacts/{_sha(data)}", content=data)

    assert mismatch.status_code == 400
    assert "hash to" in mismatch.json()["error"]["message"]
    assert header_differs.status_code == 400
    assert "does not match the digest in the path" in header_differs.json()["error"]["message"]
    assert no_header.status_code == 400
    assert no_header.json()["error"]["field"] == "x-content-sha256"
    assert "header parameter x-content-sha256" in no_header.json()["error"]["message"]
    assert _blobs(team) == set() and _tmp_files(team) == []
    # the client sees the same refusal as its own error
    client = team.client(WRITER)
    with pytest.raises(InvalidInput, match="nothing was stored"):
        client.upload(f"/artifacts/{claimed}", data, digest=claimed)


def test_an_upload_over_the_servers_limit_is_413_and_stores_nothing(team: TeamServer) -> None:
    limited = _limited(team, 64 * 1024)
    big = os.urandom(64 * 1024 + 1)
    small = os.urandom(64 * 1024)
    writer = limited.http(WRITER)

    declared = writer.put(
        f"/api/v1/artifacts/{_sha(big)}", content=big, headers={"x-content-sha256": _sha(big)}
    )

    def undeclared_length() -> Iterator[bytes]:  # chunked: the server counts as it reads
        for start in range(0, len(big), 4096):
            yield big[start : start + 4096]

    streamed = writer.put(
        f"/api/v1/artifacts/{_sha(big)}",
        content=undeclared_length(),
        headers={"x-content-sha256": _sha(big)},
    )

    for answer in (declared, streamed):
        assert answer.status_code == 413, answer.text
        assert "MODELWARD_MAX_UPLOAD_MB" in answer.json()["error"]["message"]
    assert _blobs(team) == set() and _tmp_files(team) == []
    with pytest.raises(TooLarge):
        limited.client(WRITER).upload(f"/artifacts/{_sha(big)}", big, digest=_sha(big))
    at_limit = writer.put(
        f"/api/v1/artifacts/{_sha(small)}", content=small, headers={"x-content-sha256": _sha(small)}
    )
    assert at_limit.status_code == 201


def test_a_corrupt_blob_is_never_served(team: TeamServer, tmp_path: Path) -> None:
    data = b"model weights " * 5000
    digest = _sha(data)
    _store(team).put_bytes(data)
    blob = _store(team).verify(digest)
    damaged = bytearray(data)
    damaged[-1] ^= 0xFF  # same size: only hashing can tell
    blob.write_bytes(bytes(damaged))

    answer = team.http(READER).get(f"/api/v1/artifacts/{digest}")

    assert answer.status_code == 500
    assert answer.json()["error"]["type"] == "integrity_error"
    assert b"model weights" not in answer.content
    remote = _remote(team, tmp_path, READER)
    with pytest.raises(IntegrityError, match="corrupt"):
        remote.read_bytes(digest)
    with pytest.raises(IntegrityError):
        remote.local_path(digest)
    assert not remote.cache.exists(digest)


def test_bytes_damaged_in_transit_are_not_kept_by_the_client(tmp_path: Path) -> None:
    data = b"what the server stored"
    digest = _sha(data)

    def corrupting_server(request: httpx.Request) -> httpx.Response:
        if request.method == "HEAD":
            return httpx.Response(200, headers={"content-length": str(len(data))})
        return httpx.Response(200, content=data[:-1] + b"?")

    transport = httpx.MockTransport(corrupting_server)
    client = ServerClient(BASE_URL, "t", http=httpx.Client(transport=transport), retry_for=0)
    remote = RemoteArtifactStore(client, cache=LocalArtifactStore(tmp_path / "cache"))

    with pytest.raises(IntegrityError, match="corrupted"):
        remote.local_path(digest)
    with pytest.raises(IntegrityError):
        remote.read_bytes(digest)
    assert not remote.cache.exists(digest)
    assert list((tmp_path / "cache" / "tmp").iterdir()) == []


def test_an_unknown_digest_is_404_on_get_and_head(team: TeamServer, tmp_path: Path) -> None:
    missing = "0" * 64
    reader = team.http(READER)
    get = reader.get(f"/api/v1/artifacts/{missing}")
    assert get.status_code == 404
    assert str(_store(team).root) not in get.text  # nothing of the server's layout
    assert reader.head(f"/api/v1/artifacts/{missing}").status_code == 404
    remote = _remote(team, tmp_path, READER)
    assert not remote.exists(missing)
    with pytest.raises(InvalidInput, match="from the server's store"):
        remote.size_of(missing)


TRICKS = [
    "..",
    "../../../../etc/passwd",
    "%2e%2e",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "%252e%252e%252fetc",
    "..%5c..%5cwindows",
    "..\\..\\escape",
    "{d};x=1",
    "{d}%3bx=1",
    "/etc/passwd",
    "%2fetc%2fpasswd",
    "//tmp/escape",
    "{d}/../../escape",
    "{D}",
    "{d}0",
    "zz{d62}",
    "",
]


def test_path_tricks_are_refused_and_touch_nothing_outside_the_store(
    team: TeamServer, tmp_path: Path
) -> None:
    data = b"planted"
    digest = _sha(data)
    _store(team).put_bytes(data)
    outside = tmp_path / "escape"
    outside.write_bytes(b"outside the store")

    def snapshot() -> dict[Path, bytes]:  # every file but the metadata database's
        files = _files(tmp_path)
        return {p: p.read_bytes() for p in files if not p.name.startswith("modelward.db")}

    before = snapshot()
    token = team.secrets[WRITER].encode()

    with live_server(team.app) as url:
        for trick in TRICKS:
            path = trick.format(d=digest, D=digest.upper(), d62=digest[:62])
            for method in ("GET", "HEAD", "PUT"):
                head = (
                    f"{method} /api/v1/artifacts/{path} HTTP/1.1\r\n".encode()
                    + b"Host: 127.0.0.1\r\nConnection: close\r\n"
                    + b"Authorization: Bearer "
                    + token
                    + b"\r\n"
                    + f"x-content-sha256: {digest}\r\n".encode()
                    + f"Content-Length: {len(data)}\r\n\r\n".encode()
                )
                answer = raw_request(url, head, data if method == "PUT" else b"")
                status = status_of(answer)
                assert 400 <= status < 500, (method, path, answer[:300])
                assert b"planted" not in answer, (method, path)

    assert snapshot() == before  # nothing written, replaced or added anywhere in the tree
    assert _tmp_files(team) == []


def test_a_connection_dropped_mid_upload_leaves_nothing(team: TeamServer) -> None:
    data = os.urandom(4 * MiB)
    digest = _sha(data)
    head = (
        f"PUT /api/v1/artifacts/{digest} HTTP/1.1\r\n".encode()
        + b"Host: 127.0.0.1\r\n"
        + f"Authorization: Bearer {team.secrets[WRITER]}\r\n".encode()
        + f"x-content-sha256: {digest}\r\nContent-Length: {len(data)}\r\n\r\n".encode()
    )
    with live_server(team.app) as url:
        host, port = url.removeprefix("http://").split(":")
        import socket

        with socket.create_connection((host, int(port)), timeout=10) as conn:
            conn.sendall(head + data[: len(data) // 2])
            # the server has started writing the upload aside...
            deadline = time.monotonic() + 10
            while not _tmp_files(team) and time.monotonic() < deadline:
                time.sleep(0.01)
            assert _tmp_files(team), "the upload never started"
        # ...and, the connection gone, removes it
        deadline = time.monotonic() + 10
        while _tmp_files(team) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _tmp_files(team) == []
        assert _blobs(team) == set()
        # the server keeps serving, and the same upload, whole, is stored
        client = ServerClient(url, team.secrets[WRITER], retry_for=0.5)
        try:
            answer = client.upload(f"/artifacts/{digest}", data, digest=digest)
        finally:
            client.close()
    assert answer["created"] is True
    assert _store(team).verify(digest).read_bytes() == data


def test_large_uploads_and_downloads_stream_in_bounded_memory(
    team: TeamServer, tmp_path: Path
) -> None:
    size = 200 * MiB
    source = tmp_path / "big.bin"
    block = os.urandom(MiB)
    hasher = hashlib.sha256()
    with source.open("wb") as out:
        for index in range(size // MiB):
            chunk = block[index % 256 :] + block[: index % 256]  # not one repeated block
            hasher.update(chunk)
            out.write(chunk)
    digest = hasher.hexdigest()

    with live_server(team.app) as url:
        client = ServerClient(url, team.secrets[WRITER], retry_for=0.5)
        tracemalloc.start()
        try:
            client.upload(f"/artifacts/{digest}", source, digest=digest)
            _, upload_peak = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            with (tmp_path / "back.bin").open("w+b") as out:
                found, received = client.download(f"/artifacts/{digest}", out, digest=digest)
            _, download_peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
            client.close()

    assert (found, received) == (digest, size)
    assert _store(team).size_of(digest) == size
    # client and server both run in this process: together they held a few chunks at a time
    assert upload_peak < 24 * MiB, upload_peak
    assert download_peak < 24 * MiB, download_peak


def test_a_reader_may_read_but_not_upload(team: TeamServer) -> None:
    data = b"x"
    answer = team.http(READER).put(
        f"/api/v1/artifacts/{_sha(data)}", content=data, headers={"x-content-sha256": _sha(data)}
    )
    assert answer.status_code == 403
    assert _blobs(team) == set()


def test_the_upload_limit_setting_is_read_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    from modelward.config import DEFAULT_MAX_UPLOAD_MB, load_settings

    monkeypatch.delenv("MODELWARD_MAX_UPLOAD_MB", raising=False)
    assert load_settings().max_upload_bytes == DEFAULT_MAX_UPLOAD_MB * MiB
    monkeypatch.setenv("MODELWARD_MAX_UPLOAD_MB", "0.5")
    assert load_settings().max_upload_bytes == MiB // 2
    for bad in ("0", "-1", "lots", "nan", "inf"):
        monkeypatch.setenv("MODELWARD_MAX_UPLOAD_MB", bad)
        with pytest.raises(InvalidInput, match="MODELWARD_MAX_UPLOAD_MB"):
            load_settings()


def test_concurrent_uploads_of_the_same_bytes_store_one_whole_blob(team: TeamServer) -> None:
    data = os.urandom(2 * MiB)
    digest = _sha(data)
    statuses: list[int] = []

    def upload() -> None:
        answer = team.http(WRITER).put(
            f"/api/v1/artifacts/{digest}", content=data, headers={"x-content-sha256": digest}
        )
        statuses.append(answer.status_code)

    threads = [threading.Thread(target=upload) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(statuses) <= {200, 201} and 201 in statuses
    assert _store(team).verify(digest).read_bytes() == data
    assert _tmp_files(team) == []
    assert len(_blobs(team)) == 1


def test_a_remote_workspace_caches_under_its_own_home(
    team: TeamServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelward.store.workspace import remote_workspace

    settings = dataclasses.replace(team.workspace.settings, home=tmp_path / "client", uri=BASE_URL)
    monkeypatch.setenv("MODELWARD_HOME", str(tmp_path / "elsewhere"))  # not what it was given
    workspace = remote_workspace(team.client(READER), settings)
    digest = _store(team).put_bytes(b"cached")

    path = workspace.artifacts.local_path(digest)

    assert path.is_relative_to(tmp_path / "client" / "cache")
    assert not (tmp_path / "elsewhere").exists()
