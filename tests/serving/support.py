"""Registered models in their own home; the model server in-process, and as a real
`mw serve` process on 127.0.0.1 for the few end-to-end tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from starlette.applications import Starlette

from modelward.config import load_settings

# Imported before any in-process `mw serve`: prometheus_client's storage is chosen on
# first import, and that command sets PROMETHEUS_MULTIPROC_DIR for its own workers.
from modelward.monitoring.predictions import PredictionLogRepository
from modelward.monitoring.writer import PredictionLogWriter
from modelward.registry.service import ModelRegistry
from modelward.serving.app import create_app
from modelward.serving.endpoints import Serving
from modelward.serving.holder import ModelHolder
from modelward.store.workspace import close_workspaces, open_workspace

FEATURES = ["mean radius", "mean texture", "mean area", "worst smoothness"]
ISLANDS = ("Biscoe", "Dream", "Torgersen")


@dataclass
class Served:
    home: Path
    raw: pd.DataFrame  # rows as a caller sends them (before the transform)
    prepared: pd.DataFrame  # the same rows after the fitted transform


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_SERVED_HOME: list[Path] = []  # the session's served home, once `served` made it


@contextlib.contextmanager
def in_home(home: Path) -> Iterator[None]:
    """MODELWARD_HOME=home for the block: session fixtures must not depend on the
    environment a test's monkeypatch happens to leave behind (or restore)."""
    previous = os.environ.get("MODELWARD_HOME")
    os.environ["MODELWARD_HOME"] = str(home)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("MODELWARD_HOME", None)
        else:
            os.environ["MODELWARD_HOME"] = previous


