"""skops files load without trust only when every type they name is on the exact allow-list.

The payload of the first test is the one that ran code on every `mw predict` while the
allow-list trusted module prefixes: a pipeline made only of "sklearn.", "numpy." and
"builtins." names that ends up calling `eval` on predict.
"""

from __future__ import annotations

import builtins
import functools
import importlib
import inspect
import io
import json
import operator
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skops.io as sio
from sklearn.base import BaseEstimator, is_classifier, is_regressor
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from modelward.errors import InvalidInput
from modelward.serialization import load_model, save_model, skops_format
from modelward.serialization.skops_allowlist import PUBLIC_ESTIMATORS, STATE_CLASSES

OLD_PREFIXES = ("sklearn.", "numpy.", "scipy.", "modelward.training.", "builtins.")


def eval_pipeline(marker: Path) -> Pipeline:
    """full_like -> take -> eval before a DummyClassifier: predict runs `code`."""
    code = f"__import__('pathlib').Path({str(marker)!r}).touch() or [[0.0]] * 4"
    X = np.zeros((4, 1))
    return Pipeline(
        [
            (
                "fill",
                FunctionTransformer(np.full_like, kw_args={"fill_value": code, "dtype": object}),
            ),
            ("first", FunctionTransformer(np.take, kw_args={"indices": 0})),
            ("run", FunctionTransformer(builtins.eval)),
            ("model", DummyClassifier()),
        ]
    ).fit(X, [0, 1, 0, 1])


def test_the_eval_payload_ran_under_prefix_trust_and_is_now_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    model = eval_pipeline(marker)
    marker.unlink()  # fitting ran it once, as the attacker's own machine would
    data = sio.dumps(model)
    untrusted = sio.get_untrusted_types(data=data)
    # The old rule accepted this file, and predicting with it ran the attacker's code.
    assert all(name.startswith(OLD_PREFIXES) for name in untrusted)
    sio.loads(data, trusted=untrusted).predict(np.zeros((1, 1)))
    assert marker.exists()
    marker.unlink()

    with pytest.raises(InvalidInput) as refused:
        load_model(data, "skops")
    for name in ("builtins.eval", "numpy.full_like", "numpy.take", "FunctionTransformer"):
        assert name in str(refused.value)
    assert "--trust" in str(refused.value)
    assert not marker.exists()


def _method_holder() -> Any:
    return "x".join


CALLABLES: dict[str, Callable[..., Any]] = {
    "exec": builtins.exec,
    "getattr": builtins.getattr,
    "__import__": builtins.__import__,
    "numpy ufunc": np.add,
    "operator.attrgetter": operator.attrgetter("system"),
    "operator.methodcaller": operator.methodcaller("system", "true"),
    "operator.itemgetter": operator.itemgetter(0),
    "functools.partial": functools.partial(builtins.eval, "1"),
    "a bound method": _method_holder(),
}


@pytest.mark.parametrize("callable_", CALLABLES.values(), ids=CALLABLES.keys())
def test_every_kind_of_callable_is_refused(callable_: Callable[..., Any]) -> None:
    model = Pipeline([("call", FunctionTransformer(callable_)), ("model", DummyClassifier())])
    with pytest.raises(InvalidInput, match="outside modelward's allow-list"):
        load_model(sio.dumps(model), "skops")


def test_a_callable_inside_nested_pipelines_and_column_transformers_is_refused() -> None:
    inner = ColumnTransformer([("num", make_pipeline(FunctionTransformer(builtins.eval)), [0])])
    model = make_pipeline(make_pipeline(inner, StandardScaler()), LogisticRegression())
    with pytest.raises(InvalidInput, match=r"builtins\.eval"):
        load_model(sio.dumps(model), "skops")


def test_a_callable_in_a_listed_estimator_parameter_is_refused() -> None:
    model = ColumnTransformer([("scale", StandardScaler(), np.log)])
    with pytest.raises(InvalidInput, match=r"numpy\.log"):
        load_model(sio.dumps(model), "skops")


