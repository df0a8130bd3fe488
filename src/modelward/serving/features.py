"""A model's fitted transform compiled once into NumPy: request columns -> feature matrix.

The transform path of `predicting.py` builds a pandas DataFrame per request and
replays each step on it: about a millisecond for one row. `FeaturePlan.compile`
reads the fitted steps once per model version and turns them into a few array
operations on one float matrix (the number columns) plus dictionary lookups for
the one_hot columns, with the answers of the pandas path: the same features, the
same error for a missing or infinite value, the same unseen-category warnings
(`tests/serving/test_features.py` compares the two on many rows).

Steps it compiles: fill_missing (any strategy, on columns of a kind the fill value
fits), normalize, one_hot, drop, select, cast to float64 of a number column, and
filter (skipped when serving, as the pandas path does). Anything else, or a shape
the pandas path would refuse, returns None from `compile`: such a model is served
through pandas, unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from modelward.serving.categories import MAX_ROWS_NAMED, MAX_WARNINGS, UnseenCategory

if TYPE_CHECKING:
    from modelward.data.preprocess import FittedTransform

NUMBER_KINDS = ("number", "integer")


@dataclass(frozen=True)
class _OneHot:
    """One one_hot column: where each category's 0/1 feature goes (-1: dropped later)."""

    column: str  # the input column, as sent
    source: tuple[str, int]  # ("num", index into the number matrix) or ("obj", index)
    position: dict[Any, int]  # category -> its index in `known`
    known: tuple[Any, ...]
    targets: np.ndarray  # category index -> feature index, or -1
    all_kept: bool  # every category's feature reaches the model


@dataclass(frozen=True)
class Unseen:
    """Unseen categories of one request, as `categories.unseen_categories` gives them."""

    warnings: list[UnseenCategory]
    rows: dict[str, int]


