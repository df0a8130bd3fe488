"""`mw predict`: batch prediction in chunks, written whole or not at all."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelward.data.catalog import DatasetCatalog
from modelward.data.formats import format_of, read_table
from modelward.errors import InvalidInput
from modelward.registry.entities import ModelVersion
from modelward.registry.loading import LoadedModel
from modelward.registry.ports import model_registry
from modelward.store.workspace import Workspace

OUTPUT_FORMATS = ("csv", "parquet")


@dataclass(frozen=True)
class BatchResult:
    """What a batch prediction wrote."""

    model: str
    digest: str
    source: str
    out: Path
    rows: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description."""
        return {
            "model": self.model,
            "digest": self.digest,
            "source": self.source,
            "out": str(self.out),
            "rows": self.rows,
            "seconds": self.seconds,
            "rows_per_second": self.rows / self.seconds if self.seconds else None,
        }


def _no_progress(_done: int, _total: int) -> None:
    return None


def predict_batch(
    workspace: Workspace,
    ref: str,
    source: str,
    out: Path,
    *,
    chunk_rows: int = 50_000,
    trust: bool = False,
    progress: Callable[[int, int], None] = _no_progress,
) -> BatchResult:
    """Predict for every row of a dataset version or a file; write `out` (.csv/.parquet)."""
    out, fmt = checked_output(out, chunk_rows)
    loaded = model_registry(workspace).load(ref, trust=trust)
    table, label = _read_source(workspace, source)
    missing = [name for name in loaded.input_names if name not in table.column_names]
    if missing:
        raise InvalidInput(f"{label} lacks column(s) the model takes: {', '.join(missing)}")
    version = loaded.version
    started = time.perf_counter()
    done = 0
    with OutputWriter(out, fmt, output_metadata(version)) as writer:
        for batch in table.to_batches(max_chunksize=chunk_rows):
            writer.write(predict_chunk(loaded, batch, done, label))
            done += batch.num_rows
            progress(done, table.num_rows)
    return BatchResult(
        model=version.ref,
        digest=version.digest,
        source=label,
        out=out,
        rows=done,
        seconds=time.perf_counter() - started,
    )


def checked_output(out: Path, chunk_rows: int) -> tuple[Path, str]:
    """`--out` and `--chunk-rows` checked (InvalidInput); the output path and its format."""
    out = Path(out)
    fmt = format_of(out)
    if fmt not in OUTPUT_FORMATS:
        raise InvalidInput(f"--out must end in .csv or .parquet, got {out.name!r}")
    if not out.parent.is_dir():
        raise InvalidInput(f"cannot write {out}: folder {out.parent} does not exist")
    if chunk_rows < 1:
        raise InvalidInput("--chunk-rows must be at least 1")
    return out, fmt


def output_metadata(version: ModelVersion) -> dict[bytes, bytes]:
    """The output's schema metadata: which model version wrote the predictions."""
    return {
        b"modelward.model": version.ref.encode(),
        b"modelward.digest": version.digest.encode(),
    }


def predict_chunk(loaded: LoadedModel, batch: Any, first_row: int, label: str) -> Any:
    """One Arrow batch of input rows as an output table: its columns, the prediction and
    the model version. A model refusing the rows is InvalidInput naming them."""
    import pyarrow as pa

    frame = batch.to_pandas()
    try:
        predictions = loaded.predict(frame[loaded.input_names])
    except (ValueError, TypeError) as exc:
        text = " ".join(str(exc).split())[:300]
        last = first_row + len(frame) - 1
        raise InvalidInput(f"rows {first_row}-{last} of {label}: {text}") from None
    ref = loaded.version.ref
    return (
        pa.Table.from_batches([batch])
        .append_column("prediction", pa.array(predictions))
        .append_column("model", pa.array([ref] * len(frame)))
    )


class OutputWriter:
    """Tables appended to a temporary file beside `out`, renamed to `out` only when the
    block ends without an error (otherwise the file is removed: nothing half-written)."""

    def __init__(self, out: Path, fmt: str, metadata: dict[bytes, bytes]) -> None:
        self.out = out
        self.fmt = fmt
        self.metadata = metadata
        self._writer: Any = None
        fd, name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
        os.close(fd)
        self.tmp = Path(name)

    def write(self, table: Any) -> None:
        """Append the rows of one output table."""
        table = table.replace_schema_metadata(self.metadata)
        if self._writer is None:
            self._writer = _open_writer(self.fmt, str(self.tmp), table.schema)
        self._writer.write_table(table)

    def __enter__(self) -> OutputWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_rest: object) -> None:
        try:
            if self._writer is not None:
                self._writer.close()
            if kind is None:
                os.replace(self.tmp, self.out)
        finally:
            self.tmp.unlink(missing_ok=True)


def _read_source(workspace: Workspace, source: str) -> tuple[Any, str]:
    path = Path(source)
    if path.is_file():
        return read_table(path, format_of(path)), str(path)
    if path.suffix.lower() in (".csv", ".parquet", ".pq", ".jsonl", ".ndjson") or os.sep in source:
        raise InvalidInput(f"no such file: {source}")
    catalog = DatasetCatalog(workspace)
    version = catalog.get(source)
    return catalog.load_table(version), version.ref


def _open_writer(fmt: str, path: str, schema: Any) -> Any:
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetWriter(path, schema)
    import pyarrow.csv as pacsv

    return pacsv.CSVWriter(path, schema)
