"""The metric functions, cross-checked against scikit-learn (the independent reference)."""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from modelward.errors import InvalidInput
from modelward.evaluation import metrics as mw

PROPERTY = settings(max_examples=100, deadline=None)
AVERAGES: list[mw.Average] = ["macro", "weighted"]

# Label pools: non-contiguous ints, strings, booleans.
POOLS: dict[str, npt.NDArray[Any]] = {
    "int": np.array([-3, 0, 2, 7, 11]),
    "str": np.array(["ant", "bee", "cat", "dog", "eel"]),
    "bool": np.array([False, True]),
}

# (y_true, y_pred, the whole pool, the classes drawn from: the pool's first k)
Pair = tuple[npt.NDArray[Any], npt.NDArray[Any], npt.NDArray[Any], npt.NDArray[Any]]


@st.composite
def label_pairs(draw: st.DrawFn, max_classes: int = 5) -> Pair:
    """Labels drawn from one pool; some classes may be absent from y_true or y_pred."""
    pool = POOLS[draw(st.sampled_from(sorted(POOLS)))]
    k = draw(st.integers(1, min(max_classes, len(pool))))
    n = draw(st.integers(1, 30))
    codes = st.lists(st.integers(0, k - 1), min_size=n, max_size=n)
    return pool[draw(codes)], pool[draw(codes)], pool, pool[:k]


@st.composite
def probability_rows(draw: st.DrawFn, n: int, k: int) -> npt.NDArray[np.float64]:
    """An (n, k) matrix of probabilities on a coarse grid: ties and exact zeros are common."""
    cells = draw(st.lists(st.integers(0, 4), min_size=n * k, max_size=n * k))
    raw = np.array(cells, dtype=np.float64).reshape(n, k)
    raw[raw.sum(axis=1) == 0, 0] = 1.0
    proba: npt.NDArray[np.float64] = raw / raw.sum(axis=1, keepdims=True)
    return proba


