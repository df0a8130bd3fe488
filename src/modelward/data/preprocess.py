"""Fitted, replayable data transforms: `mw data transform N@v --spec prep.yaml --name OUT`.

    spec = parse_spec(Path("prep.yaml").read_text())   # validated up front, no data needed
    fitted, output = fit_transform(spec, frame)          # each step fitted on the previous output
    stored = fitted.to_dict()                            # plain JSON: kept with the output version
    FittedTransform.from_dict(stored).apply(new_rows)    # the same transform, never refitted

The step kinds and their semantics live in `modelward.data.steps`; the filter
language in `modelward.data.expression`. Every problem with a spec or with the
data is an InvalidInput whose message names the step ("step 2 (normalize): ...",
counting from 1), the column or value, and what to do.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

import pandas as pd
import yaml

from modelward.data.learned import FillMissing, Normalize, OneHot
from modelward.data.steps import Cast, Drop, Filter, FittedStep, Select, Step
from modelward.errors import IntegrityError, InvalidInput
from modelward.yaml_files import problem_of

__all__ = ["FittedTransform", "TransformSpec", "fit", "fit_transform", "parse_spec"]

FORMAT: Final = 1
STEP_TYPES: Final[Mapping[str, Any]] = {
    cls.kind: cls for cls in (FillMissing, Normalize, Cast, Filter, Drop, Select, OneHot)
}


@dataclass(frozen=True)
class TransformSpec:
    """The validated steps of a transform spec, in order."""

    steps: tuple[Step, ...]

    def to_dict(self) -> dict[str, Any]:
        """The canonical form: what parse_spec accepts, with every option spelled out."""
        return {"steps": [{step.kind: step.options()} for step in self.steps]}

    def digest(self) -> str:
        """sha256 of the canonical JSON: equal for specs that differ only in formatting."""
        return hashlib.sha256(_canonical_json(self.to_dict()).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class FittedTransform:
    """A spec with the parameters each step learned on the data it was fitted on.

    `input_columns` and `output_columns` are the columns seen at fit time.
    """

    spec: TransformSpec
    steps: tuple[FittedStep, ...]
    input_columns: tuple[str, ...]
    output_columns: tuple[str, ...]

    def apply(self, frame: pd.DataFrame, *, filter_rows: bool = True) -> pd.DataFrame:
        """Replay the transform on new rows with the fitted parameters.

        Columns the steps use must be present; others pass through, placed in
        fit-time order first. `filter_rows=False` skips filter steps, for callers
        such as a model server that must answer for every row they are given.
        """
        _check_frame(frame)
        known = set(self.input_columns)
        order = [c for c in self.input_columns if c in frame.columns]
        order += [c for c in frame.columns if c not in known]
        out = frame if order == list(frame.columns) else frame[order]
        for number, step in enumerate(self.steps, start=1):
            if step.kind == "filter" and not filter_rows:
                continue
            with _step_context(number, step.kind):
                out = step.apply(out)
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values (no NaN, no numpy): fit for a database JSON column."""
        return {
            "format": FORMAT,
            "spec": self.spec.to_dict(),
            "spec_digest": self.spec.digest(),
            "input_columns": list(self.input_columns),
            "output_columns": list(self.output_columns),
            "steps": [{"kind": step.kind, **step.params()} for step in self.steps],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FittedTransform:
        """Rebuild from `to_dict()` output.

        InvalidInput if it is malformed; IntegrityError if the spec no longer matches
        the digest recorded with it.
        """
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            found = data.get("format") if isinstance(data, Mapping) else type(data).__name__
            raise InvalidInput(
                f"not a stored fitted transform (format {found!r}; this version "
                f"of modelward reads format {FORMAT})"
            )
        spec = parse_spec(data.get("spec", {}))
        if "spec_digest" in data and data["spec_digest"] != spec.digest():
            raise IntegrityError("the stored fitted transform does not match its spec digest")
        raw_steps = data.get("steps")
        if not isinstance(raw_steps, list) or len(raw_steps) != len(spec.steps):
            raise InvalidInput(
                f"a stored fitted transform needs one entry per step ({len(spec.steps)}) in 'steps'"
            )
        steps: list[FittedStep] = []
        for number, (step, raw) in enumerate(zip(spec.steps, raw_steps, strict=True), start=1):
            with _step_context(number, step.kind):
                if not isinstance(raw, Mapping) or raw.get("kind") != step.kind:
                    raise InvalidInput(f"stored parameters are for {raw!r:.60}, not this step")
                steps.append(step.restore({k: v for k, v in raw.items() if k != "kind"}))
        return cls(
            spec, tuple(steps), _names(data, "input_columns"), _names(data, "output_columns")
        )


def parse_spec(source: str | Mapping[str, Any]) -> TransformSpec:
    """Validate a spec given as YAML text or as a parsed mapping; nothing is fitted yet."""
    if isinstance(source, str):
        data = _load_yaml(source)
    elif isinstance(source, Mapping):
        data = source
    else:
        raise InvalidInput(
            f"a transform spec is YAML text or a mapping, not {type(source).__name__}"
        )
    if not isinstance(data, Mapping):
        hint = " (pass the file's contents, not its path)" if isinstance(data, str) else ""
        raise InvalidInput(
            f"a transform spec must be a mapping with a 'steps' list, got {data!r:.60}{hint}"
        )
    extra = [k for k in data if k != "steps"]
    if extra:
        raise InvalidInput(f"unknown key {extra[0]!r} in the transform spec; it has only 'steps'")
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list | tuple) or not raw_steps:
        raise InvalidInput(
            "a transform spec needs a non-empty 'steps' list, e.g. steps: [{drop: [customer_id]}]"
        )
    steps: list[Step] = []
    for number, raw in enumerate(raw_steps, start=1):
        if not isinstance(raw, Mapping) or len(raw) != 1:
            raise InvalidInput(
                f"step {number}: write each step as one 'kind: options' entry, "
                f"e.g. '- drop: [customer_id]'; got {raw!r:.60}"
            )
        ((kind, options),) = raw.items()
        step_type = STEP_TYPES.get(kind) if isinstance(kind, str) else None
        if step_type is None:
            close = difflib.get_close_matches(str(kind), STEP_TYPES, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise InvalidInput(
                f"step {number}: unknown step {kind!r}{hint}; steps are: "
                f"{', '.join(sorted(STEP_TYPES))}"
            )
        with _step_context(number, kind):
            steps.append(step_type.from_options(options))
    return TransformSpec(tuple(steps))


def fit_transform(spec: TransformSpec, frame: pd.DataFrame) -> tuple[FittedTransform, pd.DataFrame]:
    """Fit each step on the previous step's output; return the fitted transform and the output."""
    _check_frame(frame)
    out = frame
    fitted: list[FittedStep] = []
    for number, step in enumerate(spec.steps, start=1):
        with _step_context(number, step.kind):
            fitted_step = step.fit(out)
            out = fitted_step.apply(out)
        fitted.append(fitted_step)
    columns = tuple(str(c) for c in frame.columns)
    return FittedTransform(spec, tuple(fitted), columns, tuple(str(c) for c in out.columns)), out


def fit(spec: TransformSpec, frame: pd.DataFrame) -> FittedTransform:
    """Fit the spec on `frame` (the output is computed along the way, then discarded)."""
    return fit_transform(spec, frame)[0]


@contextmanager
def _step_context(number: int, kind: str) -> Iterator[None]:
    """Name the step in every error raised inside; translate pandas' own errors."""
    try:
        yield
    except IntegrityError:
        raise
    except InvalidInput as exc:
        raise InvalidInput(f"step {number} ({kind}): {exc.message}") from exc
    except (TypeError, ValueError, OverflowError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidInput(f"step {number} ({kind}): {first_line}") from exc


def _check_frame(frame: Any) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise InvalidInput(f"a transform applies to a pandas DataFrame, not {type(frame).__name__}")
    if not all(isinstance(c, str) for c in frame.columns):
        raise InvalidInput(
            "column names must be text; rename them, e.g. frame.columns = frame.columns.astype(str)"
        )
    if frame.columns.has_duplicates:
        repeated = frame.columns[frame.columns.duplicated()][0]
        raise InvalidInput(f"column {repeated!r} appears more than once in the data")


def _load_yaml(text: str) -> Any:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidInput(f"the transform spec is not valid YAML: {problem_of(exc)}") from None
    if data is None:
        raise InvalidInput("the transform spec is empty; it needs a 'steps' list")
    return data


def _names(data: Mapping[str, Any], key: str) -> tuple[str, ...]:
    names = data.get(key)
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise InvalidInput(f"a stored fitted transform needs {key!r} as a list of column names")
    return tuple(names)


def _canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
