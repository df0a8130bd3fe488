"""A model version ready to predict: verified bytes, safe format, replayable transform."""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

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

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Predictions for rows holding the signature's input columns."""
        import numpy as np

        return np.asarray(self.model.predict(self.features(frame)))


def load_version(
    workspace: Workspace, version: ModelVersion, *, trust: bool = False
) -> LoadedModel:
    """Read the artifact (checked against its sha256), build the model and its transform."""
    data = workspace.artifacts.read_bytes(version.digest)
    model = load_model(data, version.format, trust=trust)
    transform = None
    if version.transform is not None:
        from modelward.data.preprocess import FittedTransform

        transform = FittedTransform.from_dict(version.transform)
    return LoadedModel(version=version, model=model, transform=transform)