def quiet(function: Any, *args: Any, **kwargs: Any) -> Any:
    """Call a scikit-learn function without its UndefinedMetricWarning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return function(*args, **kwargs)


# -- properties against scikit-learn -------------------------------------------------


@PROPERTY
@given(label_pairs())
def test_accuracy_and_confusion_matrix_match_sklearn(pair: Pair) -> None:
    y_true, y_pred, _, _ = pair
    assert mw.accuracy(y_true, y_pred) == pytest.approx(skm.accuracy_score(y_true, y_pred))
    matrix, labels = mw.confusion_matrix(y_true, y_pred)
    expected_labels = np.unique(np.concatenate([y_true, y_pred]))
    assert labels == expected_labels.tolist()
    np.testing.assert_array_equal(matrix, quiet(skm.confusion_matrix, y_true, y_pred))


@PROPERTY
@given(label_pairs(), st.sampled_from(AVERAGES))
def test_averaged_scores_match_sklearn(pair: Pair, average: mw.Average) -> None:
    y_true, y_pred, _, _ = pair
    expected = skm.precision_recall_fscore_support(y_true, y_pred, average=average, zero_division=0)
    got = [fn(y_true, y_pred, average=average) for fn in (mw.precision, mw.recall, mw.f1)]
    assert got == pytest.approx(expected[:3])
    assert got[2] == pytest.approx(skm.f1_score(y_true, y_pred, average=average, zero_division=0))


@PROPERTY
@given(label_pairs(), st.sampled_from(AVERAGES))
def test_scores_over_given_labels_match_sklearn(pair: Pair, average: mw.Average) -> None:
    y_true, y_pred, pool, _ = pair
    labels = pool[::-1]  # every class of the pool, some absent from the data, reversed
    expected = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average=average, zero_division=0
    )
    got = [
        fn(y_true, y_pred, average=average, labels=labels)
        for fn in (mw.precision, mw.recall, mw.f1)
    ]
    assert got == pytest.approx(expected[:3])
    matrix, order = mw.confusion_matrix(y_true, y_pred, labels=labels)
    assert order == labels.tolist()
    np.testing.assert_array_equal(matrix, skm.confusion_matrix(y_true, y_pred, labels=labels))


@PROPERTY
@given(label_pairs(max_classes=2), st.integers(0, 1))
def test_binary_scores_match_sklearn(pair: Pair, positive: int) -> None:
    y_true, y_pred, pool, _ = pair
    pos_label = pool[positive].item()  # maybe absent from the data
    expected = skm.precision_recall_fscore_support(
        y_true, y_pred, average="binary", pos_label=pos_label, zero_division=0
    )
    got = [fn(y_true, y_pred, pos_label=pos_label) for fn in (mw.precision, mw.recall, mw.f1)]
    assert got == pytest.approx(expected[:3])


@PROPERTY
@given(label_pairs(max_classes=2))
def test_binary_default_positive_is_the_largest_label(pair: Pair) -> None:
    y_true, y_pred, _, _ = pair
    largest = max(np.concatenate([y_true, y_pred]).tolist())
    expected = skm.f1_score(y_true, y_pred, pos_label=largest, zero_division=0)
    assert mw.f1(y_true, y_pred) == pytest.approx(expected)


@PROPERTY
@given(label_pairs(max_classes=2), st.data())
def test_binary_roc_auc_and_curve_match_sklearn(pair: Pair, data: st.DataObject) -> None:
    y_true, _, _, _ = pair
    n = len(y_true)
    grid = st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.75, 1.0])  # ties between classes
    scores = np.array(data.draw(st.lists(grid | st.floats(0, 1), min_size=n, max_size=n)))
    auc = mw.roc_auc(y_true, scores)
    if np.unique(y_true).size < 2:
        assert math.isnan(auc)
        assert math.isnan(quiet(skm.roc_auc_score, y_true, scores))
    else:
        assert auc == pytest.approx(skm.roc_auc_score(y_true, scores))
    pos_label = max(y_true.tolist())
    for drop in (True, False):
        got = mw.roc_curve(y_true, scores, pos_label=pos_label, drop_intermediate=drop)
        expected = quiet(skm.roc_curve, y_true, scores, pos_label=pos_label, drop_intermediate=drop)
        for ours, theirs in zip(got, expected, strict=True):
            np.testing.assert_allclose(ours, theirs, equal_nan=True)


@PROPERTY
@given(st.integers(3, 5), st.data())
def test_multiclass_roc_auc_matches_sklearn_ovr_macro(k: int, data: st.DataObject) -> None:
    pool = POOLS[data.draw(st.sampled_from(["int", "str"]))]
    extra = data.draw(st.lists(st.integers(0, k - 1), max_size=25))
    codes = data.draw(st.permutations(list(range(k)) + extra))  # every class present
    y_true = pool[codes]
    proba = data.draw(probability_rows(len(y_true), k))
    labels = pool[:k]
    expected = skm.roc_auc_score(y_true, proba, multi_class="ovr", average="macro", labels=labels)
    assert mw.roc_auc(y_true, proba, labels=labels) == pytest.approx(expected)


@PROPERTY
@given(label_pairs(), st.data())
def test_log_loss_matches_sklearn(pair: Pair, data: st.DataObject) -> None:
    y_true, _, pool, classes = pair
    labels = classes if len(classes) > 1 else pool[:2]
    proba = data.draw(probability_rows(len(y_true), len(labels)))
    expected = skm.log_loss(y_true, proba, labels=labels)
    assert mw.log_loss(y_true, proba, labels=labels) == pytest.approx(expected)
    if len(labels) == 2:
        binary = skm.log_loss(y_true, proba[:, 1], labels=labels)
        assert mw.log_loss(y_true, proba[:, 1], labels=labels) == pytest.approx(binary)


quarters = st.integers(-4000, 4000).map(lambda v: v / 4)  # exact sums: no rounding noise


@st.composite
def regression_pairs(draw: st.DrawFn) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    n = draw(st.integers(1, 30))
    values = st.lists(quarters, min_size=n, max_size=n)
    return np.array(draw(values)), np.array(draw(values))


@PROPERTY
@given(regression_pairs())
def test_regression_metrics_match_sklearn(pair: tuple[Any, Any]) -> None:
    y_true, y_pred = pair
    assert mw.mse(y_true, y_pred) == pytest.approx(skm.mean_squared_error(y_true, y_pred))
    assert mw.rmse(y_true, y_pred) == pytest.approx(skm.root_mean_squared_error(y_true, y_pred))
    assert mw.mae(y_true, y_pred) == pytest.approx(skm.mean_absolute_error(y_true, y_pred))
    expected = quiet(skm.r2_score, y_true, y_pred)
    got = mw.r2(y_true, y_pred)
    if math.isnan(expected):
        assert math.isnan(got)
    else:
        assert got == pytest.approx(expected, rel=1e-9, abs=1e-9)
    report = mw.regression_report(y_true, y_pred)
    assert report.mse == mw.mse(y_true, y_pred)
    assert report.r2 == got or (math.isnan(got) and math.isnan(report.r2))


# -- small examples computed by hand ---------------------------------------------------


def test_binary_example_by_hand() -> None:
    y_true, y_pred = [1, 0, 1, 1, 0], [1, 0, 0, 1, 1]  # TP=2, FP=1, FN=1, TN=1
    assert mw.accuracy(y_true, y_pred) == pytest.approx(3 / 5)
    assert mw.precision(y_true, y_pred) == pytest.approx(2 / 3)
    assert mw.recall(y_true, y_pred) == pytest.approx(2 / 3)
    assert mw.f1(y_true, y_pred) == pytest.approx(2 / 3)
    assert mw.precision(y_true, y_pred, pos_label=0) == pytest.approx(1 / 2)
    matrix, labels = mw.confusion_matrix(y_true, y_pred)
    assert labels == [0, 1]
    assert matrix.tolist() == [[1, 1], [1, 2]]


def test_multiclass_example_by_hand() -> None:
    y_true = ["a", "a", "b", "c"]
    y_pred = ["a", "b", "b", "b"]  # c is never predicted: its precision is 0 by rule
    # per class precision: a 1/1, b 1/3, c 0; recall: a 1/2, b 1/1, c 0/1
    assert mw.precision(y_true, y_pred, average="macro") == pytest.approx((1 + 1 / 3) / 3)
    assert mw.recall(y_true, y_pred, average="macro") == pytest.approx((1 / 2 + 1) / 3)
    assert mw.recall(y_true, y_pred, average="weighted") == pytest.approx(2 / 4)
    assert mw.f1(y_true, y_pred, average="macro") == pytest.approx((2 / 3 + 1 / 2 + 0) / 3)


def test_zero_division_gives_zero() -> None:
    assert mw.precision([1, 1, 0], [0, 0, 0]) == 0.0  # the positive class is never predicted
    assert mw.recall([0, 0], [1, 0], pos_label=1) == 0.0  # the positive class is never true
    assert mw.f1([0, 0], [0, 0], pos_label=1, labels=[0, 1]) == 0.0


def test_roc_auc_by_hand() -> None:
    assert mw.roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert mw.roc_auc([0, 1], [0.5, 0.5]) == pytest.approx(0.5)  # a tie counts one half
    assert mw.roc_auc(["no", "yes", "yes"], [0.9, 0.1, 0.2]) == 0.0
    assert mw.roc_auc(["no", "yes", "yes"], [0.9, 0.1, 0.2], pos_label="no") == 1.0
    assert math.isnan(mw.roc_auc([1, 1, 1], [0.2, 0.5, 0.9]))
    proba = np.array([[0.8, 0.2], [0.3, 0.7], [0.4, 0.6]])
    assert mw.roc_auc([0, 1, 0], proba) == mw.roc_auc([0, 1, 0], proba[:, 1]) == 1.0


def test_multiclass_roc_auc_averages_the_classes_present() -> None:
    y_true = np.array([0, 1, 0, 1, 1])
    proba = np.array([[0.5, 0.3, 0.2], [0.2, 0.5, 0.3], [0.6, 0.2, 0.2], [0.1, 0.1, 0.8]] * 1)
    proba = np.vstack([proba, [[0.3, 0.3, 0.4]]])
    present = [skm.roc_auc_score(y_true == c, proba[:, c]) for c in (0, 1)]
    got = mw.roc_auc(y_true, proba, labels=[0, 1, 2])
    assert got == pytest.approx(np.mean(present))  # class 2 never occurs: left out


def test_roc_curve_by_hand() -> None:
    fpr, tpr, thresholds = mw.roc_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    assert fpr.tolist() == [0.0, 0.0, 0.5, 0.5, 1.0]
    assert tpr.tolist() == [0.0, 0.5, 0.5, 1.0, 1.0]
    assert thresholds.tolist() == [np.inf, 0.8, 0.4, 0.35, 0.1]


def test_log_loss_by_hand() -> None:
    expected = -(math.log(0.8) + math.log(0.7)) / 2
    assert mw.log_loss([0, 1], [0.2, 0.7]) == pytest.approx(expected)
    assert mw.log_loss(["x", "y"], [[0.8, 0.2], [0.3, 0.7]]) == pytest.approx(expected)
    # column order follows labels as given
    assert mw.log_loss(["x", "y"], [[0.2, 0.8], [0.7, 0.3]], labels=["y", "x"]) == pytest.approx(
        expected
    )
    # a zero probability is clipped to float64's eps, not -inf
    assert mw.log_loss([0], [[0.0, 1.0]], labels=[0, 1]) == pytest.approx(-math.log(2.2e-16), 1e-3)


def test_regression_by_hand() -> None:
    y_true, y_pred = [1.0, 2.0, 3.0], [1.0, 2.0, 4.0]
    assert mw.mse(y_true, y_pred) == pytest.approx(1 / 3)
    assert mw.rmse(y_true, y_pred) == pytest.approx(math.sqrt(1 / 3))
    assert mw.mae(y_true, y_pred) == pytest.approx(1 / 3)
    assert mw.r2(y_true, y_pred) == pytest.approx(1 - 1 / 2)


def test_r2_of_a_constant_target() -> None:
    assert mw.r2([2, 2, 2], [2, 2, 2]) == 1.0
    assert mw.r2([2, 2, 2], [2, 2, 3]) == 0.0
    # scikit-learn's rounded mean makes this a huge negative number; ours is exact
    assert mw.r2([0.1, 0.1, 0.1], [0.2, 0.2, 0.2]) == 0.0
    assert math.isnan(mw.r2([1.0], [1.0]))


# -- reports ----------------------------------------------------------------------------


def test_binary_classification_report() -> None:
    y_true = np.array(["no", "yes", "yes", "no", "yes"])
    y_pred = np.array(["no", "yes", "no", "no", "yes"])
    proba = np.array([0.1, 0.9, 0.4, 0.3, 0.8])
    report = mw.classification_report(y_true, y_pred, proba)
    assert report.labels == ("no", "yes")
    assert report.pos_label == "yes"
    assert report.support == (2, 3)
    assert report.confusion_matrix == ((2, 0), (1, 2))
    assert report.precision == 1.0
    assert report.recall == pytest.approx(2 / 3)
    assert report.f1_macro == pytest.approx(skm.f1_score(y_true, y_pred, average="macro"))
    assert report.roc_auc == 1.0
    assert report.log_loss == pytest.approx(skm.log_loss(y_true, proba))
    values = report.to_dict()
    assert list(values) == list(mw.ClassificationMetrics.METRIC_NAMES)
    assert all(type(v) is float for v in values.values())
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.accuracy = 0.0  # type: ignore[misc]


def test_multiclass_report_headline_equals_macro_and_omits_what_is_undefined() -> None:
    y_true, y_pred = [0, 1, 2, 2], [0, 2, 2, 1]
    report = mw.classification_report(y_true, y_pred)
    assert report.pos_label is None
    assert (report.precision, report.recall, report.f1) == (
        report.precision_macro,
        report.recall_macro,
        report.f1_macro,
    )
    values = report.to_dict()
    assert "roc_auc" not in values and "log_loss" not in values
    one_class = mw.classification_report([1, 1], [1, 1], [0.4, 0.6], labels=[0, 1])
    assert one_class.roc_auc is not None and math.isnan(one_class.roc_auc)
    assert "roc_auc" not in one_class.to_dict()
    assert "log_loss" in one_class.to_dict()


def test_report_proba_columns_follow_the_model_classes() -> None:
    proba = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1]])
    with pytest.raises(ValueError, match="pass labels="):
        mw.classification_report([0, 1], [0, 1], proba)
    report = mw.classification_report([0, 1], [0, 1], proba, labels=[0, 1, 2])
    assert report.labels == (0, 1, 2)
    assert report.support == (1, 1, 0)
    assert report.log_loss == pytest.approx(-(math.log(0.7) + math.log(0.8)) / 2)


def test_regression_report() -> None:
    report = mw.regression_report([1.0, 2.0, 3.0], [1.0, 2.0, 4.0])
    assert report.to_dict() == pytest.approx(
        {"mse": 1 / 3, "rmse": 3**-0.5, "mae": 1 / 3, "r2": 0.5}
    )
    assert "r2" not in mw.regression_report([1.0], [2.0]).to_dict()


def test_classification_report_handles_many_rows_quickly() -> None:
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 4, 300_000)
    y_pred = np.where(rng.random(300_000) < 0.7, y_true, rng.integers(0, 4, 300_000))
    proba = rng.dirichlet(np.ones(4), 300_000)
    report = mw.classification_report(y_true, y_pred, proba)
    assert report.accuracy == pytest.approx(np.mean(y_true == y_pred))


# -- target type and bad input ------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["a", "b", "a"], True),
        ([True, False], True),
        ([0, 1, 1, 0], True),
        ([0.0, 1.0, np.nan, 2.0], True),
        (np.arange(1000), False),  # integers with many values: a quantity
        ([0.5, 1.0, 2.0], False),
        (np.linspace(0, 1, 50), False),
    ],
)
def test_is_classification_target(values: Any, expected: bool) -> None:
    assert mw.is_classification_target(values) is expected


def test_is_classification_target_reads_pandas_columns() -> None:
    import pandas as pd

    assert mw.is_classification_target(pd.Series(["x", "y"], dtype="category"))
    assert mw.is_classification_target(pd.Series([1, None, 2], dtype="Int64"))
    assert not mw.is_classification_target(pd.Series([1.5, None, 2.0], dtype="Float64"))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: mw.accuracy([0, 1], [0]), "differ in length"),
        (lambda: mw.f1([], [], average="macro"), "empty"),
        (lambda: mw.precision([0, 1, 2], [0, 1, 2]), "at most two classes"),
        (lambda: mw.recall([0, 1], [0, 1], pos_label=5), "not one of the labels"),
        (lambda: mw.f1([0, 1], [0, 1], average="micro"), "average="),  # type: ignore[arg-type]
        (lambda: mw.accuracy(["a", "b"], [0, 1]), "mix string and numeric"),
        (lambda: mw.accuracy([0.0, np.nan], [0.0, 1.0]), "NaN"),
        (lambda: mw.confusion_matrix([0, 3], [0, 1], labels=[0, 1]), "not in labels"),
        (lambda: mw.confusion_matrix([0, 1], [0, 1], labels=[0, 1, 1]), "duplicates"),
        (lambda: mw.mse([1.0, np.nan], [1.0, 2.0]), "NaN"),
        (lambda: mw.r2([1.0, 2.0], [1.0]), "differ in length"),
        (lambda: mw.mae(["a"], ["b"]), "numeric"),
        (lambda: mw.roc_auc([0, 1, 0], [0.1, 0.2]), "differ in length"),
        (lambda: mw.roc_auc([0, 1, 2], [0.1, 0.2, 0.3]), "binary"),
        (lambda: mw.roc_auc([0, 1, 2], np.eye(3)[:, :2]), "columns"),
        (lambda: mw.roc_curve([0, 1, 2], [0.1, 0.2, 0.3]), "binary"),
        (lambda: mw.log_loss([0, 1], [[0.5, 0.5, 0.0]] * 2), "columns"),
        (lambda: mw.log_loss([0, 1], [[0.5, 0.9], [0.5, 0.5]]), "sum to 1"),
        (lambda: mw.log_loss([0, 1], [1.5, 0.5]), r"\[0, 1\]"),
        (lambda: mw.log_loss([1, 1], [0.5, 0.5]), "labels="),
        (lambda: mw.is_classification_target([]), "empty"),
    ],
)
def test_bad_input_raises_a_one_line_value_error(call: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        call()
    assert "\n" not in str(caught.value)
    assert isinstance(caught.value, InvalidInput)  # exit 2 / HTTP 400 at the boundaries
