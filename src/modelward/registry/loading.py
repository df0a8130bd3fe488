"""A model version ready to predict: verified bytes, safe format, replayable transform."""

from __future__ import annotations

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
