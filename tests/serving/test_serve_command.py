"""`mw serve` in-process: what it refuses before serving, and the models it serves."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

import modelward as mw
from modelward.serving.app import create_app
from modelward.store.workspace import close_workspaces
from tests.helpers import copy_home
from tests.serving.support import Served, client, in_home, run_main, serving_for


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


@pytest.mark.timeout(60)
@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_port_in_use_is_exit_2_before_anything_is_served(
    served: Served, taken_port: int, capsys: pytest.CaptureFixture[str], workers: str
) -> None:
    code, out, err = run_main(
        capsys, "serve", "bc-clf@1", "--port", str(taken_port), "--workers", workers
    )
    assert code == 2
    assert err.strip().splitlines() == [
        f"mw serve bc-clf@1: error: port {taken_port} on 127.0.0.1 is already in use: stop what "
        "listens there or choose another --port"
    ]
    assert "serving" not in err and out == ""


def test_an_address_that_cannot_be_bound_is_exit_2(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_main(capsys, "serve", "bc-clf@1", "--host", "192.0.2.1", "--port", "0")
    assert code == 2 and "cannot listen on 192.0.2.1:0" in err
    assert len(err.strip().splitlines()) == 1


def test_unknown_model_or_alias_is_exit_2(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_main(capsys, "serve", "nobody@production", "--port", "0")
    assert code == 2 and "unknown model 'nobody'" in err
    code, _, err = run_main(capsys, "serve", "bc-clf@nonexistent", "--port", "0")
    assert code == 2 and "no alias 'nonexistent'" in err


@pytest.fixture
def tampered_home(
    tmp_path: Path, served: Served, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    home = tmp_path / "home"
    copy_home(served.home, home)
    digest = mw.models.get("bc-clf@1").digest
    blob = home / "blobs" / "sha256" / digest[:2] / digest[2:]
    blob.chmod(0o644)
    data = bytearray(blob.read_bytes())
    data[100] ^= 0x01
    blob.write_bytes(bytes(data))
    monkeypatch.setenv("MODELWARD_HOME", str(home))
    yield home
    close_workspaces()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_tampered_artifact_is_exit_1(
    tampered_home: Path, capsys: pytest.CaptureFixture[str], workers: str
) -> None:
    code, _, err = run_main(capsys, "serve", "bc-clf@1", "--port", "0", "--workers", workers)
    assert code == 1
    assert "tampered" in err and len(err.strip().splitlines()) == 1


@pytest.fixture(scope="module")
def pickled(served: Served) -> str:
    from sklearn.linear_model import LogisticRegression

    with in_home(served.home), mw.start_run(experiment="pickles") as run:
        prepared = mw.data.load("bc-prep")
        X, y = prepared.drop(columns=["target"]), prepared["target"]
        version = run.log_model(
            LogisticRegression(max_iter=500).fit(X, y),
            name="pickled",
            data="bc-prep",
            format="pickle",
        )
    assert version.format == "pickle"
    return str(version.ref)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_an_untrusted_pickle_is_exit_2(
    pickled: str, capsys: pytest.CaptureFixture[str], workers: str
) -> None:
    code, _, err = run_main(capsys, "serve", pickled, "--port", "0", "--workers", workers)
    assert code == 2 and "--trust" in err
    with pytest.raises(mw.InvalidInput, match="trust"):
        mw.models.load(pickled)


@pytest.mark.anyio
async def test_a_trusted_pickle_is_served(served: Served, pickled: str) -> None:
    async with client(create_app(serving_for(pickled, trust=True))) as http:
        answer = await http.post(
            "/predict", json={"instances": served.raw.iloc[:2].to_numpy().tolist()}
        )
    assert answer.status_code == 200


@pytest.mark.anyio
async def test_an_onnx_model_serves_the_same_answers(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import train_test_split

    pytest.importorskip("skl2onnx")
    code, out, err = run_main(
        capsys,
        *("train", "--data", "bc-prep", "--target", "target"),
        *("--model", "sklearn.ensemble.RandomForestClassifier"),
        *("--param", "n_estimators=10", "--param", "random_state=0"),
        *("--format", "onnx", "--register", "bc-onnx", "--json"),
    )
    assert code == 0, err
    version = mw.models.get(json.loads(out)["registered"])
    assert (version.name, version.format, version.flavor) == ("bc-onnx", "onnx", "onnx")
    rows = served.raw.iloc[:50]
    async with client(create_app(serving_for(version.ref))) as http:
        answer = await http.post("/predict", json={"instances": rows.to_numpy().tolist()})
    assert answer.status_code == 200, answer.text
    prepared = mw.data.load("bc-prep")
    X, y = prepared.drop(columns=["target"]), prepared["target"]
    X_train, _, y_train, _ = train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)
    reference = RandomForestClassifier(n_estimators=10, random_state=0).fit(X_train, y_train)
    expected = reference.predict(served.prepared.iloc[:50]).tolist()
    agreement = sum(a == b for a, b in zip(answer.json()["predictions"], expected, strict=True))
    assert agreement >= 49  # float32 inside ONNX may flip a point on a threshold


@pytest.mark.anyio
async def test_workers_start_with_the_model_their_parent_loaded_and_verified(
    served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `mw serve --workers N` loads and verifies once, then forks: a worker's app takes
    # that model as it is. Proven here by removing the artifact after the preload.
    from modelward.serving.server import ServeOptions, build_app, preload

    home = tmp_path / "home"
    copy_home(served.home, home)
    monkeypatch.setenv("MODELWARD_HOME", str(home))
    options = ServeOptions(ref="bc-clf@1", workers=2, monitor_interval=0, poll_interval=0)
    try:
        loaded = preload(options)
        digest = loaded.version.digest
        (home / "blobs" / "sha256" / digest[:2] / digest[2:]).unlink()
        with pytest.raises(mw.ModelwardError):
            build_app(options)  # loading again now fails
        app = build_app(options, loaded)
        assert app.state.serving.holder.current is loaded
        rows = served.raw.iloc[:3]
        async with client(app) as http:
            answer = await http.post("/predict", json={"instances": rows.to_numpy().tolist()})
        assert answer.status_code == 200
        expected = loaded.model.predict(served.prepared.iloc[:3].to_numpy())
        assert answer.json()["predictions"] == expected.tolist()
    finally:
        close_workspaces()
