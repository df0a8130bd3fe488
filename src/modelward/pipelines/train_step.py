"""The `train:` step of a pipeline file: the candidate grid (every combination of the
lists is one candidate, numbered from 1), each checked as `mw train` checks its model
and parameters, and the metric that selects the best."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelward.errors import InvalidInput
from modelward.pipelines.candidates import Candidate
from modelward.pipelines.fields import (
    already_checked,
    canonical_digest,
    only,
    remember_checked,
    required,
    text_of,
)
from modelward.version import __version__

MAX_CANDIDATES = 256
_TRAIN_KEYS = ("target", "experiment", "candidates", "select", "seed", "test_size")
_CANDIDATE_KEYS = ("model", "optimizer", "param")


@dataclass(frozen=True)
class TrainStep:
    """Candidates trained on the same rows; the best by `select_metric` goes on."""

    target: str
    experiment: str
    candidates: tuple[Candidate, ...]
    select_metric: str
    highest_first: bool
    seed: int
    test_size: float

    def describe(self) -> dict[str, Any]:
        """The step's configuration as JSON (part of its cache key)."""
        return {
            "target": self.target,
            "experiment": self.experiment,
            "candidates": [
                {"model": c.model, "optimizer": c.optimizer, "params": dict(c.params)}
                for c in self.candidates
            ],
            "select": ("-" if self.highest_first else "") + f"metrics.{self.select_metric}",
            "seed": self.seed,
            "test_size": self.test_size,
        }


def parse_train(label: str, raw: Any, checked: Path | None) -> TrainStep:
    """The `train:` section: its candidates expanded and checked, its selection."""
    if not isinstance(raw, Mapping):
        raise InvalidInput(f"{label}: train: a mapping with 'target' and 'candidates'")
    only(label, "train", raw, _TRAIN_KEYS)
    target = text_of(label, "train.target", required(label, "train", raw, "target"))
    experiment = text_of(label, "train.experiment", raw.get("experiment", "default"))
    seed = raw.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise InvalidInput(f"{label}: train.seed: a whole number from 0 to 2**32-1, got {seed!r}")
    test_size = raw.get("test_size", 0.2)
    if isinstance(test_size, bool) or not isinstance(test_size, int | float):
        raise InvalidInput(f"{label}: train.test_size: a number between 0 and 1")
    if not 0.0 < float(test_size) < 1.0:
        raise InvalidInput(f"{label}: train.test_size: between 0 and 1, got {test_size}")
    entries = required(label, "train", raw, "candidates")
    if not isinstance(entries, list) or not entries:
        raise InvalidInput(
            f"{label}: train.candidates: a non-empty list such as "
            "[{model: logistic, optimizer: [adam, sgd]}]"
        )
    placed: list[tuple[str, Candidate]] = []
    for position, entry in enumerate(entries, start=1):
        placed.extend(_expand(label, f"train.candidates[{position}]", entry, len(placed)))
        if len(placed) > MAX_CANDIDATES:
            raise InvalidInput(
                f"{label}: train.candidates: the grid has more than {MAX_CANDIDATES} "
                "combinations; narrow the lists"
            )
    _check_candidates(label, placed, checked)
    candidates = [candidate for _, candidate in placed]
    metric, highest = _select(label, raw.get("select", "-metrics.f1"))
    return TrainStep(
        target=target,
        experiment=experiment,
        candidates=tuple(candidates),
        select_metric=metric,
        highest_first=highest,
        seed=seed,
        test_size=float(test_size),
    )


def _expand(label: str, where: str, raw: Any, before: int) -> list[tuple[str, Candidate]]:
    """Every combination of one candidate entry's lists (with where it was written)."""
    if not isinstance(raw, Mapping):
        raise InvalidInput(f"{label}: {where}: write {{model: NAME, param: {{...}}}}")
    only(label, where, raw, _CANDIDATE_KEYS)
    model = text_of(label, f"{where}.model", required(label, where, raw, "model"))
    optimizers = _choices(label, f"{where}.optimizer", raw.get("optimizer"))
    params = raw.get("param") or {}
    if not isinstance(params, Mapping):
        raise InvalidInput(f"{label}: {where}.param: a mapping of NAME: value or [values]")
    names = [str(key) for key in params]
    for key in names:
        if not key.isidentifier():
            raise InvalidInput(f"{label}: {where}.param: {key!r} is not a parameter name")
    lists = [_choices(label, f"{where}.param.{key}", params[key]) for key in names]
    made: list[tuple[str, Candidate]] = []
    for optimizer in optimizers:
        if optimizer is not None and not isinstance(optimizer, str):
            raise InvalidInput(f"{label}: {where}.optimizer: a name such as adam")
        for values in itertools.product(*lists):
            chosen = dict(zip(names, values, strict=True))
            made.append((where, Candidate(before + len(made) + 1, model, optimizer, chosen)))
    return made


def _check_candidates(label: str, placed: list[tuple[str, Candidate]], cache: Path | None) -> None:
    """Each candidate checked as `mw train` checks its model and parameters (which imports
    scikit-learn: seconds). A grid that passed before, with the same modelward and
    scikit-learn, is remembered in `cache` and not checked again: an unchanged rerun
    stays fast."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        sklearn_version = version("scikit-learn")
    except PackageNotFoundError:
        sklearn_version = None
    grid = [[c.model, c.optimizer, dict(c.params)] for _, c in placed]
    key = canonical_digest({"grid": grid, "modelward": __version__, "sklearn": sklearn_version})
    if already_checked(cache, key):
        return
    from modelward.training.estimators import build_estimator

    for where, candidate in placed:
        try:
            build_estimator(candidate.model, dict(candidate.params), candidate.optimizer)
        except InvalidInput as exc:
            raise InvalidInput(f"{label}: {where}: {exc.message}") from None
    remember_checked(cache, key)


def _choices(label: str, where: str, raw: Any) -> list[Any]:
    """A scalar or a non-empty list of scalars, as the list of values to try."""
    values = raw if isinstance(raw, list) else [raw]
    if not values:
        raise InvalidInput(f"{label}: {where}: an empty list leaves nothing to try")
    for value in values:
        if isinstance(value, Mapping | list):
            raise InvalidInput(f"{label}: {where}: values are scalars (numbers, words, true)")
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidInput(f"{label}: {where}: {value} is not a finite number")
    return values


def _select(label: str, raw: Any) -> tuple[str, bool]:
    text = text_of(label, "train.select", raw).strip()
    highest = text.startswith("-")
    metric = text.lstrip("-+").strip()
    metric = metric.removeprefix("metrics.")
    if not metric or not all(part.isidentifier() for part in metric.split(".")):
        raise InvalidInput(
            f"{label}: train.select: write the metric to rank by, '-metrics.f1' for the "
            f"highest f1 or 'metrics.rmse' for the lowest; got {text!r}"
        )
    return metric, highest
