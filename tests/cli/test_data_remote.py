"""`mw data ...` against a team server (MODELWARD_URI and a token only): the same commands,
the same answers, everything kept in the server's store and nothing in the client's."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from modelward.data.repository import DatasetRepository
from modelward.refs import Ref
from modelward.store.workspace import open_workspace
from tests.helpers import Result, mw_in_process
from tests.server.support import READER, WRITER, TeamServer

Mw = Callable[..., Result]


@pytest.fixture
def team(home: Path) -> TeamServer:
    """A team server over a SQLite store (the contract tests cover PostgreSQL)."""
    workspace = open_workspace()
    workspace.local_artifacts.create()
    return TeamServer.start(workspace)


@pytest.fixture
def client_home(tmp_path: Path) -> Path:
    return tmp_path / "client"


@pytest.fixture
def mw(team: TeamServer, client_home: Path, monkeypatch: pytest.MonkeyPatch) -> Mw:
    """Run `mw ARGS` on the client, as `role`, against the in-process server."""

    def run(*args: str | Path, role: str = WRITER) -> Result:
        team.connect(monkeypatch, client_home, role)
        return mw_in_process(*args, home=client_home)

    return run


@pytest.fixture
def people(tmp_path: Path) -> Path:
    path = tmp_path / "people.csv"
    pd.DataFrame(
        {"age": [17, 25, 31, 40], "income": [0.0, 30.5, None, 61.0], "city": ["a", "b", "a", "c"]}
    ).to_csv(path, index=False)
    return path


def _one_line_error(result: Result, *fragments: str) -> None:
    assert result.code == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_every_data_command_works_through_the_server(
    mw: Mw, team: TeamServer, people: Path, client_home: Path, tmp_path: Path
) -> None:
    added = mw("data", "add", people, "--name", "people", "--json")
    assert added.code == 0, added.stderr
    assert added.json()["ref"] == "people@1" and added.json()["created"] is True
    assert added.json()["created_by"] == WRITER  # the token's name, set by the server
    digest = hashlib.sha256(people.read_bytes()).hexdigest()
    server_store = team.workspace.local_artifacts
    assert server_store.verify(digest).read_bytes() == people.read_bytes()
    assert DatasetRepository(team.workspace.db).get(Ref.parse("people@1")).digest == digest
    assert not list(client_home.glob("*.db"))  # the client keeps no metadata of its own
    again = mw("data", "add", people, "--name", "people", "--json")
    assert again.json()["created"] is False and again.json()["ref"] == "people@1"

    shown = mw("data", "show", "people@1", "--json", role=READER).json()
    assert {c["name"]: c for c in shown["profile"]["columns"]}["income"]["missing"] == 1
    assert shown["versions"] == [1] and shown["lineage"] == []
    human = mw("data", "show", "people", role=READER)
    assert human.code == 0 and "people@1" in human.stdout and "by writer" in human.stdout
    listed = mw("data", "list", "--json", role=READER).json()
    assert [(d["name"], d["latest"], d["versions"]) for d in listed] == [("people", 1, 1)]

    out = tmp_path / "out.parquet"
    assert mw("data", "export", "people@1", out, role=READER).code == 0
    pd.testing.assert_frame_equal(pd.read_parquet(out), pd.read_csv(people))

    spec = tmp_path / "prep.yaml"
    spec.write_text('steps:\n  - filter: "age >= 18"\n  - drop: [city]\n')
    made = mw("data", "transform", "people@1", "--spec", spec, "--name", "adults", "--json")
    assert made.code == 0, made.stderr
    assert made.json()["parent"] == "people@1" and made.json()["n_rows"] == 3
    lineage = mw("data", "show", "adults@1", "--json").json()["lineage"]
    assert lineage == ["people@1"]
    diff = mw("data", "diff", "people@1", "adults@1", "--json").json()
    assert (diff["rows"]["a"], diff["rows"]["b"]) == (4, 3) and diff["removed"] == ["city"]


def test_import_sql_runs_the_query_on_the_client(mw: Mw, team: TeamServer, tmp_path: Path) -> None:
    source = tmp_path / "client-only.db"  # a database only the client can reach
    engine = sa.create_engine(f"sqlite:///{source}")
    pd.DataFrame({"id": [1, 2, 3], "score": [0.5, 0.25, 1.0]}).to_sql("t", engine, index=False)
    engine.dispose()

    result = mw(
        "data", "import-sql", "--url", f"sqlite:///{source}", "--query",
        "SELECT * FROM t WHERE score < 1", "--name", "scores", "--json",
    )  # fmt: skip

    assert result.code == 0, result.stderr
    assert result.json()["n_rows"] == 2 and result.json()["source"]["kind"] == "sql"
    stored = DatasetRepository(team.workspace.db).get(Ref.parse("scores@1"))
    frame = pd.read_parquet(team.workspace.local_artifacts.verify(stored.digest))
    assert frame["id"].tolist() == [1, 2]


def test_bad_input_through_the_server_is_one_line_exit_2_and_records_nothing(
    mw: Mw, team: TeamServer, people: Path, tmp_path: Path
) -> None:
    _one_line_error(mw("data", "show", "nope@1"), "unknown dataset 'nope'")
    _one_line_error(mw("data", "diff", "nope@1", "nope@2"), "unknown dataset 'nope'")
    _one_line_error(mw("data", "add", people, "--name", "people", role=READER), "reader")
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet")
    assert mw("data", "add", broken, "--name", "broken").code == 2
    assert DatasetRepository(team.workspace.db).summaries() == []
    blobs = team.workspace.local_artifacts.root / "sha256"
    assert not blobs.exists() or not [p for p in blobs.rglob("*") if p.is_file()]


def test_a_wrong_token_is_refused_with_a_one_line_error(
    team: TeamServer, client_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    team.connect(monkeypatch, client_home, WRITER)
    team.secrets[WRITER] = "mw_not-a-token"
    team.connect(monkeypatch, client_home, WRITER)
    _one_line_error(mw_in_process("data", "list", home=client_home), "token")


def test_the_python_api_works_through_the_server(
    team: TeamServer, people: Path, client_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import modelward as mw

    team.connect(monkeypatch, client_home, WRITER)
    version = mw.data.add(people, name="people")
    frame = pd.DataFrame({"x": [1.0, 2.0]})
    from_frame = mw.data.add(frame, name="frame")

    assert version.created_by == WRITER and from_frame.format == "parquet"
    pd.testing.assert_frame_equal(mw.data.load("people@1"), pd.read_csv(people))
    pd.testing.assert_frame_equal(mw.data.load(from_frame), frame)
    assert [s.name for s in mw.data.list()] == ["frame", "people"]
    assert mw.data.versions("people") == [version] == [mw.data.get("people")]
    local = DatasetRepository(team.workspace.db)
    assert local.get(Ref.parse("frame@1")) == from_frame
