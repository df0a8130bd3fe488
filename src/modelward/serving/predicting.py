"""Calling the model for a request's rows.

Three paths, chosen once per model version (`prepare`): numbers in signature order
straight into one float matrix (no transform); a fitted transform compiled to NumPy
(`features.FeaturePlan`); and, for a transform the plan does not cover, the pandas
path that replays the stored transform on a DataFrame. All three answer alike.
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass, field
from typing import Any

from modelward.errors import DoesNotFit, InvalidInput
from modelward.registry.loading import LoadedModel
from modelward.serving.categories import UnseenCategory, unseen_categories
from modelward.serving.features import FeaturePlan
from modelward.serving.validation import (
    RequestReader,
    array_from_columns,
    frame_from_columns,
    not_finite,
)


@dataclass(frozen=True)
class Predictions:
    """What the model answered, and what the answer should warn about."""

    values: list[Any]
    unseen: list[UnseenCategory] = field(default_factory=list)
    unseen_rows: dict[str, int] = field(default_factory=dict)  # per input column


@dataclass(frozen=True)
class Prepared:
    """A served version with what its requests need, worked out once."""

    loaded: LoadedModel
    reader: RequestReader
    plan: FeaturePlan | None  # the compiled transform (None: none, or pandas only)


_prepared: dict[int, Prepared] = {}
_lock = threading.Lock()
_KEEP = 8  # versions kept prepared (a server holds one, a swap briefly two)


def prepare(loaded: LoadedModel) -> Prepared:
    """`loaded` with its request reader and compiled transform (cached per version)."""
    found = _prepared.get(id(loaded))
    if found is not None and found.loaded is loaded:
        return found
    plan = None
    if loaded.transform is not None:
        plan = FeaturePlan.compile(
            loaded.transform, loaded.version.signature["inputs"], loaded.feature_names
        )
    prepared = Prepared(loaded, RequestReader(loaded.version.signature["inputs"]), plan)
    with _lock:
        while len(_prepared) >= _KEEP:
            del _prepared[next(iter(_prepared))]
        _prepared[id(loaded)] = prepared
    return prepared


@dataclass(frozen=True)
class ModelInput:
    """What a request gives the model: its checked float matrix in feature order, with
    what the answer must warn about; or, for a transform only pandas replays, the
    predictions already made (`answered`)."""

    matrix: Any = None
    unseen: list[UnseenCategory] = field(default_factory=list)
    unseen_rows: dict[str, int] = field(default_factory=dict)
    answered: Predictions | None = None


def predict_table(
    loaded: LoadedModel, table: dict[str, list[Any]], rows: list[list[Any]] | None = None
) -> Predictions:
    """Predictions for checked columns; DoesNotFit (422) when the model cannot take them.

    `rows` are the same values as rows in signature order, when the request sent them
    so (`RequestReader.read`): for a model without transform, the matrix as sent.
    """
    given = model_input(loaded, table, rows)
    if given.answered is not None:
        return given.answered
    return Predictions(call_model(loaded, given.matrix), given.unseen, given.unseen_rows)


def model_input(
    loaded: LoadedModel, table: dict[str, list[Any]], rows: list[list[Any]] | None = None
) -> ModelInput:
    """The model's input for checked columns, checked as the model needs it: no
    infinity, no missing value unless the model takes them (DoesNotFit, 422)."""
    if loaded.numeric_only:  # numbers in signature order: no transform, no DataFrame
        import numpy as np

        X = None if rows is None else np.array(rows, dtype=np.float64)
        if X is None or X.ndim != 2 or not np.isfinite(X).all():
            X = array_from_columns(table, loaded.input_names)  # says which value is wrong
            if not loaded.allows_nan:
                missing = np.isnan(X).any(axis=0)
                if missing.any():
                    raise _missing(loaded.input_names[int(np.argmax(missing))])
        return ModelInput(X)
    plan = prepare(loaded).plan
    if plan is None:
        return ModelInput(answered=predict_with_pandas(loaded, table))
    import numpy as np

    features, raw, unseen = plan.matrix(table)
    infinite = np.isinf(raw)
    if infinite.any():  # in signature order, as the pandas path finds it
        column = int(infinite.any(axis=0).argmax())
        row = int(infinite[:, column].argmax())
        name = plan.numbers[column]
        not_finite(name, row, table[name][row])
    if not np.isfinite(features).all():
        if not loaded.allows_nan:
            missing = np.isnan(features).any(axis=0)
            if missing.any():
                raise _missing(plan.feature_names[int(missing.argmax())])
        overflow = np.isinf(features).any(axis=0)
        if overflow.any():  # a huge number the transform took past a double
            name = plan.feature_names[int(overflow.argmax())]
            raise DoesNotFit(
                f"the model cannot predict for this input: feature {name!r} is not a finite "
                "number after the transform",
                field=name,
            )
    return ModelInput(features, unseen.warnings, unseen.rows)


def predict_with_pandas(loaded: LoadedModel, table: dict[str, list[Any]]) -> Predictions:
    """The transform replayed on a pandas DataFrame (any stored transform)."""
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


def call_model(loaded: LoadedModel, X: Any) -> list[Any]:
    """The model's predictions for a float matrix in feature order, checked by the caller:
    no infinity, and no NaN unless the model takes missing values."""
    _quiet_feature_names()
    try:
        # scikit-learn's own scan for infinities is a third of a small model's predict:
        # the callers have made it already.
        with _assume_finite():
            predictions = loaded.model.predict(X)
    except (ValueError, TypeError) as exc:
        raise _cannot(exc) from None
    return list(predictions.tolist())


def _assume_finite() -> Any:
    import sklearn

    return sklearn.config_context(assume_finite=True)


_QUIET: list[Any] = []  # the filter entry, once made


def _quiet_feature_names() -> None:
    # A model fitted on a DataFrame warns on every NumPy matrix that it has no column
    # names; the matrix is in the signature's feature order, which is what the names
    # would check. One filter for the process, put back if something reset the filters
    # (pytest does, per test): `warnings.catch_warnings` around each call costs more
    # than the prediction of a small model.
    if not _QUIET or _QUIET[0] not in warnings.filters:
        warnings.filterwarnings(
            "ignore", message="X does not have valid feature names", category=UserWarning
        )
        _QUIET[:] = [warnings.filters[0]]


def _missing(name: str) -> DoesNotFit:
    return DoesNotFit(
        f"missing value in column {name!r}: this model cannot take missing values", field=name
    )


def _cannot(exc: Exception) -> DoesNotFit:
    return DoesNotFit(
        f"the model cannot predict for this input: {' '.join(str(exc).split())[:300]}"
    )
