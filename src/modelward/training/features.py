"""Turning a dataset version into the model's inputs (X) and target (y)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelward.errors import InvalidInput

if TYPE_CHECKING:
    import pandas as pd


def split_target(frame: pd.DataFrame, target: str, label: str) -> tuple[pd.DataFrame, pd.Series]:
    """(X, y): every column but `target` as numeric features, and the target column."""
    import pandas as pd

    if target not in frame.columns:
        columns = ", ".join(map(str, frame.columns))
        raise InvalidInput(f"target column {target!r} is not in {label}: it has {columns}")
    features = frame.drop(columns=[target])
    if features.shape[1] == 0:
        raise InvalidInput(f"{label} has no feature columns besides the target {target!r}")
    text = [
        str(name)
        for name, dtype in features.dtypes.items()
        if not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype))
    ]
    if text:
        raise InvalidInput(
            f"column(s) {', '.join(text)} of {label} are not numeric: one-hot encode or drop them "
            "first (mw data transform with one_hot / drop)"
        )
    y = frame[target]
    if y.isna().any():
        raise InvalidInput(
            f"target column {target!r} of {label} has {int(y.isna().sum())} missing value(s): "
            'filter them out first (mw data transform with filter: "notnull(...)")'
        )
    return features, y


def feature_schema(features: pd.DataFrame) -> list[dict[str, str]]:
    """Names and dtypes of the feature columns, in order."""
    return [{"name": str(name), "dtype": str(dtype)} for name, dtype in features.dtypes.items()]
