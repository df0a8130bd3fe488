"""`mw monitor drift`: one drift check of a model's inputs against its reference data."""

from __future__ import annotations

import importlib
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelward.data.catalog import DatasetCatalog
from modelward.data.formats import check_table, format_of, read_table
from modelward.errors import InvalidInput
from modelward.monitoring.drift.cache import reference_dataset, reference_stats
from modelward.monitoring.ports import prediction_log_store
from modelward.registry.ports import model_registry
from modelward.store.workspace import Workspace


@dataclass(frozen=True)
class DriftRequest:
    """What to compare: a model's reference data with a file or a prediction-log window.

    `histograms` keeps each feature's bucket shares in the result (the HTML report
    always has them); without, the result stays a few hundred bytes per feature.
    `since_ms` and `until_id` name exact prediction-log rows instead of `window` (a
    monitor round's, from a drift alert's details), so the same rows are compared.
    """

    model: str
    reference: str | None = None
    current_path: Path | None = None
    window: str = "24h"
    rows: int = 100_000
    html_path: Path | None = None
    psi_threshold: float | None = None
    alpha: float | None = None
    histograms: bool = False
    since_ms: int | None = None
    until_id: int | None = None


def _quiet(_stage: str) -> None:
    return None


def run_drift_check(
    workspace: Workspace, request: DriftRequest, *, progress: Callable[[str], None] = _quiet
) -> dict[str, Any]:
    """Run the check; returns the report as JSON-able data (plus where the HTML went)."""
    # scipy.stats takes a second or more to import and the tests need it only at the
    # end: import it meanwhile, while the store is read and the current file parsed.
    threading.Thread(target=importlib.import_module, args=("scipy.stats",), daemon=True).start()
    from modelward.monitoring.drift.engine import DriftThresholds, detect_drift
    from modelward.monitoring.durations import parse_duration

    if request.html_path is not None and not request.html_path.parent.is_dir():
        raise InvalidInput(f"cannot write {request.html_path}: its folder does not exist")
    defaults = DriftThresholds()
    alpha = request.alpha
    thresholds = DriftThresholds(
        psi=defaults.psi if request.psi_threshold is None else request.psi_threshold,
        ks_pvalue=defaults.ks_pvalue if alpha is None else alpha,
        chi2_pvalue=defaults.chi2_pvalue if alpha is None else alpha,
    )
    version = model_registry(workspace).get(request.model)
    columns = [column["name"] for column in version.signature["inputs"]]
    dataset = (
        DatasetCatalog(workspace).get(request.reference)
        if request.reference
        else reference_dataset(workspace, version)
    )
    progress(f"reference statistics of {dataset.ref}")
    reference = reference_stats(workspace, dataset, columns)
    progress("reading the current data")
    if request.current_path is not None:
        path = request.current_path
        if not path.is_file():
            raise InvalidInput(f"no such file: {path}")
        # Kept as Arrow: the engine reads each column straight from it (no pandas copy).
        current = _read_current(path)
        n_current = current.num_rows
        current_label = str(path)
    else:
        if request.since_ms is not None:
            since_ms = request.since_ms
            current_label = f"prediction log, rows {since_ms} ms on, up to row {request.until_id}"
        else:
            since_ms = int((time.time() - parse_duration(request.window)) * 1000)
            current_label = f"prediction log, last {request.window}"
        window = prediction_log_store(workspace).input_window(
            version.name, since_ms=since_ms, limit=request.rows, until_id=request.until_id
        )
        current = None if window is None else window.frame
        n_current = 0 if current is None else len(current)
        if current is None:
            where = "those rows" if request.since_ms is not None else f"the last {request.window}"
            raise InvalidInput(
                f"the prediction log of {version.name} has no answered requests in {where}: "
                "serve some traffic, widen --window or give --current FILE"
            )
    progress("comparing")
    report = detect_drift(reference, current, thresholds=thresholds)
    result = report.to_dict(histograms=request.histograms)
    result.update(
        {
            "model": version.ref,
            "reference": dataset.ref,
            "current": current_label,
            "n_reference": dataset.n_rows,
            "n_current": n_current,
            "html": None,
        }
    )
    if request.html_path is not None:
        from modelward.monitoring.drift.report import render_html

        title = f"Data drift of {version.ref}: {dataset.ref} vs {current_label}"
        _write_atomically(request.html_path, render_html(report, title=title))
        result["html"] = str(request.html_path.absolute())
    return result


def _read_current(path: Path) -> Any:
    """The current rows as an Arrow table. Parquet goes through `ParquetFile`, which
    needs neither pyarrow's dataset layer nor pandas (half a second of imports)."""
    fmt = format_of(path)
    if fmt != "parquet":
        return read_table(path, fmt)
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.ParquetFile(path).read()
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError):
        return read_table(path, fmt)  # the reader's own, one-line message for a bad file
    return check_table(table, str(path))


def _write_atomically(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
