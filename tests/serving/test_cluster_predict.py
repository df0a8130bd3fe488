"""`mw predict --cluster`: on a real two-worker Dask cluster the output equals a local
run's row for row; a lost worker is retried or fails cleanly; nothing half-written."""

from __future__ import annotations

import gc
import itertools
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

import modelward as mw
from modelward.errors import InvalidInput, ModelwardError
from modelward.serving.batch import predict_batch
from modelward.serving.cluster_batch import plan_partitions, predict_on_cluster
from modelward.store.workspace import open_workspace
from tests.cluster import dask_cluster, dask_cluster_address, free_port  # noqa: F401
from tests.helpers import mw as mw_process
from tests.serving.dying_partition import die_on_partition_one
from tests.serving.support import Served, run_main


@pytest.fixture(autouse=True)
def _collect_dask_garbage() -> Iterator[None]:
    """Collect a test's Dask client objects right away. Left to a later collection, their
    finalizers can run inside `ast.parse` (pytest rewriting a module being imported),
    which CPython 3.11 reports as "AST constructor recursion depth mismatch"."""
    yield
    gc.collect()


def _local(ref: str, source: str, out: Path) -> pq.Table:
    predict_batch(open_workspace(), ref, source, out, chunk_rows=64)
    return pq.read_table(out)


def _same(cluster_out: Path, local: pq.Table) -> None:
    table = pq.read_table(cluster_out)
    assert table.schema.equals(local.schema, check_metadata=True)
    assert table.equals(local)  # same rows, order, columns and values


def _nothing_left(folder: Path, *keep: str) -> None:
    assert sorted(p.name for p in folder.iterdir()) == sorted(keep)


def test_partitions_cover_every_row_once_in_order() -> None:
    groups = [100, 30, 30, 30, 1000, 5]
    parts = plan_partitions(groups, 100)
    assert next((p.start, p.stop) for p in parts) == (0, 100)
    assert [p.index for p in parts] == list(range(len(parts)))
    assert parts[0].start == 0 and parts[-1].stop == sum(groups)
    assert all(a.stop == b.start for a, b in itertools.pairwise(parts))
    assert parts[1].row_groups == (1, 2, 3)  # small groups joined
    split = [p for p in parts if p.row_groups == (4,)]  # a large group split by range
    assert len(split) == 10 and [p.skip for p in split][:2] == [0, 100]


def test_a_dataset_version_predicted_on_the_cluster_equals_a_local_run(
    served: Served,
    tmp_path: Path,
    dask_cluster_address: str,  # noqa: F811
) -> None:
    local = _local("bc-clf@2", "bc", tmp_path / "local.parquet")
    out = tmp_path / "cluster.parquet"
    result = predict_on_cluster(
        open_workspace(),
        "bc-clf@2",
        "bc",
        out,
        cluster=dask_cluster_address,
        chunk_rows=64,
        partition_rows=50,  # 12 partitions, over both workers
    )
    assert result.rows == len(served.raw) and result.model == "bc-clf@2"
    _same(out, local)
    # an independent reference: the model itself on the transformed rows
    expected = mw.models.load("bc-clf@2").model.predict(served.prepared)
    assert pq.read_table(out)["prediction"].to_pylist() == [int(v) for v in expected]
    _nothing_left(tmp_path, "local.parquet", "cluster.parquet")


def test_a_csv_file_through_the_cli_gives_the_local_bytes(
    served: Served,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    dask_cluster_address: str,  # noqa: F811
) -> None:
    source = tmp_path / "rows.csv"
    served.raw.to_csv(source, index=False)
    local, out = tmp_path / "local.csv", tmp_path / "cluster.csv"
    code, _, stderr = run_main(
        capsys, "predict", "bc-clf@production", "--data", source, "--out", local
    )
    assert code == 0, stderr
    code, stdout, stderr = run_main(
        capsys,
        "predict",
        "bc-clf@production",
        "--data",
        source,
        "--out",
        out,
        "--cluster",
        dask_cluster_address,
    )
    assert code == 0, stderr
    assert "wrote 569 predictions of bc-clf@1" in stdout
    assert out.read_bytes() == local.read_bytes()
    assert pd.read_csv(out)["model"].unique().tolist() == ["bc-clf@1"]
    # the same file as a dataset version stored as CSV: a worker reads it as Parquet
    stored = mw.data.add(source, name="bc-csv")
    assert stored.format == "csv"
    local_parquet = _local("bc-clf@1", stored.ref, tmp_path / "local.parquet")
    predict_on_cluster(
        open_workspace(),
        "bc-clf@1",
        stored.ref,
        tmp_path / "cluster.parquet",
        cluster=dask_cluster_address,
    )
    _same(tmp_path / "cluster.parquet", local_parquet)