class FeaturePlan:
    """The fitted transform of one model version as array operations (see the module doc)."""

    def __init__(
        self,
        numbers: Sequence[str],
        integers: Sequence[int],
        objects: Sequence[str],
        operations: list[tuple[Any, ...]],
        number_targets: Sequence[tuple[int, int]],
        one_hots: list[_OneHot],
        feature_names: Sequence[str],
    ) -> None:
        self.numbers = tuple(numbers)  # input columns read into the float matrix
        self.integers = np.asarray(integers, dtype=np.intp)  # of those, integer kind
        self.objects = tuple(objects)  # input columns kept as Python values
        self.operations = operations
        self.width = len(feature_names)
        self.feature_names = tuple(feature_names)
        self._from = np.asarray([s for s, _ in number_targets], dtype=np.intp)
        self._to = np.asarray([t for _, t in number_targets], dtype=np.intp)
        self.one_hots = one_hots
        # The same operations with Python numbers, for one row (`_one_row`).
        self._integer_set = frozenset(int(i) for i in integers)
        self._pairs = tuple((int(s), int(t)) for s, t in number_targets)
        self._scalar_operations = [_scalar(operation) for operation in operations]

    @classmethod
    def compile(
        cls,
        transform: FittedTransform,
        inputs: Sequence[dict[str, str]],
        feature_names: Sequence[str],
    ) -> FeaturePlan | None:
        """The plan for `transform`, or None when only the pandas path can replay it."""
        try:
            return _Compiler(inputs).run(transform, feature_names)
        except _NotCompiled:
            return None

    def matrix(self, table: dict[str, list[Any]]) -> tuple[np.ndarray, np.ndarray, Unseen]:
        """(features, the raw number matrix, unseen categories) for checked request columns.

        The raw number matrix (number inputs in signature order, before any step) is
        for the caller's check of infinite values, made as the pandas path makes it.
        """
        n = len(table[self.numbers[0] if self.numbers else self.objects[0]])
        if n == 1:
            return self._one_row(table)
        raw = (
            np.array([table[name] for name in self.numbers], dtype=np.float64)
            .reshape(len(self.numbers), n)
            .T
        )
        x = raw.copy()
        if len(self.integers):
            # The pandas path reads an integer column without missing values as int64.
            part = x[:, self.integers]
            whole = ~np.isnan(part).any(axis=0)
            if whole.any():
                columns = self.integers[whole]
                x[:, columns] = np.trunc(x[:, columns])
        objects = [table[name] for name in self.objects]
        out = np.zeros((n, self.width), dtype=np.float64)
        codes: list[np.ndarray] = []
        with np.errstate(over="ignore", invalid="ignore"):
            for operation in self.operations:
                kind = operation[0]
                if kind == "fill":
                    _, at, values = operation
                    part = x[:, at]
                    x[:, at] = np.where(np.isnan(part), values, part)
                elif kind == "scale":
                    _, at, shift, scale = operation
                    x[:, at] = (x[:, at] - shift) / scale
                elif kind == "flat":
                    _, at = operation
                    x[:, at] = np.where(np.isnan(x[:, at]), np.nan, 0.0)
                elif kind == "fill_object":
                    _, k, value = operation
                    objects[k] = [value if _missing(v) else v for v in objects[k]]
                else:  # one_hot
                    codes.append(self._encode(operation[1], x, objects, out))
        if len(self._from):
            out[:, self._to] = x[:, self._from]
        return out, raw, self._unseen(table, codes)

    def _one_row(self, table: dict[str, list[Any]]) -> tuple[np.ndarray, np.ndarray, Unseen]:
        # A request of one row, the usual case: some forty NumPy calls on arrays of a
        # few values cost several times the arithmetic, so the row goes through the
        # same operations as Python floats (IEEE doubles, as NumPy's float64: the same
        # results, `tests/serving/test_features.py`), and becomes one array at the end.
        raw = [_NAN if (v := table[name][0]) is None else float(v) for name in self.numbers]
        x = list(raw)
        for i in self._integer_set:  # the pandas path reads a whole integer column as int64
            v = x[i]
            if v == v and v not in _INFINITE:
                x[i] = math.copysign(float(math.trunc(v)), v)  # np.trunc keeps the sign of 0
        objects = [table[name][0] for name in self.objects]
        out = [0.0] * self.width
        codes: list[int] = []
        for operation in self._scalar_operations:
            kind = operation[0]
            if kind == "fill":
                for i, value in operation[1]:
                    if x[i] != x[i]:
                        x[i] = value
            elif kind == "scale":
                for i, shift, scale in operation[1]:
                    x[i] = (x[i] - shift) / scale
            elif kind == "flat":
                for i in operation[1]:
                    x[i] = _NAN if x[i] != x[i] else 0.0
            elif kind == "fill_object":
                _, k, value = operation
                if _missing(objects[k]):
                    objects[k] = value
            else:  # one_hot
                hot: _OneHot = operation[1]
                kind_of, index = hot.source
                code = hot.position.get(x[index] if kind_of == "num" else objects[index], -1)
                if code >= 0:
                    target = int(hot.targets[code])
                    if target >= 0:
                        out[target] = 1.0
                codes.append(code)
        for source, target in self._pairs:
            out[target] = x[source]
        features = np.array([out], dtype=np.float64)
        numbers = np.array([raw], dtype=np.float64).reshape(1, len(self.numbers))
        return features, numbers, self._unseen_one(table, codes)

    def _unseen_one(self, table: dict[str, list[Any]], codes: list[int]) -> Unseen:
        warnings: list[UnseenCategory] = []
        counts: dict[str, int] = {}
        for hot, code in zip(self.one_hots, codes, strict=True):
            values = table.get(hot.column)
            if values is None:
                continue
            value = values[0]
            unset = code < 0 if hot.all_kept else value not in hot.position
            if not unset or _missing(value):
                continue
            counts[hot.column] = 1
            if len(warnings) < MAX_WARNINGS:
                shown = self._shown_value(hot, values, value)
                warnings.append(UnseenCategory(hot.column, shown, (0,), 1, hot.known))
        return Unseen(warnings, counts)

    def _encode(
        self, hot: _OneHot, x: np.ndarray, objects: list[list[Any]], out: np.ndarray
    ) -> np.ndarray:
        kind, index = hot.source
        values = x[:, index].tolist() if kind == "num" else objects[index]
        position = hot.position
        code = np.fromiter((position.get(v, -1) for v in values), dtype=np.intp, count=len(values))
        target = np.where(code >= 0, hot.targets[code], -1)
        rows = np.flatnonzero(target >= 0)
        out[rows, target[rows]] = 1.0
        return code

    def _unseen(self, table: dict[str, list[Any]], codes: list[np.ndarray]) -> Unseen:
        warnings: list[UnseenCategory] = []
        counts: dict[str, int] = {}
        for hot, code in zip(self.one_hots, codes, strict=True):
            values = table.get(hot.column)
            if values is None:
                continue
            if hot.all_kept:
                unset = code < 0
            else:  # a later step dropped some of its features: compare with the categories
                unset = np.fromiter(
                    (v not in hot.position for v in values), dtype=bool, count=len(values)
                )
            sent = np.fromiter((not _missing(v) for v in values), dtype=bool, count=len(values))
            rows = np.flatnonzero(unset & sent)
            if not len(rows):
                continue
            counts[hot.column] = len(rows)
            groups: dict[Any, list[int]] = {}
            for row in rows.tolist():
                groups.setdefault(self._shown_value(hot, values, values[row]), []).append(row)
            for value, these in list(groups.items())[: MAX_WARNINGS - len(warnings)]:
                warnings.append(
                    UnseenCategory(
                        field=hot.column,
                        value=value,
                        rows=tuple(these[:MAX_ROWS_NAMED]),
                        count=len(these),
                        known=hot.known,
                    )
                )
        return Unseen(warnings, counts)

    def _shown_value(self, hot: _OneHot, values: list[Any], value: Any) -> Any:
        # As the pandas path reports it: a number column's value as its frame holds it.
        if hot.source[0] != "num":
            return value
        index = hot.source[1]
        if index in self.integers and not any(_missing(v) for v in values):
            return int(value)
        return float(value)


