"""Calling the model for a request's rows: the numeric fast path and the transform path."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelward.errors import DoesNotFit, InvalidInput
from modelward.registry.loading import LoadedModel
from modelward.serving.categories import UnseenCategory, unseen_categories
from modelward.serving.validation import array_from_columns, frame_from_columns


@dataclass(frozen=True)
class Predictions:
    """What the model answered, and what the answer should warn about."""

    values: list[Any]
    unseen: list[UnseenCategory] = field(default_factory=list)
    unseen_rows: dict[str, int] = field(default_factory=dict)  # per input column


def predict_table(loaded: LoadedModel, table: dict[str, list[Any]]) -> Predictions:
    """Predictions for checked columns; DoesNotFit (422) when the model cannot take them."""
    if loaded.numeric_only:  # numbers in signature order: no transform, no DataFrame
        return Predictions(_predict_array(loaded, array_from_columns(table, loaded.input_names)))
    import numpy as np

    frame = frame_from_columns(table, loaded.version.signature["inputs"])
    try:
        # a huge number may overflow in the transform: the model then refuses it (422)
        with np.errstate(over="ignore", invalid="ignore"):
            features = loaded.features(frame)
    except InvalidInput as exc:
        raise DoesNotFit(str(exc)) from None
    if not loaded.allows_nan:
        missing = features.isna().to_numpy().any(axis=0)
        if missing.any():
            raise _missing(str(features.columns[int(missing.argmax())]))
    unseen, unseen_rows = unseen_categories(loaded.transform, frame, features)
    try:
        values = loaded.model.predict(features)
    except (ValueError, TypeError) as exc:
        raise _cannot(exc) from None
    return Predictions(list(values.tolist()), unseen, unseen_rows)


def _predict_array(loaded: LoadedModel, X: Any) -> list[Any]:
    import numpy as np

    if not loaded.allows_nan:
        missing = np.isnan(X).any(axis=0)
        if missing.any():
            raise _missing(loaded.input_names[int(np.argmax(missing))])
    try:
        predictions = loaded.predict_array(X)
    except (ValueError, TypeError) as exc:
        raise _cannot(exc) from None
    return list(predictions.tolist())


def _missing(name: str) -> DoesNotFit:
    return DoesNotFit(
        f"missing value in column {name!r}: this model cannot take missing values", field=name
    )


def _cannot(exc: Exception) -> DoesNotFit:
    return DoesNotFit(
        f"the model cannot predict for this input: {' '.join(str(exc).split())[:300]}"
    )
