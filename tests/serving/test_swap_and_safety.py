"""End to end, real `mw serve` processes: hot swap under load, two workers, SIGTERM.

Everything else about the server is tested in-process (test_server.py and others).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx
import pytest

import modelward as mw
from tests.serving.support import Served, Server


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
    _, err = server.stop()  # SIGTERM
    assert server.process.returncode == 0, err
    assert "serving bc-clf@2 (bc-clf@2) on http://127.0.0.1:" in err