def _rewrite_schema(data: bytes, old: str, new: str) -> bytes:
    """The same skops file with one string of its schema replaced, as an attacker would."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            content = source.read(item)
            if item.filename == "schema.json":
                assert old.encode() in content
                content = content.replace(old.encode(), new.encode())
            target.writestr(item, content)
    return out.getvalue()


def _fitted_logistic() -> bytes:
    X = np.random.default_rng(0).normal(size=(20, 2))
    data: bytes = sio.dumps(LogisticRegression().fit(X, X[:, 0] > 0))
    return data


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('"sklearn.linear_model._logistic"', '"os"'),  # a listed class name, a foreign module
        ('"LogisticRegression"', '"Popen"'),  # a foreign class in a listed module
    ],
)
def test_a_forged_class_name_is_refused(old: str, new: str) -> None:
    data = _rewrite_schema(_fitted_logistic(), old, new)
    with pytest.raises(InvalidInput, match="outside modelward's allow-list"):
        load_model(data, "skops")


def test_a_forged_loader_is_refused() -> None:
    data = _rewrite_schema(_fitted_logistic(), '"ObjectNode"', '"FunctionNode"')
    with pytest.raises(InvalidInput, match="outside modelward's allow-list"):
        load_model(data, "skops")


def test_a_forged_random_generator_name_is_refused() -> None:
    X = np.random.default_rng(0).normal(size=(40, 2))
    model = HistGradientBoostingClassifier(max_iter=2)  # keeps a numpy Generator
    data = sio.dumps(model.fit(X, X[:, 0] > 0))
    with pytest.raises(InvalidInput, match=r"numpy\.random\.seed"):
        load_model(_rewrite_schema(data, '"\\"PCG64\\""', '"\\"seed\\""'), "skops")


def test_a_file_that_is_not_skops_is_refused_as_unreadable() -> None:
    with pytest.raises(InvalidInput, match="not a readable skops model"):
        load_model(b"PK\x03\x04 not really a zip", "skops")


def test_saving_refuses_what_would_not_load_back() -> None:
    model = make_pipeline(FunctionTransformer(np.log1p), DummyClassifier())
    model.fit(np.ones((4, 1)), [0, 1, 0, 1])
    with pytest.raises(InvalidInput, match=r"numpy\.log1p.*format='pickle'"):
        save_model(model)


def test_trust_loads_what_the_allow_list_refuses() -> None:
    model = make_pipeline(FunctionTransformer(np.log1p), DummyClassifier())
    model.fit(np.ones((4, 1)), [0, 1, 0, 1])
    loaded = load_model(sio.dumps(model), "skops", trust=True)
    assert list(loaded.predict(np.ones((2, 1)))) == list(model.predict(np.ones((2, 1))))


def _listed_estimators() -> list[tuple[str, type[Any]]]:
    found: list[tuple[str, type[Any]]] = []
    for package, names in PUBLIC_ESTIMATORS.items():
        module = importlib.import_module(package)
        found.extend((f"{package}.{name}", getattr(module, name)) for name in sorted(names))
    return found


def test_every_listed_name_is_a_class_and_none_calls_what_it_holds() -> None:
    for path, cls in _listed_estimators():
        assert inspect.isclass(cls) and issubclass(cls, BaseEstimator), path
    for full_name in STATE_CLASSES:
        module, _, name = full_name.rpartition(".")
        assert inspect.isclass(getattr(importlib.import_module(module), name)), full_name
    listed = {path.rpartition(".")[2] for path, _ in _listed_estimators()}
    assert not listed & {
        "FunctionTransformer",
        "TransformedTargetRegressor",
        "GridSearchCV",
        "RandomizedSearchCV",
    }
    assert not any("PyFunc" in name or "Scorer" in name for name in STATE_CLASSES)


def test_every_listed_predictor_round_trips_without_trust() -> None:
    """Whatever `mw train --model sklearn...` can fit with its defaults loads back safely."""
    rng = np.random.default_rng(0)
    X = np.abs(rng.normal(size=(60, 4)))
    labels = (X[:, 0] > np.median(X[:, 0])).astype(int)
    checked = 0
    for path, cls in _listed_estimators():
        try:
            model = cls()
            if not (is_classifier(model) or is_regressor(model)):
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.fit(X, labels if is_classifier(model) else X[:, 1])
        except (TypeError, ValueError, AttributeError):  # needs arguments or other targets
            continue
        back = load_model(skops_format.dumps(model), "skops")
        np.testing.assert_allclose(back.predict(X), model.predict(X), rtol=1e-12, err_msg=path)
        checked += 1
    assert checked >= 50


def test_the_schema_walk_is_bounded() -> None:
    schema: dict[str, Any] = {"__loader__": "ListNode", "content": []}
    node = schema
    for _ in range(300):
        child: dict[str, Any] = {"__loader__": "ListNode", "content": []}
        node["content"].append(child)
        node = child
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("schema.json", json.dumps(schema))
    with pytest.raises(InvalidInput, match="not a readable skops model"):
        load_model(out.getvalue(), "skops")