def test_bad_input_is_refused_before_any_output(
    served: Served,
    tmp_path: Path,
    dask_cluster_address: str,  # noqa: F811
) -> None:
    workspace = open_workspace()
    lacking = tmp_path / "lacking.csv"
    served.raw.drop(columns=["mean area"]).to_csv(lacking, index=False)
    with pytest.raises(InvalidInput, match="lacks column"):
        predict_on_cluster(
            workspace, "bc-clf@2", str(lacking), tmp_path / "o.csv", cluster=dask_cluster_address
        )
    holes = served.raw.copy()
    holes.loc[450, "mean area"] = None  # the logistic model refuses NaN, on a worker
    holed = tmp_path / "holes.csv"
    holes.to_csv(holed, index=False)
    with pytest.raises(InvalidInput, match=r"of .*holes.csv: Input X contains NaN") as raised:
        predict_on_cluster(
            workspace,
            "bc-clf@1",
            str(holed),
            tmp_path / "o.csv",
            cluster=dask_cluster_address,
            partition_rows=100,
        )
    first, last = map(int, str(raised.value).split()[1].split("-"))
    assert first <= 450 <= last  # the rows named are the worker's chunk that held the hole
    with pytest.raises(InvalidInput, match="not a Dask scheduler address"):
        predict_on_cluster(workspace, "bc-clf@1", "bc", tmp_path / "o.csv", cluster="localhost")
    _nothing_left(tmp_path, "lacking.csv", "holes.csv")


def test_an_unreachable_cluster_fails_in_one_line_within_seconds(
    served: Served, tmp_path: Path
) -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    out = tmp_path / "scores.parquet"
    started = time.perf_counter()
    result = mw_process(
        "predict",
        "bc-clf@1",
        "--data",
        "bc",
        "--out",
        out,
        "--cluster",
        address,
        home=served.home,
    )
    assert time.perf_counter() - started < 15
    assert result.code == 1
    assert result.stderr.strip().count("\n") == 0
    assert f"cannot reach the Dask scheduler at {address} within 5 s" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_worker_killed_mid_job_is_retried_and_the_output_is_whole(
    served: Served, tmp_path: Path
) -> None:
    local = _local("bc-clf@2", "bc", tmp_path / "local.parquet")
    env = {
        "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1",
        "MW_TEST_DIE_ONCE": str(tmp_path / "died"),
    }
    out = tmp_path / "cluster.parquet"
    with dask_cluster(workers=2, env=env) as cluster:
        predict_on_cluster(
            open_workspace(),
            "bc-clf@2",
            "bc",
            out,
            cluster=cluster.address,
            chunk_rows=64,
            partition_rows=50,
            task=die_on_partition_one,
        )
        assert sum(worker.poll() is not None for worker in cluster.workers) == 1
    _same(out, local)


def test_a_worker_lost_for_good_fails_cleanly_with_no_output(
    served: Served, tmp_path: Path
) -> None:
    out = tmp_path / "cluster.parquet"
    with dask_cluster(workers=1) as cluster, pytest.raises(ModelwardError) as raised:
        predict_on_cluster(
            open_workspace(),
            "bc-clf@2",
            "bc",
            out,
            cluster=cluster.address,
            partition_rows=50,
            task=die_on_partition_one,
        )
    # the partition it ran, or one whose result it held or was finishing when it died
    assert re.fullmatch(
        r"a Dask worker died predicting rows \d+-\d+ of bc@1 and the scheduler gave up on "
        r"it: nothing written",
        str(raised.value),
    )
    _nothing_left(tmp_path)
