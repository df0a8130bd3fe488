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
    import pyarrow as pa

    out = Path(out)
    fmt = format_of(out)
    if fmt not in OUTPUT_FORMATS:
        raise InvalidInput(f"--out must end in .csv or .parquet, got {out.name!r}")
    if not out.parent.is_dir():
        raise InvalidInput(f"cannot write {out}: folder {out.parent} does not exist")
    if chunk_rows < 1:
        raise InvalidInput("--chunk-rows must be at least 1")
    loaded = model_registry(workspace).load(ref, trust=trust)
    table, label = _read_source(workspace, source)
    missing = [name for name in loaded.input_names if name not in table.column_names]
    if missing:
        raise InvalidInput(f"{label} lacks column(s) the model takes: {', '.join(missing)}")
    version = loaded.version
    metadata = {
        b"modelward.model": version.ref.encode(),
        b"modelward.digest": version.digest.encode(),
    }
    started = time.perf_counter()
    fd, tmp_name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    os.close(fd)
    writer: Any = None
    done = 0
    try:
        for batch in table.to_batches(max_chunksize=chunk_rows):
            frame = batch.to_pandas()
            try:
                predictions = loaded.predict(frame[loaded.input_names])
            except (ValueError, TypeError) as exc:
                text = " ".join(str(exc).split())[:300]
                raise InvalidInput(
                    f"rows {done}-{done + len(frame) - 1} of {label}: {text}"
                ) from None
            chunk = (
                pa.Table.from_batches([batch])
                .append_column("prediction", pa.array(predictions))
                .append_column("model", pa.array([version.ref] * len(frame)))
            )
            if writer is None:
                writer = _open_writer(fmt, tmp_name, chunk.schema.with_metadata(metadata))
            writer.write_table(chunk.replace_schema_metadata(metadata))
            done += len(frame)
            progress(done, table.num_rows)
        if writer is not None:
            writer.close()
            writer = None
        os.replace(tmp_name, out)
    except BaseException:
        if writer is not None:
            writer.close()
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return BatchResult(
        model=version.ref,
        digest=version.digest,
        source=label,
        out=out,
        rows=done,
        seconds=time.perf_counter() - started,
    )


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
