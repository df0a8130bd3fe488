"""`mw predict --cluster`: batch prediction on a Dask cluster, written whole or not at all.

The client touches metadata only. It resolves the model version and the dataset's
artifact (a file given by path is first copied into the artifact store, as bytes),
and asks one worker to prepare it: a CSV or JSON lines artifact is read there as
`mw predict` reads it and stored again as Parquet; the Parquet footer gives the row
groups. The rows are then split into partitions of whole row groups (a large group is
split by row range), and each worker reads its partitions from the store itself,
loads the model (verified against its digest, its stored transform applied), and
returns its part. The client appends the parts in order to a temporary file beside
`--out`, renamed once the last is in: the same rows, order, columns and values as a
local run. A worker lost for good, or any failure, cancels the rest and leaves no
output; the parts live only in the workers' memory, so nothing stray remains.
"""

from __future__ import annotations

import itertools
import math
import os
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelward.cluster import CONNECT_SECONDS, connect, worker_threads
from modelward.config import Settings
from modelward.data.catalog import DatasetCatalog
from modelward.data.formats import format_of, read_table
from modelward.errors import InvalidInput, ModelwardError
from modelward.registry.entities import ModelVersion
from modelward.registry.loading import LoadedModel
from modelward.registry.ports import model_registry
from modelward.serving.batch import (
    BatchResult,
    OutputWriter,
    _no_progress,
    checked_output,
    output_metadata,
    predict_chunk,
)
from modelward.store.workspace import Workspace, open_workspace

PARTITIONS_PER_THREAD = 4  # enough to keep every worker busy while the client writes
STAGED_ROW_GROUP = 128 * 1024
POLL_SECONDS = 0.5  # how often a wait for one result looks at the others and the workers
WORKERLESS_SECONDS = 10.0  # rows per row group of a CSV or JSON lines source staged


@dataclass(frozen=True)
class SourceData:
    """The artifact a prediction reads: Parquet, in the store, with its row groups."""

    digest: str
    label: str
    columns: tuple[str, ...]
    row_groups: tuple[int, ...]  # rows in each

    @property
    def rows(self) -> int:
        """Rows in the whole artifact."""
        return sum(self.row_groups)


@dataclass(frozen=True)
class Partition:
    """Rows [start, stop) of the source: `row_groups` read, `skip` rows of them dropped."""

    index: int
    start: int
    stop: int
    row_groups: tuple[int, ...]
    skip: int = 0


@dataclass(frozen=True)
class PartitionJob:
    """What a worker needs to predict one partition (the caller's settings: the same store)."""

    settings: Settings
    version: ModelVersion
    source: SourceData
    partition: Partition
    chunk_rows: int
    trust: bool


def predict_on_cluster(
    workspace: Workspace,
    ref: str,
    source: str,
    out: Path,
    *,
    cluster: str,
    chunk_rows: int = 50_000,
    partition_rows: int | None = None,
    trust: bool = False,
    progress: Callable[[int, int], None] = _no_progress,
    connect_seconds: float = CONNECT_SECONDS,
    task: Callable[[PartitionJob], Any] | None = None,
) -> BatchResult:
    """`predict_batch` on the Dask cluster at `cluster` (`tcp://host:port`): the same output.

    `partition_rows` is the rows a task predicts (default: a few tasks per worker
    thread); `task` replaces `predict_partition` (tests use it to kill a worker).
    """
    out, fmt = checked_output(out, chunk_rows)
    version = model_registry(workspace).get(ref)
    artifact, artifact_format, label = _source_artifact(workspace, source, stage=False)
    client = connect(cluster, connect_seconds=connect_seconds)
    try:
        if artifact is None:  # a file: its bytes go to the store, where workers read them
            artifact, artifact_format, label = _source_artifact(workspace, source, stage=True)
        assert artifact is not None
        tasks = _Tasks(client, cluster)
        preparing = client.submit(
            prepare_source, workspace.settings, artifact, artifact_format, label, pure=False
        )
        data: SourceData = tasks.result(tasks.add(preparing, f"preparing {label}"))
        inputs = [column["name"] for column in version.signature["inputs"]]
        missing = [name for name in inputs if name not in data.columns]
        if missing:
            raise InvalidInput(f"{label} lacks column(s) the model takes: {', '.join(missing)}")
        target = partition_rows or math.ceil(
            data.rows / (worker_threads(client) * PARTITIONS_PER_THREAD)
        )
        partitions = plan_partitions(data.row_groups, max(1, target))
        started = time.perf_counter()
        function = task or predict_partition
        indexes = [
            tasks.add(
                client.submit(
                    function,
                    PartitionJob(workspace.settings, version, data, partition, chunk_rows, trust),
                    pure=False,
                    key=f"mw-predict-{partition.index}-{os.urandom(6).hex()}",
                ),
                f"predicting rows {partition.start}-{partition.stop - 1} of {label}",
            )
            for partition in partitions
        ]
        done = 0
        try:
            with OutputWriter(out, fmt, output_metadata(version)) as writer:
                for partition, index in zip(partitions, indexes, strict=True):
                    writer.write(tasks.result(index))
                    tasks.release(index)
                    done += partition.stop - partition.start
                    progress(done, data.rows)
        except BaseException:
            tasks.cancel()
            raise
    finally:
        client.close()
    return BatchResult(
        model=version.ref,
        digest=version.digest,
        source=label,
        out=out,
        rows=done,
        seconds=time.perf_counter() - started,
    )


