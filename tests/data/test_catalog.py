"""Datasets end to end through the catalog, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from modelward.data.catalog import DatasetCatalog
from modelward.errors import InvalidInput, NotFound
from modelward.store.workspace import Workspace


@pytest.fixture
def catalog(workspace: Workspace) -> DatasetCatalog:
    return DatasetCatalog(workspace)


def _csv(path: Path, frame: pd.DataFrame) -> Path:
    frame.to_csv(path, index=False)
    return path


@pytest.fixture
def people() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": [17.0, 25.0, np.nan, 40.0, 33.0],
            "income": [0.0, 30_000.0, 52_000.0, np.nan, 61_000.0],
            "city": ["Oslo", "Lima", "Oslo", "Pune", "Lima"],
            "customer_id": [1, 2, 3, 4, 5],
        }
    )


def test_same_content_is_the_same_version_and_changes_make_the_next(
    catalog: DatasetCatalog, tmp_path: Path, people: pd.DataFrame
) -> None:
    first, created = catalog.add_file(_csv(tmp_path / "p.csv", people), "people")
    assert (first.ref, created) == ("people@1", True)
    again, created = catalog.add_file(_csv(tmp_path / "copy.csv", people), "people")
    assert (again.ref, created, again.digest) == ("people@1", False, first.digest)
    changed, created = catalog.add_file(_csv(tmp_path / "p2.csv", people.head(4)), "people")
    assert (changed.ref, created) == ("people@2", True)
    assert catalog.get("people").ref == "people@2"
    assert catalog.get("people@latest").ref == "people@2"
    assert catalog.get("people@1").digest == first.digest


def test_profile_is_stored_with_the_version(
    catalog: DatasetCatalog, tmp_path: Path, people: pd.DataFrame
) -> None:
    version, _ = catalog.add_file(_csv(tmp_path / "p.csv", people), "people")
    columns = {c["name"]: c for c in version.profile["columns"]}
    assert version.n_rows == 5
    assert columns["age"]["missing"] == 1
    assert columns["age"]["numeric"]["mean"] == pytest.approx(people["age"].mean())
    assert columns["income"]["numeric"]["std"] == pytest.approx(people["income"].std(ddof=0))
    assert columns["city"]["categorical"]["cardinality"] == 3
    assert [c.name for c in version.schema] == ["age", "income", "city", "customer_id"]


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_formats_round_trip_through_export(
    catalog: DatasetCatalog, tmp_path: Path, people: pd.DataFrame, suffix: str
) -> None:
    source = tmp_path / f"in{suffix}"
    if suffix == ".csv":
        people.to_csv(source, index=False)
    elif suffix == ".parquet":
        people.to_parquet(source, index=False)
    else:
        people.to_json(source, orient="records", lines=True)
    version, _ = catalog.add_file(source, "people")
    assert version.format == suffix.lstrip(".").replace("parquet", "parquet")
    for out_suffix in (".csv", ".parquet", ".jsonl"):
        out = tmp_path / f"out{out_suffix}"
        catalog.export(version.ref, out)
        back = {
            ".csv": pd.read_csv,
            ".parquet": pd.read_parquet,
            ".jsonl": lambda p: pd.read_json(p, lines=True),
        }[out_suffix](out)
        assert back.shape == people.shape
        assert back["income"].sum() == pytest.approx(people["income"].sum())
        assert list(back["city"]) == list(people["city"])


def test_dataframes_are_versioned_by_content(catalog: DatasetCatalog, people: pd.DataFrame) -> None:
    first, _ = catalog.add_frame(people, "frame")
    same, created = catalog.add_frame(people.copy(), "frame")
    assert (same.ref, created) == (first.ref, False)
    pd.testing.assert_frame_equal(catalog.load_frame(first.ref), people, check_dtype=False)


def test_import_sql_runs_the_query(catalog: DatasetCatalog, tmp_path: Path) -> None:
    source = sa.create_engine(f"sqlite:///{tmp_path / 'src.db'}")
    with source.begin() as conn:
        conn.execute(sa.text("CREATE TABLE sales (id INTEGER, amount REAL, region TEXT)"))
        conn.execute(
            sa.text(
                "INSERT INTO sales VALUES (1, 9.5, 'north'), (2, 20.0, 'south'), (3, 1.5, 'north')"
            )
        )
    source.dispose()
    url = f"sqlite:///{tmp_path / 'src.db'}"
    version, _ = catalog.import_sql(url, "SELECT * FROM sales WHERE amount > 5", "sales")
    frame = catalog.load_frame(version.ref)
    assert sorted(frame["id"]) == [1, 2]
    assert version.source == {
        "kind": "sql",
        "url": url,
        "query": "SELECT * FROM sales WHERE amount > 5",
    }
    with pytest.raises(InvalidInput, match="query failed"):
        catalog.import_sql(url, "SELECT * FROM nowhere", "sales")
    with pytest.raises(InvalidInput, match="url"):
        catalog.import_sql("not a url", "SELECT 1", "sales")


def test_import_sql_hides_passwords(catalog: DatasetCatalog, postgres_server: str) -> None:
    url = postgres_server.replace("postgres@", "postgres:s3cret@") + "/postgres"
    version, _ = catalog.import_sql(url, "SELECT 1 AS one, 'a' AS letter", "pg-import")
    assert "s3cret" not in json.dumps(version.source)
    assert catalog.load_frame(version.ref)["one"].tolist() == [1]


def test_transform_records_lineage_and_replayable_parameters(
    catalog: DatasetCatalog, tmp_path: Path, people: pd.DataFrame
) -> None:
    from modelward.data.preprocess import FittedTransform

    raw, _ = catalog.add_file(_csv(tmp_path / "p.csv", people), "people")
    spec = tmp_path / "prep.yaml"
    spec.write_text(
        "steps:\n"
        "  - fill_missing: {columns: [age, income], strategy: mean}\n"
        "  - normalize: {columns: [age, income], method: zscore}\n"
        "  - drop: [customer_id]\n"
        "  - one_hot: {columns: [city]}\n"
    )
    prep, created = catalog.transform(raw.ref, spec, "people-prep")
    assert created and prep.parent_ref == "people@1" and prep.spec_digest
    assert [v.ref for v in catalog.lineage(prep)] == ["people@1"]
    out = catalog.load_frame(prep.ref)
    age = people["age"].fillna(people["age"].mean())
    np.testing.assert_allclose(out["age"], (age - age.mean()) / age.std(ddof=0))
    assert "customer_id" not in out.columns and "city_Oslo" in out.columns
    assert prep.transform is not None
    replayed = FittedTransform.from_dict(prep.transform).apply(people.head(2))
    np.testing.assert_allclose(replayed["age"], out["age"].head(2))
    again, created = catalog.transform(raw.ref, spec, "people-prep")
    assert (again.ref, created) == (prep.ref, False)


def test_diff_reports_schema_and_statistics(
    catalog: DatasetCatalog, tmp_path: Path, people: pd.DataFrame
) -> None:
    catalog.add_file(_csv(tmp_path / "a.csv", people), "people")
    changed = people.drop(columns=["customer_id"]).assign(score=1.0)
    changed["income"] = changed["income"] * 2
    catalog.add_file(_csv(tmp_path / "b.csv", changed), "people")
    result = catalog.diff("people@1", "people@2").to_dict()
    assert result["has_changes"]
    assert "score" in json.dumps(result["added"]) and "customer_id" in json.dumps(result["removed"])
    income = next(c for c in result["columns"] if c["name"] == "income")
    assert income["stats"]["mean"]["b"] == pytest.approx(2 * people["income"].mean())


def test_unknown_references_are_not_found(
    catalog: DatasetCatalog, tmp_path: Path, people: pd.DataFrame
) -> None:
    catalog.add_file(_csv(tmp_path / "p.csv", people), "people")
    with pytest.raises(NotFound, match="unknown dataset 'nobody'"):
        catalog.get("nobody")
    with pytest.raises(NotFound, match="no version 7"):
        catalog.get("people@7")
    with pytest.raises(NotFound, match="alias 'production'"):
        catalog.get("people@production")


def test_repr_of_a_version_is_one_short_line(catalog: DatasetCatalog) -> None:
    wide = pd.DataFrame({f"feature_{i}": range(i, i + 50) for i in range(200)})
    version, _ = catalog.add_frame(wide, "wide")
    text = repr(version)
    assert "\n" not in text and len(text) < 200, text
    for part in ("'wide@1'", "rows=50", "columns=200", "format='parquet'", version.digest[:12]):
        assert part in text
    child, _ = catalog.transform("wide@1", {"steps": [{"drop": ["feature_0"]}]}, "narrow")
    assert "parent='wide@1'" in repr(child) and "columns=199" in repr(child)
    summary = catalog.summaries()[0]
    assert len(repr(summary)) < 300  # a summary shows its newest version the same way
