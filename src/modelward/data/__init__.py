"""Data management: collect, version, profile, transform, export and compare datasets.

import modelward as mw
ds = mw.data.add("churn.csv", name="churn")          # churn@1
prep = mw.data.transform("churn@1", "prep.yaml", name="churn-prep")
frame = mw.data.load("churn-prep@latest")
"""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelward.data.entities import DatasetSummary, DatasetVersion

if TYPE_CHECKING:
    from collections.abc import Mapping

    import pandas as pd

    from modelward.data.catalog import DatasetCatalog
    from modelward.data.compare import DatasetDiff

__all__ = [
    "DatasetSummary",
    "DatasetVersion",
    "add",
    "diff",
    "export",
    "get",
    "import_sql",
    "lineage",
    "list",
    "load",
    "transform",
    "versions",
]


def _catalog() -> DatasetCatalog:
    from modelward.data.catalog import DatasetCatalog
    from modelward.store.workspace import open_workspace

    return DatasetCatalog(open_workspace())


def add(
    source: str | Path | pd.DataFrame, *, name: str, description: str | None = None
) -> DatasetVersion:
    """Add a file (CSV, Parquet, JSON lines) or a DataFrame as a version of `name`.

    Identical content returns the existing version; changed content makes a new one.
    """
    if isinstance(source, str | Path):
        return _catalog().add_file(source, name, description=description)[0]
    return _catalog().add_frame(source, name, description=description)[0]


def import_sql(url: str, query: str, *, name: str) -> DatasetVersion:
    """Run `query` against a SQLAlchemy URL and add the result as a version of `name`."""
    return _catalog().import_sql(url, query, name)[0]


def get(ref: str) -> DatasetVersion:
    """The version `ref` names (`name`, `name@3`, `name@latest`)."""
    return _catalog().get(ref)


def load(ref: str | DatasetVersion) -> pd.DataFrame:
    """The data of a version as a pandas DataFrame, verified against its digest."""
    return _catalog().load_frame(ref)


def list() -> builtins.list[DatasetSummary]:
    """Every dataset with its newest version."""
    return _catalog().summaries()


def versions(name: str) -> builtins.list[DatasetVersion]:
    """Every version of `name`, oldest first."""
    return _catalog().versions(name)


def lineage(ref: str) -> builtins.list[DatasetVersion]:
    """The version `ref` names followed by its parents, nearest first."""
    catalog = _catalog()
    version = catalog.get(ref)
    return [version, *catalog.lineage(version)]


def transform(ref: str, spec: str | Path | Mapping[str, Any], *, name: str) -> DatasetVersion:
    """Fit a transform spec (YAML file, YAML text or mapping) on `ref`; record the output."""
    return _catalog().transform(ref, spec, name)[0]


def export(ref: str, path: str | Path) -> Path:
    """Write the version to `path` in the format its suffix names (.csv, .parquet, .jsonl)."""
    return _catalog().export(ref, path)[1]


def diff(a: str, b: str) -> DatasetDiff:
    """What changed from version `a` to version `b` (schema, rows, statistics)."""
    return _catalog().diff(a, b)
