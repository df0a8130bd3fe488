"""The datasets port, one contract for both adapters: the local store and the team server.

Every test runs four times: local and remote, each over SQLite and PostgreSQL. The
port is exercised directly and through the catalog above it (the code every command
uses), with the catalog's workspace local, or a client's remote workspace whose
bytes go up as artifacts and come back through a local verified cache.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from modelward.data.catalog import DatasetCatalog
from modelward.data.entities import ColumnSchema, NewVersion
from modelward.data.ports import DatasetStore, dataset_store
from modelward.data.remote import RemoteDatasetStore
from modelward.data.repository import DatasetRepository
from modelward.errors import InvalidInput, NotFound
from modelward.identity import current_user
from modelward.refs import Ref
from modelward.store.artifacts import ArtifactStore, LocalArtifactStore
from modelward.store.remote_artifacts import RemoteArtifactStore
from modelward.store.workspace import Workspace
from tests.server.support import BASE_URL, WRITER, TeamServer


@dataclass
class Side:
    """The port under test, the catalog over it, and the server-side store behind it."""

    store: DatasetStore
    catalog: DatasetCatalog
    artifacts: ArtifactStore  # where this side's bytes go (uploads, for the remote side)
    server: Workspace  # the store that keeps everything (the server's, remotely)
    user: str  # the name versions recorded through this side are made under


def client_workspace(team: TeamServer, home: Path, role: str = WRITER) -> Workspace:
    """A client's workspace over the in-process server, its cache under `home`."""
    client = team.client(role)
    settings = dataclasses.replace(
        team.workspace.settings, home=home, uri=BASE_URL, token=team.secrets[role]
    )
    cache = LocalArtifactStore(home / "cache")
    return Workspace(settings=settings, artifacts=RemoteArtifactStore(client, cache), remote=client)


@pytest.fixture(params=["local", "remote"])
def side(request: pytest.FixtureRequest, workspace: Workspace, tmp_path: Path) -> Side:
    if request.param == "local":
        store = dataset_store(workspace)
        assert isinstance(store, DatasetRepository)
        catalog = DatasetCatalog(workspace)
        return Side(store, catalog, workspace.artifacts, workspace, current_user())
    workspace.local_artifacts.create()
    client = client_workspace(TeamServer.start(workspace), tmp_path / "client")
    store = dataset_store(client)
    assert isinstance(store, RemoteDatasetStore)
    return Side(store, DatasetCatalog(client), client.artifacts, workspace, WRITER)


def _new(side: Side, data: bytes, **extra: object) -> NewVersion:
    """A version of `data`, its bytes stored through the side first."""
    digest = side.artifacts.put_bytes(data)
    values: dict[str, object] = {
        "digest": digest,
        "format": "csv",
        "size_bytes": len(data),
        "n_rows": data.count(b"\n") - 1,
        "schema": (ColumnSchema("a", "int64"), ColumnSchema("b", "string")),
        "profile": {"n_rows": data.count(b"\n") - 1, "columns": [{"name": "a", "mean": 1.5}]},
        "source": {"kind": "file", "path": "/data/d.csv", "original_name": "d.csv"},
        "created_by": side.user,
        "description": "first cut",
    }
    values.update(extra)
    return NewVersion(**values)  # type: ignore[arg-type]


def test_versions_are_numbered_and_identical_content_is_recorded_once(side: Side) -> None:
    first, created = side.store.add_version("churn", _new(side, b"a,b\n1,x\n2,y\n"))
    second, created_second = side.store.add_version("churn", _new(side, b"a,b\n1,x\n3,z\n"))
    again, created_again = side.store.add_version("churn", _new(side, b"a,b\n1,x\n2,y\n"))

    assert (first.ref, created) == ("churn@1", True)
    assert (second.ref, created_second) == ("churn@2", True)
    assert (again, created_again) == (first, False)
    assert first.digest == hashlib.sha256(b"a,b\n1,x\n2,y\n").hexdigest()
    assert first.n_rows == 2 and first.columns == ["a", "b"] and first.format == "csv"
    assert first.profile["columns"] == [{"name": "a", "mean": 1.5}]
    assert first.source["original_name"] == "d.csv" and first.description == "first cut"
    assert first.created_by == side.user
    # what the server's own store holds is what the port answered
    assert DatasetRepository(side.server.db).get(Ref.parse("churn@2")) == second


def test_references_name_versions_and_unknown_ones_say_what_is_missing(side: Side) -> None:
    first, _ = side.store.add_version("churn", _new(side, b"a,b\n1,x\n"))
    second, _ = side.store.add_version("churn", _new(side, b"a,b\n2,y\n"))

    assert side.store.get(Ref.parse("churn@1")) == first
    assert side.store.get(Ref.parse("churn")) == second
    assert side.store.get(Ref.parse("churn@latest")) == second
    assert side.store.get_by_id(first.id) == first
    with pytest.raises(NotFound, match="unknown dataset 'nope'"):
        side.store.get(Ref.parse("nope@1"))
    with pytest.raises(NotFound, match="has no version 9"):
        side.store.get(Ref.parse("churn@9"))
    with pytest.raises(NotFound, match="unknown alias 'production'"):
        side.store.get(Ref.parse("churn@production"))
    with pytest.raises(NotFound, match="no dataset version with id"):
        side.store.get_by_id(second.id + 1000)


