"""A write that fails half-way leaves the store as it was."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from modelward.data.catalog import DatasetCatalog
from modelward.data.repository import DatasetRepository
from modelward.store.tables import dataset_versions, datasets
from modelward.store.workspace import Workspace


def _counts(workspace: Workspace) -> tuple[int, int]:
    with workspace.db.read() as conn:
        return (
            conn.execute(sa.select(sa.func.count()).select_from(datasets)).scalar_one(),
            conn.execute(sa.select(sa.func.count()).select_from(dataset_versions)).scalar_one(),
        )


def test_metadata_failure_after_the_first_insert_rolls_everything_back(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "d.csv"
    pd.DataFrame({"a": [1, 2, 3]}).to_csv(source, index=False)
    catalog = DatasetCatalog(workspace)

    def fail_after_insert(self: DatasetRepository, conn: Any, version_id: int) -> Any:
        raise RuntimeError("simulated crash after the version row was inserted")

    monkeypatch.setattr(DatasetRepository, "_by_id", fail_after_insert)
    with pytest.raises(RuntimeError, match="simulated crash"):
        catalog.add_file(source, "atomic")
    monkeypatch.undo()

    assert _counts(workspace) == (0, 0)  # neither the dataset nor the version row
    tmp = workspace.local_artifacts.root / "tmp"
    assert not any(tmp.iterdir())  # no temporary file left behind
    # The content-addressed blob, if kept, is whole: adding again works and verifies.
    version, created = catalog.add_file(source, "atomic")
    assert created and version.ref == "atomic@1"
    workspace.artifacts.verify(version.digest)


def test_profile_failure_writes_no_metadata(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import modelward.data.profile as profile

    source = tmp_path / "d.csv"
    pd.DataFrame({"a": [1, 2, 3]}).to_csv(source, index=False)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise MemoryError("simulated out of memory while profiling")

    monkeypatch.setattr(profile, "compute_profile", broken)
    with pytest.raises(MemoryError):
        DatasetCatalog(workspace).add_file(source, "atomic")
    assert _counts(workspace) == (0, 0)


@pytest.mark.parametrize(
    ("name", "content", "fragment"),
    [
        ("bad.csv", b'a,b\n1,2\n3,4,5,6\n"unterminated\n', "cannot read"),
        ("header.csv", b"a,b\n", "no data rows"),
        ("broken.parquet", b"PAR1 not really parquet PAR1", "cannot read"),
        ("rows.jsonl", b'{"a": 1}\n{"a": \n', "cannot read"),
    ],
)
def test_a_file_that_fails_after_it_was_copied_leaves_no_blob(
    workspace: Workspace, tmp_path: Path, name: str, content: bytes, fragment: str
) -> None:
    from modelward.errors import InvalidInput

    source = tmp_path / name
    source.write_bytes(content)
    with pytest.raises(InvalidInput, match=fragment):
        DatasetCatalog(workspace).add_file(source, "broken")
    assert _counts(workspace) == (0, 0)
    left = [p for p in workspace.local_artifacts.root.rglob("*") if not p.is_dir()]
    assert left == []
