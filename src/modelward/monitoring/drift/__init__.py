"""Data drift: is the current data still distributed like the reference?

    reference = compute_reference(table)       # once per dataset version; cache to_bytes()
    report = detect_drift(reference, frame)     # each check: current DataFrame or Table
    report.drifted, report.to_dict()

The package, by job:

- `engine`: `detect_drift`, the verdict rules and `DriftReport` (its docstring has
  the statistics and thresholds);
- `reference`: `compute_reference` and `ReferenceStats`, the reference side computed
  once and serialised without pickle;
- `stats`: reading columns, and PSI, KS and chi-square over them;
- `cache`: reference statistics kept in the store per dataset version;
- `check`: one `mw monitor drift` check (model, reference, current data);
- `report`: the report as a self-contained HTML page.
"""

from modelward.monitoring.drift.engine import (
    DriftReport,
    DriftThresholds,
    FeatureDrift,
    Histogram,
    detect_drift,
)
from modelward.monitoring.drift.reference import (
    CategoricalReference,
    NumericReference,
    ReferenceStats,
    compute_reference,
)

__all__ = [
    "CategoricalReference",
    "DriftReport",
    "DriftThresholds",
    "FeatureDrift",
    "Histogram",
    "NumericReference",
    "ReferenceStats",
    "compute_reference",
    "detect_drift",
]
