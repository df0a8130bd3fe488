"""Missing values read the same in text and number columns, and as pandas reads them.

pandas.read_csv with its default null markers is the reference: the profile's
missing counts, the loaded frame and the transforms built on it agree with it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pandas._libs.parsers import STR_NA_VALUES  # type: ignore[import-not-found]  # no stub

from modelward.data.catalog import DatasetCatalog
from modelward.store.workspace import open_workspace


@pytest.fixture
def catalog(home: Path) -> DatasetCatalog:
    return DatasetCatalog(open_workspace())


def _missing(catalog: DatasetCatalog, ref: str) -> dict[str, int]:
    return {c["name"]: c["missing"] for c in catalog.get(ref).profile["columns"]}


def test_empty_cells_of_a_text_column_are_missing(catalog: DatasetCatalog, tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    n = 5_000
    city = rng.choice(["Lyon", "Paris", "Nantes"], size=n).astype(object)
    city[rng.choice(n, size=163, replace=False)] = None
    income = rng.normal(3000, 500, size=n)
    income[rng.choice(n, size=40, replace=False)] = np.nan
    path = tmp_path / "people.csv"
    pd.DataFrame({"city": city, "income": income}).to_csv(path, index=False)

    version, _ = catalog.add_file(path, "people")
    expected = pd.read_csv(path).isna().sum().to_dict()
    assert expected == {"city": 163, "income": 40}
    assert _missing(catalog, version.ref) == expected
    top = dict(map(tuple, version.profile["columns"][0]["categorical"]["top"]))
    assert "" not in top and sum(top.values()) == n - 163
    assert catalog.load_frame(version)["city"].isna().sum() == 163


# Every default null marker of pandas.read_csv, from pandas itself (the reference).
MARKERS = sorted(STR_NA_VALUES)


def test_text_and_numbers_read_the_null_markers_of_pandas(
    catalog: DatasetCatalog, tmp_path: Path
) -> None:
    rows = ["word,number,kept"]
    for i, marker in enumerate(MARKERS):
        rows.append(f"{marker},{marker},w{i}")
        rows.append(f"w{i},{i},{marker}x")  # a marker inside a longer value is a value
    rows.append('"NA",1.5,"quoted"')
    path = tmp_path / "markers.csv"
    path.write_text("\n".join(rows) + "\n")

    reference = pd.read_csv(path)
    assert reference["word"].isna().sum() == len(MARKERS) + 1
    version, _ = catalog.add_file(path, "markers")
    assert _missing(catalog, version.ref) == reference.isna().sum().to_dict()
    frame = catalog.load_frame(version)
    pd.testing.assert_series_equal(
        frame["word"].isna(), reference["word"].isna(), check_names=False
    )
    np.testing.assert_array_equal(
        frame["number"].to_numpy(dtype=float, na_value=np.nan), reference["number"].to_numpy()
    )
    assert frame["kept"].notna().all()


@pytest.fixture
def penguins_csv(tmp_path: Path) -> Path:
    palmerpenguins = pytest.importorskip("palmerpenguins")
    path = Path(palmerpenguins.__file__).parent / "data" / "penguins.csv"
    assert path.is_file()
    return path


def test_penguins_na_is_missing_in_profile_fill_and_one_hot(
    catalog: DatasetCatalog, penguins_csv: Path
) -> None:
    reference = pd.read_csv(penguins_csv)
    assert reference["sex"].isna().sum() == 11  # "NA" in a text column
    version, _ = catalog.add_file(penguins_csv, "penguins")
    assert _missing(catalog, version.ref) == reference.isna().sum().to_dict()
    sex = next(c for c in version.profile["columns"] if c["name"] == "sex")
    assert sorted(value for value, _ in sex["categorical"]["top"]) == ["female", "male"]

    spec = {
        "steps": [
            {"fill_missing": {"columns": ["sex"], "strategy": "mode"}},
            {"one_hot": {"columns": ["sex", "island"]}},
        ]
    }
    prepared, _ = catalog.transform(version.ref, spec, "penguins-prep")
    out = catalog.load_frame(prepared)
    assert [c for c in out.columns if c.startswith("sex_")] == ["sex_female", "sex_male"]
    mode = reference["sex"].mode().iloc[0]
    filled = reference["sex"].fillna(mode)
    np.testing.assert_array_equal(out[f"sex_{mode}"].to_numpy(), (filled == mode).to_numpy())
    assert (out["sex_female"] + out["sex_male"] == 1).all()

    # Unfilled, a missing sex is a row of zeros, never a category of its own.
    spec = {"steps": [{"one_hot": {"columns": ["sex"]}}]}
    encoded = catalog.load_frame(catalog.transform(version.ref, spec, "penguins-hot")[0])
    assert [c for c in encoded.columns if c.startswith("sex_")] == ["sex_female", "sex_male"]
    assert int(((encoded["sex_female"] + encoded["sex_male"]) == 0).sum()) == 11


def test_json_lines_and_parquet_nulls_are_missing_in_text_columns(
    catalog: DatasetCatalog, tmp_path: Path
) -> None:
    frame = pd.DataFrame(
        {"city": ["Lyon", None, "", "Paris", None], "n": [1.0, 2.0, None, 4.0, 5.0]}
    )
    jsonl = tmp_path / "rows.jsonl"
    frame.to_json(jsonl, orient="records", lines=True)  # None and NaN become null
    assert jsonl.read_text().count("null") == 3
    parquet = tmp_path / "rows.parquet"
    frame.to_parquet(parquet)
    for path, reference in (
        (jsonl, pd.read_json(jsonl, lines=True)),
        (parquet, pd.read_parquet(parquet)),
    ):
        version, _ = catalog.add_file(path, f"rows-{path.suffix[1:]}")
        # In typed formats null is missing and "" is a value, as pandas reads them.
        assert _missing(catalog, version.ref) == reference.isna().sum().to_dict()
        assert _missing(catalog, version.ref) == {"city": 2, "n": 1}