def plan_partitions(row_groups: Sequence[int], target_rows: int) -> list[Partition]:
    """Consecutive row groups joined while they stay within `target_rows`; a group over
    twice that split into row ranges of about `target_rows`. Together: every row once,
    in order."""
    partitions: list[Partition] = []
    pending: list[int] = []
    pending_start = pending_rows = 0
    position = 0

    def flush() -> None:
        nonlocal pending, pending_rows
        if pending:
            end = pending_start + pending_rows
            partitions.append(Partition(len(partitions), pending_start, end, tuple(pending)))
        pending, pending_rows = [], 0

    for group, rows in enumerate(row_groups):
        if rows > 2 * target_rows:
            flush()
            pieces = math.ceil(rows / target_rows)
            bounds = [rows * piece // pieces for piece in range(pieces + 1)]
            for low, high in itertools.pairwise(bounds):
                partitions.append(
                    Partition(len(partitions), position + low, position + high, (group,), low)
                )
        else:
            if pending and pending_rows + rows > target_rows:
                flush()
            if not pending:
                pending_start = position
            pending.append(group)
            pending_rows += rows
        position += rows
    flush()
    return [p for p in partitions if p.stop > p.start]


# -- the client's side of a source ---------------------------------------------


def _source_artifact(
    workspace: Workspace, source: str, *, stage: bool
) -> tuple[str | None, str, str]:
    """(digest, format, label) of what `source` names; a file is only checked unless
    `stage` (then copied into the artifact store, its bytes unread here)."""
    path = Path(source)
    if path.is_file():
        fmt = format_of(path)
        if path.stat().st_size == 0:
            raise InvalidInput(f"{path} is empty")
        if not stage:
            return None, fmt, str(path)
        return workspace.artifacts.put_file(path), fmt, str(path)
    if path.suffix.lower() in (".csv", ".parquet", ".pq", ".jsonl", ".ndjson") or os.sep in source:
        raise InvalidInput(f"no such file: {source}")
    version = DatasetCatalog(workspace).get(source)
    return version.digest, version.format, version.ref


class _Tasks:
    """The futures of one job. A result is awaited while watching the others (one that
    failed fails the job now, not when its turn comes) and the workers (a cluster left
    without any for WORKERLESS_SECONDS fails it: Dask would wait for one forever)."""

    def __init__(self, client: Any, address: str) -> None:
        self.client = client
        self.address = address
        self.futures: list[tuple[Any, str]] = []

    def add(self, future: Any, what: str) -> int:
        """Watch `future` (`what` it does names it in an error); its index."""
        self.futures.append((future, what))
        return len(self.futures) - 1

    def result(self, index: int) -> Any:
        """The result of future `index`; a failure anywhere as one line (ModelwardError)."""
        future, what = self.futures[index]
        workerless_since: float | None = None
        while True:
            try:
                return future.result(timeout=POLL_SECONDS)
            except TimeoutError:
                if future.status == "error":  # the task's own TimeoutError
                    raise _failure(future.exception(), what) from None
            except Exception as exc:
                raise _failure(exc, what) from None
            for other, other_what in self.futures:
                if other.status == "error":
                    raise _failure(other.exception(), other_what) from None
            try:
                workers = len(self.client.nthreads())
            except Exception as exc:
                raise _failure(exc, what) from None
            if workers:
                workerless_since = None
            elif workerless_since is None:
                workerless_since = time.monotonic()
            elif time.monotonic() - workerless_since > WORKERLESS_SECONDS:
                raise ModelwardError(
                    f"the Dask cluster at {self.address} lost all its workers {what}: "
                    "nothing written"
                )

    def release(self, index: int) -> None:
        """Let the cluster forget a result that was used."""
        self.futures[index][0].release()

    def cancel(self) -> None:
        """Stop every task of the job."""
        self.client.cancel([future for future, _ in self.futures], force=True)


def _failure(exc: BaseException, what: str) -> ModelwardError:
    """A task's failure as one line: its own ModelwardError, or what happened to it."""
    if isinstance(exc, ModelwardError):
        return exc
    name = type(exc).__name__
    if name == "KilledWorker":
        return ModelwardError(
            f"a Dask worker died {what} and the scheduler gave up on it: nothing written"
        )
    if name in ("CancelledError", "FutureCancelledError", "CommClosedError") or isinstance(
        exc, OSError | TimeoutError
    ):
        return ModelwardError(f"the Dask cluster was lost {what}: nothing written ({name})")
    detail = " ".join(str(exc).split())[:300]
    return ModelwardError(f"the cluster failed {what}: {name}: {detail}")


# -- the workers' side -----------------------------------------------------------

_verified: dict[tuple[str, str], tuple[Path, tuple[int, int, int]]] = {}
_models: dict[tuple[str, str, bool], LoadedModel] = {}
_models_lock = threading.Lock()


def prepare_source(settings: Settings, digest: str, fmt: str, label: str) -> SourceData:
    """A worker's task: the source as Parquet in the store (a CSV or JSON lines artifact
    read as `mw predict` reads it, stored again), with its columns and row groups."""
    import pyarrow.parquet as pq

    workspace = open_workspace(settings)
    path = _verified_path(workspace, digest)
    if fmt != "parquet":
        table = read_table(path, fmt, label=label)
        digest = _store_parquet(workspace, table)
        path = _verified_path(workspace, digest)
    try:
        metadata = pq.read_metadata(path)
    except (OSError, ValueError) as exc:
        raise InvalidInput(
            f"cannot read {label} as parquet: {' '.join(str(exc).split())}"
        ) from None
    columns = tuple(metadata.schema.to_arrow_schema().names)
    if not columns:
        raise InvalidInput(f"{label} has no columns")
    if metadata.num_rows == 0:
        raise InvalidInput(f"{label} has no data rows")
    duplicates = sorted({name for name in columns if columns.count(name) > 1})
    if duplicates:
        raise InvalidInput(f"{label} has duplicate column names: {', '.join(duplicates)}")
    groups = tuple(metadata.row_group(i).num_rows for i in range(metadata.num_row_groups))
    return SourceData(digest, label, columns, groups)


def predict_partition(job: PartitionJob) -> Any:
    """A worker's task: one partition read from the store and predicted (an Arrow table)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    workspace = open_workspace(job.settings)
    loaded = _loaded_model(workspace, job.version, job.trust)
    part = job.partition
    wanted = part.stop - part.start
    skip = part.skip
    pieces: list[Any] = []
    done = 0
    with pq.ParquetFile(_verified_path(workspace, job.source.digest)) as reader:
        batches = reader.iter_batches(batch_size=job.chunk_rows, row_groups=list(part.row_groups))
        for batch in batches:
            if skip >= batch.num_rows:
                skip -= batch.num_rows
                continue
            batch = batch.slice(skip, wanted - done)
            skip = 0
            pieces.append(predict_chunk(loaded, batch, part.start + done, job.source.label))
            done += batch.num_rows
            if done >= wanted:
                break
    return pa.concat_tables(pieces)


def _loaded_model(workspace: Workspace, version: ModelVersion, trust: bool) -> LoadedModel:
    """The version's model, loaded (and verified) once per worker process."""
    key = (str(workspace.settings.db_url), version.digest, trust)
    with _models_lock:
        loaded = _models.get(key)
        if loaded is None:
            loaded = model_registry(workspace).load(version, trust=trust)
            if len(_models) >= 4:
                _models.pop(next(iter(_models)))
            _models[key] = loaded
        return loaded


def _verified_path(workspace: Workspace, digest: str) -> Path:
    """The artifact's file, hashed once per worker process while the file stays the
    same one (content-addressed, never rewritten): not once per partition."""
    key = (workspace.settings.artifacts, digest)
    known = _verified.get(key)
    if known is not None:
        path, signature = known
        try:
            stat = path.stat()
        except OSError:
            stat = None
        if stat is not None and (stat.st_ino, stat.st_size, stat.st_mtime_ns) == signature:
            return path
    path = workspace.artifacts.local_path(digest)
    stat = path.stat()
    _verified[key] = (path, (stat.st_ino, stat.st_size, stat.st_mtime_ns))
    return path


def _store_parquet(workspace: Workspace, table: Any) -> str:
    import pyarrow.parquet as pq

    workspace.settings.home.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(suffix=".parquet", dir=workspace.settings.home)
    os.close(fd)
    tmp = Path(name)
    try:
        pq.write_table(table, tmp, row_group_size=STAGED_ROW_GROUP)
        return workspace.artifacts.put_file(tmp)
    finally:
        tmp.unlink(missing_ok=True)
