"""A model version ready to predict: verified bytes, safe format, replayable transform."""

from __future__ import annotations

import functools
import hashlib
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelward.errors import IntegrityError, InvalidInput
from modelward.registry.entities import ModelVersion
from modelward.serialization import load_model
from modelward.store.workspace import Workspace

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from modelward.data.preprocess import FittedTransform


@dataclass(frozen=True)
class LoadedModel:
    """A loaded model version: its object, its data transform and its signature."""

    version: ModelVersion
    model: Any
    transform: FittedTransform | None

    @property
    def input_names(self) -> list[str]:
        """Columns a caller sends."""
        return [column["name"] for column in self.version.signature["inputs"]]

    @property
    def feature_names(self) -> list[str]:
        """Columns the model itself takes (after the transform)."""
        return list(self.version.signature["features"])

    def features(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Apply the stored transform (never refitted, rows never dropped); select features."""
        if self.transform is not None:
            frame = self.transform.apply(frame, filter_rows=False)
        return frame[self.feature_names]

    @functools.cached_property
    def numeric_only(self) -> bool:
        """True when requests can skip pandas: numbers only, no transform, same column order."""
        inputs = self.version.signature["inputs"]
        return (
            self.transform is None
            and all(column.get("kind") in ("number", "integer") for column in inputs)
            and self.input_names == self.feature_names
        )

    @functools.cached_property
    def allows_nan(self) -> bool:
        """Whether the model takes missing values (scikit-learn's `allow_nan` tag)."""
        try:
            from sklearn.utils import get_tags

            return bool(get_tags(self.model).input_tags.allow_nan)
        except Exception:  # not a scikit-learn estimator, or an older scikit-learn
            return False

    def predict_array(self, X: np.ndarray) -> np.ndarray:
        """Predictions for a float matrix in feature order (the `numeric_only` fast path)."""
        import numpy as np

        with warnings.catch_warnings():
            # Fitted on a DataFrame, scikit-learn notes the missing column names; the
            # columns are in the signature's order, which is what the names would check.
            warnings.filterwarnings("ignore", message="X does not have valid feature names")
            return np.asarray(self.model.predict(X))

    def predict(self, rows: Any) -> np.ndarray:
        """Predictions for rows holding the signature's input columns (`input_names`).

        `rows` is a DataFrame, a list of dicts (one per row), a list of lists or a 2-d
        numpy array (values in `input_names` order), or a dict of columns. The stored
        transform is applied first; InvalidInput names a column the rows lack.
        """
        import numpy as np

        frame = self.frame(rows)
        missing = [name for name in self.input_names if name not in frame.columns]
        if missing:
            raise InvalidInput(
                f"the rows lack column(s) {', '.join(missing)}; "
                f"{self.version.ref} takes {', '.join(self.input_names)}"
            )
        if frame.shape[0] == 0:  # estimators refuse 0 rows; no rows, no predictions
            classes = getattr(self.model, "classes_", None)
            return np.empty(0, dtype=classes.dtype if classes is not None else np.float64)
        return np.asarray(self.model.predict(self.features(frame)))

    def frame(self, rows: Any) -> pd.DataFrame:
        """`rows` (see `predict`) as a DataFrame; values given by position get `input_names`."""
        import numpy as np
        import pandas as pd

        names = self.input_names
        if isinstance(rows, pd.DataFrame):
            return rows
        if isinstance(rows, Mapping):
            if rows and all(_is_column(value) for value in rows.values()):
                return pd.DataFrame({str(k): list(v) for k, v in rows.items()})
            raise InvalidInput(
                "a dict passed to predict maps column names to lists of values; "
                "pass one row as [{column: value}]"
            )
        if isinstance(rows, np.ndarray) or (
            isinstance(rows, Sequence) and not isinstance(rows, str | bytes)
        ):
            items = list(rows)
            if not items:
                return pd.DataFrame({name: [] for name in names})
            if all(isinstance(item, Mapping) for item in items):
                return pd.DataFrame.from_records(items)
            if all(_is_row(item) for item in items):
                widths = sorted({len(item) for item in items})
                if widths != [len(names)]:
                    raise InvalidInput(
                        f"rows given as lists need {len(names)} values each "
                        f"({', '.join(names)}); got {', '.join(map(str, widths))}"
                    )
                if isinstance(rows, np.ndarray):
                    return pd.DataFrame(rows, columns=names)
                return pd.DataFrame([list(item) for item in items], columns=names)
            raise InvalidInput(
                "predict takes rows: a list of dicts or of lists, a 2-d array or a DataFrame; "
                "for one row pass [row]"
            )
        raise InvalidInput(
            "predict takes rows: a list of dicts or of lists, a 2-d array or a DataFrame, "
            f"not {type(rows).__name__}"
        )


def _is_column(value: Any) -> bool:
    return hasattr(value, "__len__") and not isinstance(value, str | bytes | Mapping)


def _is_row(value: Any) -> bool:
    return _is_column(value) and not isinstance(value, set | frozenset)


def load_version(
    workspace: Workspace, version: ModelVersion, *, trust: bool = False
) -> LoadedModel:
    """Read the artifact (checked against its sha256), build the model and its transform.

    The bytes come from `artifacts.local_path`: the store's own file locally, a verified
    copy in the local cache when a team server holds the store (downloaded once, so a
    restart or a second worker loads without a transfer). They are hashed again as read:
    the loader sees exactly the bytes the digest names.
    """
    data = workspace.artifacts.local_path(version.digest).read_bytes()
    found = hashlib.sha256(data).hexdigest()
    if found != version.digest:
        raise IntegrityError(
            f"the artifact of {version.ref} changed while it was read (it hashes to "
            f"{found[:12]}, not {version.digest[:12]}): load it again"
        )
    model = load_model(data, version.format, trust=trust)
    transform = None
    if version.transform is not None:
        from modelward.data.preprocess import FittedTransform

        transform = FittedTransform.from_dict(version.transform)
    return LoadedModel(version=version, model=model, transform=transform)
