"""Reading and writing tabular files: CSV, Parquet and JSON lines, chosen by suffix."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa

from modelward.errors import InvalidInput

FORMATS: dict[str, str] = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}

# The cells a CSV reader takes for missing, in text and number columns alike: the
# defaults of pandas.read_csv, so that a file profiles here as it reads there.
CSV_NULL_MARKERS: tuple[str, ...] = (
    "",
    "#N/A",
    "#N/A N/A",
    "#NA",
    "-1.#IND",
    "-1.#QNAN",
    "-NaN",
    "-nan",
    "1.#IND",
    "1.#QNAN",
    "<NA>",
    "N/A",
    "NA",
    "NULL",
    "NaN",
    "None",
    "n/a",
    "nan",
    "null",
)


def format_of(path: Path | str) -> str:
    """The format named by a file's suffix, or InvalidInput for an unknown one."""
    suffix = Path(path).suffix.lower()
    try:
        return FORMATS[suffix]
    except KeyError:
        known = ", ".join(sorted(FORMATS))
        raise InvalidInput(
            f"unknown file format {suffix or '(no suffix)'!r} for {path}: use one of {known}"
        ) from None


def read_table(path: Path, fmt: str, *, label: str | None = None) -> pa.Table:
    """Read a whole file into an Arrow table; malformed or empty input is InvalidInput."""
    import pyarrow.csv as pacsv
    import pyarrow.json as pajson
    import pyarrow.parquet as pq

    shown = label or str(path)
    if path.stat().st_size == 0:
        raise InvalidInput(f"{shown} is empty")
    try:
        if fmt == "csv":
            options = pacsv.ConvertOptions(
                null_values=list(CSV_NULL_MARKERS), strings_can_be_null=True
            )
            table = pacsv.read_csv(path, convert_options=options)
        elif fmt == "parquet":
            table = pq.read_table(path)
        elif fmt == "jsonl":
            table = pajson.read_json(path)
        else:
            raise InvalidInput(f"unknown format {fmt!r}")
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as exc:
        raise InvalidInput(f"cannot read {shown} as {fmt}: {_one_line(exc)}") from None
    return check_table(table, shown)


def check_table(table: pa.Table, label: str) -> pa.Table:
    """Refuse tables a dataset cannot be made of: no columns, no rows, duplicate names."""
    if table.num_columns == 0:
        raise InvalidInput(f"{label} has no columns")
    if table.num_rows == 0:
        raise InvalidInput(f"{label} has no data rows")
    names = table.column_names
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise InvalidInput(f"{label} has duplicate column names: {', '.join(duplicates)}")
    return table


def write_table(table: pa.Table, path: Path, fmt: str | None = None) -> Path:
    """Write `table` to `path` atomically (temporary file, then rename)."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    fmt = fmt or format_of(path)
    path = Path(path)
    if path.is_dir():
        raise InvalidInput(f"{path} is a directory, expected a file name")
    if not path.parent.exists():
        raise InvalidInput(f"cannot write {path}: folder {path.parent} does not exist")
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        if fmt == "csv":
            pacsv.write_csv(table, tmp_name)
        elif fmt == "parquet":
            pq.write_table(table, tmp_name)
        elif fmt == "jsonl":
            _write_jsonl(table, Path(tmp_name))
        else:
            raise InvalidInput(f"unknown format {fmt!r}")
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def _write_jsonl(table: pa.Table, path: Path) -> None:
    frame = table.to_pandas()
    frame.to_json(path, orient="records", lines=True, date_format="iso")


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 200 else text[:197] + "..."


def table_from_frame(frame: Any) -> pa.Table:
    """An Arrow table from a pandas DataFrame (its index is not kept)."""
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InvalidInput(f"cannot store this DataFrame: {_one_line(exc)}") from None
