"""`mw predict`: chunks, formats, the recorded version, and nothing half-written."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

import modelward as mw
from modelward.errors import InvalidInput, NotFound
from modelward.serving.batch import predict_batch
from modelward.store.workspace import open_workspace
from tests.serving.support import Served, run_main


def _expected(served: Served) -> list[int]:
    loaded = mw.models.load("bc-clf@2")
    return [int(v) for v in loaded.model.predict(served.prepared)]


def test_parquet_output_in_chunks_records_the_version(served: Served, tmp_path: Path) -> None:
    out = tmp_path / "scores.parquet"
    result = predict_batch(open_workspace(), "bc-clf@2", "bc", out, chunk_rows=100)
    table = pq.read_table(out)
    assert result.rows == table.num_rows == len(served.raw)
    assert table.schema.metadata[b"modelward.model"] == b"bc-clf@2"
    frame = table.to_pandas()
    assert frame["prediction"].tolist() == _expected(served)
    assert set(frame["model"]) == {"bc-clf@2"}
    assert list(frame.columns[: len(served.raw.columns)]) == list(served.raw.columns)


def test_csv_output_from_a_file_through_the_cli(
    served: Served, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    source = tmp_path / "rows.csv"
    served.raw.to_csv(source, index=False)
    out = tmp_path / "scores.csv"
    code, stdout, stderr = run_main(
        capsys, "predict", "bc-clf@2", "--data", source, "--out", out, "--json"
    )
    assert code == 0, stderr
    result = json.loads(stdout)
    assert result["rows"] == len(served.raw) and result["model"] == "bc-clf@2"
    assert pd.read_csv(out)["prediction"].tolist() == _expected(served)


def test_bad_batch_requests(served: Served, tmp_path: Path) -> None:
    workspace = open_workspace()
    with pytest.raises(InvalidInput, match=r"\.csv or \.parquet"):
        predict_batch(workspace, "bc-clf@2", "bc", tmp_path / "out.jsonl")
    with pytest.raises(InvalidInput, match="does not exist"):
        predict_batch(workspace, "bc-clf@2", "bc", tmp_path / "no" / "out.csv")
    with pytest.raises(InvalidInput, match="no such file"):
        predict_batch(workspace, "bc-clf@2", str(tmp_path / "missing.csv"), tmp_path / "o.csv")
    with pytest.raises(NotFound, match="unknown dataset"):
        predict_batch(workspace, "bc-clf@2", "nothing", tmp_path / "o.csv")
    lacking = tmp_path / "lacking.csv"
    served.raw.drop(columns=["mean area"]).to_csv(lacking, index=False)
    with pytest.raises(InvalidInput, match="lacks column"):
        predict_batch(workspace, "bc-clf@2", str(lacking), tmp_path / "o.csv")
    assert list(tmp_path.glob("o.csv*")) == [] and list(tmp_path.glob(".o.csv*")) == []


def test_a_failure_half_way_leaves_no_output(served: Served, tmp_path: Path) -> None:
    rows = served.raw.copy()
    rows.loc[450, "mean area"] = None  # the random forest takes NaN; the logistic model not
    source = tmp_path / "holes.csv"
    rows.to_csv(source, index=False)
    out = tmp_path / "scores.parquet"
    with pytest.raises(InvalidInput, match="rows 400-499"):
        predict_batch(open_workspace(), "bc-clf@1", str(source), out, chunk_rows=100)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["holes.csv"]
