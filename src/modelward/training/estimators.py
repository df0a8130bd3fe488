"""Which model `mw train --model` means, and its parameters, checked before anything runs."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping, Sequence
from typing import Any

from modelward.errors import InvalidInput

BUILTIN_MODELS = {
    "linear": "modelward.training.linear.LinearRegression",
    "logistic": "modelward.training.linear.LogisticRegression",
}
OPTIMIZERS = ("gd", "sgd", "minibatch", "adam")


def parse_params(items: Sequence[str]) -> dict[str, Any]:
    """`["n_estimators=200", "criterion=gini"]` -> typed values (YAML scalars)."""
    import yaml

    params: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise InvalidInput(f"bad --param {item!r}: write it as NAME=VALUE, e.g. C=0.5")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        if isinstance(value, dict | list):
            raise InvalidInput(f"bad --param {item!r}: values are scalars (numbers, words, true)")
        params[key] = value
    return params


def estimator_class(model: str) -> type[Any]:
    """The estimator class named by `linear`, `logistic` or a public scikit-learn path.

    Only the exact classes a model file may hold without trust are accepted (see
    `serialization.skops_allowlist`): importing a module runs its code, and a model
    that could not be loaded back safely is not worth training.
    """
    from modelward.serialization.skops_allowlist import PUBLIC_ESTIMATORS

    path = BUILTIN_MODELS.get(model, model)
    module_name, _, attribute = path.rpartition(".")
    if not module_name or not attribute:
        raise InvalidInput(
            f"unknown --model {model!r}: use linear, logistic or a scikit-learn class path "
            "such as sklearn.ensemble.RandomForestClassifier"
        )
    if model in BUILTIN_MODELS:
        found = getattr(importlib.import_module(module_name), attribute)
    elif attribute in PUBLIC_ESTIMATORS.get(module_name, ()):
        found = getattr(importlib.import_module(module_name), attribute, None)
    else:
        hint = _public_path(attribute, PUBLIC_ESTIMATORS)
        raise InvalidInput(
            f"refusing --model {model!r}: use linear, logistic or a scikit-learn estimator by "
            f"its public path{f' ({hint})' if hint else ', such as sklearn.linear_model.Ridge'}"
        )
    from sklearn.base import BaseEstimator

    if (
        not inspect.isclass(found)
        or not issubclass(found, BaseEstimator)
        or inspect.isabstract(found)
        or not callable(getattr(found, "fit", None))
        or not callable(getattr(found, "predict", None))
    ):
        raise InvalidInput(
            f"refusing --model {model!r}: it is not a scikit-learn-compatible estimator class "
            "with fit and predict"
        )
    return found


def _public_path(attribute: str, public: Mapping[str, frozenset[str]]) -> str | None:
    """`sklearn.ensemble.RandomForestClassifier` for `RandomForestClassifier`, if listed."""
    for package, classes in public.items():
        if attribute in classes:
            return f"{package}.{attribute}"
    return None


def build_estimator(model: str, params: Mapping[str, Any], optimizer: str | None = None) -> Any:
    """Instantiate the estimator with checked parameters (constructors only store them)."""
    cls = estimator_class(model)
    params = dict(params)
    if optimizer is not None:
        if model not in BUILTIN_MODELS:
            raise InvalidInput("--optimizer applies to --model linear or logistic only")
        if optimizer not in OPTIMIZERS:
            raise InvalidInput(
                f"unknown --optimizer {optimizer!r}: use one of {', '.join(OPTIMIZERS)}"
            )
        params["optimizer"] = optimizer
    try:
        accepted = sorted(cls().get_params(deep=False))
    except TypeError:  # Pipeline, VotingClassifier...: built from other estimators
        raise InvalidInput(
            f"{cls.__name__} is built from other estimators, which --param cannot give: "
            "train it from Python and store it with run.log_model"
        ) from None
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise InvalidInput(
            f"unknown --param {', '.join(unknown)} for {cls.__name__}: "
            f"it takes {', '.join(accepted)}"
        )
    estimator = cls(**params)
    validate = getattr(estimator, "_validate_params", None)
    if callable(validate) and hasattr(
        estimator, "_parameter_constraints"
    ):  # scikit-learn's own constraint check, before any data is touched
        try:
            validate()
        except (ValueError, TypeError) as exc:
            raise InvalidInput(f"bad --param for {cls.__name__}: {_one_line(exc)}") from None
    return estimator


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 300 else text[:297] + "..."