@pytest.fixture(autouse=True)
def _in_served_home(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A test built on `served` talks to the served home, whatever ran before it."""
    if "served" in request.fixturenames:
        monkeypatch.setenv("MODELWARD_HOME", str(request.getfixturevalue("served").home))
        monkeypatch.delenv("MODELWARD_DB", raising=False)
        monkeypatch.delenv("MODELWARD_ARTIFACTS", raising=False)


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """Home with `bc-clf` v1 (logistic) and v2 (random forest), production -> 1."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    home = tmp_path_factory.mktemp("serving") / "home"
    _SERVED_HOME[:] = [home]
    previous = os.environ.get("MODELWARD_HOME")
    os.environ["MODELWARD_HOME"] = str(home)
    os.environ.pop("MODELWARD_DB", None)
    try:
        import modelward as mw

        frame = load_breast_cancer(as_frame=True).frame[[*FEATURES, "target"]]
        raw = mw.data.add(frame, name="bc")
        spec = {"steps": [{"normalize": {"columns": FEATURES, "method": "zscore"}}]}
        prep = mw.data.transform(raw.ref, spec, name="bc-prep")
        prepared = mw.data.load(prep.ref)
        X, y = prepared[FEATURES], prepared["target"]
        for model, f1 in (
            (LogisticRegression(max_iter=2000), 0.9),
            (RandomForestClassifier(n_estimators=20, random_state=0), 0.95),
        ):
            with mw.start_run(experiment="serving") as run:
                run.log_metric("f1", f1)
                run.log_model(model.fit(X, y), name="bc-clf", data=prep.ref)
        mw.models.set_alias("bc-clf", 1, "production")
        yield Served(home=home, raw=frame.drop(columns=["target"]), prepared=prepared[FEATURES])
    finally:
        close_workspaces()
        if previous is None:
            os.environ.pop("MODELWARD_HOME", None)
        else:
            os.environ["MODELWARD_HOME"] = previous


def run_main(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    """Run `mw ARGS` in this process: (exit code, stdout, stderr)."""
    from modelward.cli.main import main

    with pytest.raises(SystemExit) as exited:
        main([str(a) for a in args])
    out, err = capsys.readouterr()
    code = exited.value.code
    return (code if isinstance(code, int) else 1), out, err


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def serving_for(ref: str, *, trust: bool = False, log: bool = False) -> Serving:
    """What the endpoints need, for `ref` in the served home (no background threads)."""
    home = _SERVED_HOME[0] if _SERVED_HOME else None
    workspace = open_workspace(load_settings({"MODELWARD_HOME": str(home)}) if home else None)
    holder = ModelHolder(ModelRegistry(workspace), ref, trust=trust, poll_interval=0)
    # A short flush interval: /feedback for an unknown id waits two of them for other workers.
    writer = (
        PredictionLogWriter(PredictionLogRepository(workspace.db), flush_interval=0.05)
        if log
        else None
    )
    return Serving.of(holder, prediction_log=writer)


def client(app: Starlette) -> httpx.AsyncClient:
    """An HTTP client calling `app` in-process (any exception it lets out fails the test)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mw")


@pytest.fixture(scope="session")
def production_app(served: Served) -> Starlette:
    """The app for bc-clf@production (version 1), with a prediction log flushed by hand."""
    return create_app(serving_for("bc-clf@production", log=True))


@dataclass
class Penguins:
    frame: pd.DataFrame  # raw rows with their species
    features: list[str]  # the raw columns a caller sends


@pytest.fixture(scope="session")
def penguins(served: Served) -> Penguins:
    """`peng-clf` (one_hot island, zscore numbers, 3 species) and `peng-reg` (regression)."""
    from sklearn.linear_model import LinearRegression, LogisticRegression

    import modelward as mw

    with in_home(served.home):
        rng = np.random.default_rng(0)
        n = 300
        island = rng.choice(ISLANDS, n)
        bill = rng.normal(44.0, 5.0, n).round(1)
        flipper = rng.normal(200.0, 14.0, n).round(0)
        species = np.where(island == "Biscoe", "Gentoo", np.where(bill > 45, "Chinstrap", "Adelie"))
        frame = pd.DataFrame(
            {"island": island, "bill_length": bill, "flipper": flipper, "species": species}
        )
        raw = mw.data.add(frame, name="peng")
        spec = {
            "steps": [
                {"one_hot": {"columns": ["island"]}},
                {"normalize": {"columns": ["bill_length", "flipper"], "method": "zscore"}},
            ]
        }
        prep = mw.data.transform(raw.ref, spec, name="peng-prep")
        prepared = mw.data.load(prep.ref)
        X = prepared.drop(columns=["species"])
        with mw.start_run(experiment="penguins") as run:
            run.log_model(
                LogisticRegression(max_iter=1000).fit(X, prepared["species"]),
                name="peng-clf",
                data=prep.ref,
                target="species",
            )
        with mw.start_run(experiment="penguins") as run:
            numbers = mw.data.add(frame.drop(columns=["island", "species"]), name="peng-numbers")
            run.log_model(
                LinearRegression().fit(frame[["bill_length"]], frame["flipper"]),
                name="peng-reg",
                data=numbers.ref,
                target="flipper",
            )
    return Penguins(frame=frame, features=["island", "bill_length", "flipper"])


def penguin_predictions(penguins: Penguins, rows: pd.DataFrame) -> list[str]:
    """peng-clf's species for raw rows, with the transform done by hand (pandas, not
    modelward): one 0/1 column per island seen in training (none set for anything
    else), numbers z-scored with the training mean and population std."""
    import modelward as mw

    train = penguins.frame
    features = pd.DataFrame(index=rows.index)
    for column in ("bill_length", "flipper"):
        features[column] = (rows[column] - train[column].mean()) / train[column].std(ddof=0)
    for island in ISLANDS:
        features[f"island_{island}"] = (rows["island"] == island).astype(np.uint8)
    model = mw.models.load("peng-clf@1").model
    return [str(v) for v in model.predict(features[list(model.feature_names_in_)])]


@dataclass
class Server:
    url: str
    process: subprocess.Popen[str]

    def stop(self) -> tuple[str, str]:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            out, err = self.process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, err = self.process.communicate()
        return out, err


def start_server(home: Path, ref: str, *args: str, ready_timeout: float = 60) -> Server:
    """Start `mw serve` and wait until /ready answers; fails with the server's stderr."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "modelward", "serve", ref, "--port", str(port), *args],
        env={**os.environ, "MODELWARD_HOME": str(home)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            _, err = process.communicate()
            raise AssertionError(f"mw serve exited {process.returncode}: {err}")
        try:
            if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                return Server(url, process)
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.kill()
    raise AssertionError("mw serve did not become ready in time")


@pytest.fixture
def server_factory() -> Iterator[Callable[..., Server]]:
    started: list[Server] = []

    def factory(home: Path, ref: str, *args: str) -> Server:
        server = start_server(home, ref, *args)
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def production_server(served: Served) -> Iterator[Server]:
    server = start_server(served.home, "bc-clf@production", "--poll-interval", "0.2")
    yield server
    server.stop()