def test_content_is_found_by_digest_within_its_dataset_only(side: Side) -> None:
    version, _ = side.store.add_version("churn", _new(side, b"a,b\n1,x\n"))
    assert side.store.find_by_digest("churn", version.digest) == version
    assert side.store.find_by_digest("churn", "0" * 64) is None
    assert side.store.find_by_digest("other", version.digest) is None


def test_versions_and_summaries_list_everything_in_order(side: Side) -> None:
    side.store.add_version("zeta", _new(side, b"a,b\n1,x\n"))
    alpha = [
        side.store.add_version("alpha", _new(side, f"a,b\n{i},x\n".encode()))[0] for i in range(3)
    ]

    assert side.store.versions("alpha") == alpha
    summaries = side.store.summaries()
    assert [(s.name, s.versions, s.latest.version) for s in summaries] == [
        ("alpha", 3, 3),
        ("zeta", 1, 1),
    ]
    assert summaries[0].latest == alpha[-1]
    with pytest.raises(NotFound, match="unknown dataset 'nope'"):
        side.store.versions("nope")


def test_lineage_is_the_chain_of_parents_nearest_first(side: Side) -> None:
    raw, _ = side.store.add_version("raw", _new(side, b"a,b\n1,x\n"))
    clean, _ = side.store.add_version(
        "clean", _new(side, b"a,b\n1,y\n", parent_id=raw.id, spec_digest="1" * 64)
    )
    final, _ = side.store.add_version("final", _new(side, b"a,b\n1,z\n", parent_id=clean.id))

    assert final.parent_ref == "clean@1" and final.parent_id == clean.id
    assert side.store.lineage(final) == [clean, raw]
    assert side.store.lineage(raw) == []


# -- through the catalog: what every command and the Python API run ----------------


@pytest.fixture
def people(tmp_path: Path) -> Path:
    path = tmp_path / "people.csv"
    pd.DataFrame(
        {"age": [17, 25, 31, 40], "income": [0.0, 30.5, None, 61.0], "city": ["a", "b", "a", "c"]}
    ).to_csv(path, index=False)
    return path


def test_a_file_added_is_stored_whole_and_reads_back_the_same(
    side: Side, people: Path, tmp_path: Path
) -> None:
    version, created = side.catalog.add_file(people, "people")
    again, created_again = side.catalog.add_file(people, "people")

    assert created and not created_again and again == version
    assert version.digest == hashlib.sha256(people.read_bytes()).hexdigest()
    assert side.server.local_artifacts.verify(version.digest).read_bytes() == people.read_bytes()
    pd.testing.assert_frame_equal(side.catalog.load_frame("people@1"), pd.read_csv(people))
    column = {c["name"]: c for c in version.profile["columns"]}["age"]
    assert column["numeric"]["mean"] == pytest.approx(pd.read_csv(people)["age"].mean())
    out = side.catalog.export("people", tmp_path / "out.parquet")[1]
    pd.testing.assert_frame_equal(pd.read_parquet(out), pd.read_csv(people))


def test_transform_records_its_output_with_lineage(side: Side, people: Path) -> None:
    parent, _ = side.catalog.add_file(people, "people")
    spec = {"steps": [{"fill_missing": {"columns": ["income"], "strategy": "median"}}]}

    output, created = side.catalog.transform("people@1", spec, "people-prep")

    assert created and output.parent_ref == "people@1"
    assert side.catalog.lineage(output) == [parent]
    expected = pd.read_csv(people)
    expected["income"] = expected["income"].fillna(expected["income"].median())
    pd.testing.assert_frame_equal(side.catalog.load_frame(output), expected)
    diff = side.catalog.diff("people@1", "people-prep@1").to_dict()
    income = next(c for c in diff["columns"] if c["name"] == "income")
    assert income["stats"]["missing"]["delta"] == -1


def test_a_frame_and_an_sql_import_are_stored_as_parquet(side: Side, tmp_path: Path) -> None:
    import sqlalchemy as sa

    frame = pd.DataFrame({"x": [1.5, 2.5], "y": ["a", "b"]})
    added, _ = side.catalog.add_frame(frame, "frame")
    source = sa.create_engine(f"sqlite:///{tmp_path / 'source.db'}")
    frame.to_sql("t", source, index=False)
    source.dispose()

    url = f"sqlite:///{tmp_path / 'source.db'}"
    imported, _ = side.catalog.import_sql(url, "SELECT * FROM t", "sql")

    for version in (added, imported):
        assert version.format == "parquet"
        pd.testing.assert_frame_equal(side.catalog.load_frame(version), frame)
    assert imported.source["kind"] == "sql" and imported.source["query"] == "SELECT * FROM t"


def test_a_failed_add_records_nothing(side: Side, tmp_path: Path) -> None:
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet at all")
    with pytest.raises(InvalidInput):
        side.catalog.add_file(broken, "broken")
    assert side.store.summaries() == []
    assert not side.server.local_artifacts.exists(hashlib.sha256(broken.read_bytes()).hexdigest())