class _NotCompiled(Exception):
    """The transform has a step or shape only the pandas path replays."""


class _Compiler:
    """Follows the columns through the fitted steps, recording array operations."""

    def __init__(self, inputs: Sequence[dict[str, str]]) -> None:
        self.numbers: list[str] = []
        self.integers: list[int] = []
        self.objects: list[str] = []
        self.object_kinds: list[str] = []
        # column name -> ("num", i) | ("obj", k) | ("dummy", one_hot index, category index)
        self.state: dict[str, tuple[Any, ...]] = {}
        for column in inputs:
            name, kind = column["name"], column.get("kind", "number")
            if kind in NUMBER_KINDS:
                if kind == "integer":
                    self.integers.append(len(self.numbers))
                self.state[name] = ("num", len(self.numbers))
                self.numbers.append(name)
            elif kind in ("string", "boolean"):
                self.state[name] = ("obj", len(self.objects))
                self.objects.append(name)
                self.object_kinds.append(kind)
            else:
                raise _NotCompiled
        self.operations: list[tuple[Any, ...]] = []
        self.one_hots: list[tuple[str, tuple[str, int], tuple[Any, ...], int]] = []

    def run(self, transform: FittedTransform, feature_names: Sequence[str]) -> FeaturePlan:
        for step in transform.steps:
            handler = getattr(self, f"_{step.kind}", None)
            if handler is None:
                raise _NotCompiled
            handler(step)
        number_targets: list[tuple[int, int]] = []
        dummy_targets: dict[tuple[int, int], int] = {}
        for target, name in enumerate(feature_names):
            source = self.state.get(name)
            if source is None or source[0] == "obj":
                raise _NotCompiled  # the pandas path raises, or the model takes text
            if source[0] == "num":
                number_targets.append((source[1], target))
            else:
                dummy_targets[(source[1], source[2])] = target
        one_hots = []
        for number, (column, source, known, _) in enumerate(self.one_hots):
            targets = np.asarray(
                [dummy_targets.get((number, c), -1) for c in range(len(known))], dtype=np.intp
            )
            one_hots.append(
                _OneHot(
                    column=column,
                    source=source,
                    position={value: c for c, value in enumerate(known)},
                    known=known,
                    targets=targets,
                    all_kept=bool((targets >= 0).all()),
                )
            )
        # The one_hot operations carry their _OneHot, now that its targets are known.
        operations = [
            ("one_hot", one_hots[op[1]]) if op[0] == "one_hot" else op for op in self.operations
        ]
        return FeaturePlan(
            self.numbers,
            self.integers,
            self.objects,
            operations,
            number_targets,
            one_hots,
            feature_names,
        )

    def _number(self, column: str) -> int:
        source = self.state.get(column)
        if source is None or source[0] != "num":
            raise _NotCompiled
        return int(source[1])

    def _fill_missing(self, step: Any) -> None:
        numbers: list[tuple[int, float]] = []
        for column, value in step.values.items():
            source = self.state.get(column)
            if source is None or source[0] == "dummy":
                raise _NotCompiled
            if source[0] == "num":
                if step.step.strategy not in ("mean", "median") and (
                    isinstance(value, bool) or not isinstance(value, int | float)
                ):
                    raise _NotCompiled  # the pandas path refuses (or casts) this fill
                numbers.append((source[1], float(value)))
            else:
                if step.step.strategy in ("mean", "median"):
                    raise _NotCompiled  # pandas would try to read the text as numbers
                kind = self.object_kinds[source[1]]
                if (kind == "boolean") != isinstance(value, bool) or (
                    kind == "string" and not isinstance(value, str)
                ):
                    raise _NotCompiled
                self.operations.append(("fill_object", source[1], value))
        if numbers:
            at = np.asarray([i for i, _ in numbers], dtype=np.intp)
            self.operations.append(("fill", at, np.asarray([v for _, v in numbers])))

    def _normalize(self, step: Any) -> None:
        scaled: list[tuple[int, float, float]] = []
        flat: list[int] = []
        for column, stat in step.stats.items():
            index = self._number(column)
            if step.step.method == "zscore":
                scaled.append((index, stat["mean"], stat["std"] if stat["std"] > 0 else 1.0))
            elif stat["max"] > stat["min"]:
                scaled.append((index, stat["min"], stat["max"] - stat["min"]))
            else:
                flat.append(index)
        if scaled:
            at = np.asarray([i for i, _, _ in scaled], dtype=np.intp)
            shift = np.asarray([s for _, s, _ in scaled])
            scale = np.asarray([d for _, _, d in scaled])
            self.operations.append(("scale", at, shift, scale))
        if flat:
            self.operations.append(("flat", np.asarray(flat, dtype=np.intp)))

    def _one_hot(self, step: Any) -> None:
        kept = set(self.state) - set(step.step.columns)
        names: set[str] = set()
        added: dict[str, tuple[Any, ...]] = {}
        for column, values in step.categories.items():
            source = self.state.get(column)
            if source is None or source[0] == "dummy":
                raise _NotCompiled
            if source[0] == "obj" and any(
                isinstance(v, bool) != (self.object_kinds[source[1]] == "boolean") for v in values
            ):
                raise _NotCompiled  # categories of another kind than the column's values
            if len(set(values)) != len(values):
                raise _NotCompiled  # e.g. 1 and True: one dictionary key for two categories
            number = len(self.one_hots)
            self.one_hots.append((column, (source[0], source[1]), tuple(values), number))
            self.operations.append(("one_hot", number))
            for position, value in enumerate(values):
                name = f"{column}_{value}"
                if name in kept or name in names:
                    raise _NotCompiled  # the pandas path refuses the collision
                names.add(name)
                added[name] = ("dummy", number, position)
        for column in step.step.columns:
            del self.state[column]
        self.state.update(added)

    def _drop(self, step: Any) -> None:
        for column in step.columns:
            self.state.pop(column, None)

    def _select(self, step: Any) -> None:
        if any(column not in self.state for column in step.columns):
            raise _NotCompiled
        self.state = {column: self.state[column] for column in step.columns}

    def _cast(self, step: Any) -> None:
        for column, dtype in step.columns:
            if dtype != "float64":
                raise _NotCompiled
            self._number(column)

    def _filter(self, step: Any) -> None:
        return None  # a server answers for every row it is given


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


_NAN = float("nan")
_INFINITE = (float("inf"), float("-inf"))


def _scalar(operation: tuple[Any, ...]) -> tuple[Any, ...]:
    """An array operation of the plan with Python numbers, for `_one_row`."""
    kind = operation[0]
    if kind == "fill":
        _, at, values = operation
        return (kind, tuple(zip(at.tolist(), values.tolist(), strict=True)))
    if kind == "scale":
        _, at, shift, scale = operation
        return (kind, tuple(zip(at.tolist(), shift.tolist(), scale.tolist(), strict=True)))
    if kind == "flat":
        return (kind, tuple(operation[1].tolist()))
    return operation  # fill_object and one_hot work on Python values already
