"""The pipeline file (`mw pipeline run pipeline.yaml`): its format and its validation.

    name: churn
    data: {add: people.csv, name: people}       # or {use: people@latest}
                                                # or {import_sql: {url, query}, name: people}
                                                # or {feedback: churn-clf, window: 7d}
    holdout: 0.2                                # rows kept out of training for the gate (0: none)
    transform: {spec: prep.yaml, name: people-prep}
    train:
      target: churned
      experiment: churn
      candidates:                               # every combination of the lists is one run
        - {model: logistic, optimizer: [adam, sgd], param: {l2: [0.0, 0.01]}}
        - {model: sklearn.ensemble.RandomForestClassifier, param: {n_estimators: [100, 300]}}
      select: -metrics.f1                       # the best candidate goes on ('-': highest)
    register: churn-clf
    promote: {alias: production, require: "f1 >= production.f1 + 0.01"}

Everything is checked before any work starts: unknown keys, files, names,
models and their parameters, the gate, and the order of the steps (a step
needs the one it reads from). Each error is an InvalidInput whose one line
names the file and the key, e.g. `pipeline.yaml: train.candidates[2]: ...`.
Relative paths are relative to the pipeline file's folder.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from modelward.errors import InvalidInput
from modelward.pipelines.fields import (
    already_checked,
    canonical_digest,
    dataset_of,
    load_yaml,
    name_of,
    only,
    remember_checked,
    required,
    text_of,
)
from modelward.pipelines.train_step import TrainStep, parse_train
from modelward.version import __version__

MAX_FILE_BYTES = 1 << 20
DEFAULT_HOLDOUT = 0.2
DataKind = Literal["add", "use", "import_sql", "feedback"]

_TOP_KEYS = ("name", "data", "holdout", "transform", "train", "register", "promote")


@dataclass(frozen=True)
class DataStep:
    """Where the rows come from; one of the four kinds, with what that kind needs."""

    kind: DataKind
    name: str  # the dataset the rows are recorded as
    path: Path | None = None  # add
    ref: str | None = None  # use
    url: str | None = None  # import_sql
    query: str | None = None  # import_sql
    model: str | None = None  # feedback: the served model whose log is read
    window_seconds: float | None = None  # feedback: how far back

    def describe(self) -> dict[str, Any]:
        """What the step reads, as JSON (the source of the cache key's config)."""
        described: dict[str, Any] = {"kind": self.kind, "name": self.name}
        if self.kind == "add":
            described["path"] = str(self.path)
        elif self.kind == "use":
            described["ref"] = self.ref
        elif self.kind == "import_sql":
            described["query"] = self.query
        else:
            described.update(model=self.model, window_seconds=self.window_seconds)
        return described


@dataclass(frozen=True)
class TransformStep:
    """A transform spec fitted on the data step's rows (the part not held out)."""

    spec_path: Path
    spec_digest: str  # sha256 of the spec file's bytes
    name: str


@dataclass(frozen=True)
class PromoteStep:
    """Move an alias to the registered version, if the gate holds."""

    alias: str
    require: str | None


@dataclass(frozen=True)
class PipelineSpec:
    """A validated pipeline file."""

    name: str
    path: Path
    digest: str  # sha256 of the file's bytes
    data: DataStep
    holdout: float  # 0: no hold-out rows
    transform: TransformStep | None
    train: TrainStep | None
    register: str | None
    promote: PromoteStep | None

    @property
    def steps(self) -> tuple[str, ...]:
        """The steps this pipeline has, in the order they run."""
        present = {
            "data": True,
            "holdout": self.holdout > 0,
            "transform": self.transform is not None,
            "train": self.train is not None,
            "register": self.register is not None,
            "promote": self.promote is not None,
        }
        return tuple(step for step, there in present.items() if there)


def load_pipeline(path: str | Path, *, checked: Path | None = None) -> PipelineSpec:
    """Read and validate a pipeline file; InvalidInput names the file and the key.

    `checked`: a cache file of candidate grids already checked (see `_check_candidates`).
    """
    path = Path(path)
    label = path.name
    if not path.is_file():
        raise InvalidInput(f"no such pipeline file: {path}")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise InvalidInput(f"{label}: {len(raw):,} bytes is too big for a pipeline file (1 MiB)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"{label}: not UTF-8 text") from None
    data = load_yaml(text, label)
    if not isinstance(data, Mapping):
        raise InvalidInput(f"{label}: a pipeline is a mapping with 'name' and 'data' keys")
    return _parse(data, path.absolute(), hashlib.sha256(raw).hexdigest(), checked)


def _parse(data: Mapping[str, Any], path: Path, digest: str, checked: Path | None) -> PipelineSpec:
    label = path.name
    only(label, "", data, _TOP_KEYS)
    name = name_of(label, "name", required(label, "", data, "name"), "pipeline name")
    train = parse_train(label, data["train"], checked) if "train" in data else None
    holdout = _holdout(label, data.get("holdout", DEFAULT_HOLDOUT if train else 0.0))
    transform = (
        _transform(label, path.parent, data["transform"], checked) if "transform" in data else None
    )
    register = data.get("register")
    if register is not None:
        register = name_of(label, "register", register, "model name")
    promote = None
    if "promote" in data:
        promote = _promote(label, data["promote"])
    data_step = _data(label, path.parent, required(label, "", data, "data"), train, name)
    # A step needs the step it reads from.
    if holdout and train is None:
        raise InvalidInput(f"{label}: 'holdout' keeps rows for the gate: it needs a 'train' step")
    if register is not None and train is None:
        raise InvalidInput(f"{label}: 'register' registers the best candidate: add a 'train' step")
    if promote is not None and register is None:
        raise InvalidInput(
            f"{label}: 'promote' moves an alias of the registered model: add 'register: MODEL'"
        )
    produced = {data_step.name} | ({transform.name} if transform else set())
    if holdout:
        produced |= {f"{name}-fit", f"{name}-holdout"}
    if data_step.kind == "use" and dataset_of(data_step.ref or "") in produced - {data_step.name}:
        raise InvalidInput(
            f"{label}: data: {data_step.ref!r} is a dataset this pipeline produces: a cycle"
        )
    if transform is not None and transform.name == data_step.name:
        raise InvalidInput(
            f"{label}: transform: its output {transform.name!r} is the data step's dataset: a "
            "cycle (each run would transform its own output); give it another name"
        )
    return PipelineSpec(
        name=name,
        path=path,
        digest=digest,
        data=data_step,
        holdout=holdout,
        transform=transform,
        train=train,
        register=register,
        promote=promote,
    )


def _data(label: str, folder: Path, raw: Any, train: TrainStep | None, pipeline: str) -> DataStep:
    from modelward.monitoring.durations import parse_duration
    from modelward.refs import Ref

    where = "data"
    if not isinstance(raw, Mapping):
        raise InvalidInput(
            f"{label}: data: write one of {{add: FILE, name: N}}, {{use: N@V}}, "
            "{import_sql: {url, query}, name: N}, {feedback: MODEL, window: 7d}"
        )
    kinds = [kind for kind in ("add", "use", "import_sql", "feedback") if kind in raw]
    if len(kinds) != 1:
        raise InvalidInput(
            f"{label}: data: give exactly one of add, use, import_sql, feedback"
            + (f" (got {', '.join(kinds)})" if kinds else "")
        )
    kind = kinds[0]
    if kind == "add":
        only(label, where, raw, ("add", "name"))
        file = text_of(label, "data.add", raw["add"])
        found = (folder / file).absolute()
        if not found.is_file():
            raise InvalidInput(f"{label}: data.add: no such file: {found}")
        name = name_of(label, "data.name", required(label, where, raw, "name"), "dataset name")
        return DataStep("add", name, path=found)
    if kind == "use":
        only(label, where, raw, ("use",))
        ref = text_of(label, "data.use", raw["use"])
        try:
            parsed = Ref.parse(ref)
        except InvalidInput as exc:
            raise InvalidInput(f"{label}: data.use: {exc.message}") from None
        return DataStep("use", parsed.name, ref=ref)
    if kind == "import_sql":
        only(label, where, raw, ("import_sql", "name"))
        source = raw["import_sql"]
        if not isinstance(source, Mapping):
            raise InvalidInput(f"{label}: data.import_sql: write {{url: URL, query: SELECT ...}}")
        only(label, "data.import_sql", source, ("url", "query"))
        url = text_of(
            label, "data.import_sql.url", required(label, "data.import_sql", source, "url")
        )
        query = text_of(
            label, "data.import_sql.query", required(label, "data.import_sql", source, "query")
        )
        import sqlalchemy as sa

        try:
            sa.engine.make_url(url)
        except sa.exc.ArgumentError:
            raise InvalidInput(f"{label}: data.import_sql.url: not a database URL") from None
        name = name_of(label, "data.name", raw.get("name", pipeline), "dataset name")
        return DataStep("import_sql", name, url=url, query=query)
    only(label, where, raw, ("feedback", "window", "name"))
    model = name_of(label, "data.feedback", raw["feedback"], "model name")
    try:
        window = parse_duration(required(label, where, raw, "window"))
    except InvalidInput as exc:
        raise InvalidInput(f"{label}: data.window: {exc.message}") from None
    if not 0 < window < math.inf:
        raise InvalidInput(f"{label}: data.window: a positive duration such as 7d")
    if train is None:
        raise InvalidInput(
            f"{label}: data.feedback: the labels go into the train step's target "
            "column: add a 'train' step"
        )
    name = name_of(label, "data.name", raw.get("name", f"{model}-feedback"), "dataset name")
    return DataStep("feedback", name, model=model, window_seconds=window)


def _transform(label: str, folder: Path, raw: Any, checked: Path | None) -> TransformStep:
    if not isinstance(raw, Mapping):
        raise InvalidInput(f"{label}: transform: write {{spec: prep.yaml, name: OUT}}")
    only(label, "transform", raw, ("spec", "name"))
    file = folder / text_of(label, "transform.spec", required(label, "transform", raw, "spec"))
    if not file.is_file():
        raise InvalidInput(f"{label}: transform.spec: no such file: {file.absolute()}")
    try:
        content = file.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"{label}: transform.spec: cannot read {file}: {exc}") from None
    digest = hashlib.sha256(content).hexdigest()
    # parsing a spec imports pandas: a spec that parsed before is not parsed again
    key = canonical_digest({"spec": digest, "modelward": __version__})
    if not already_checked(checked, key):
        from modelward.data.preprocess import parse_spec

        try:
            parse_spec(content.decode("utf-8"))
        except UnicodeDecodeError:
            raise InvalidInput(f"{label}: transform.spec {file.name}: not UTF-8 text") from None
        except InvalidInput as exc:
            raise InvalidInput(f"{label}: transform.spec {file.name}: {exc.message}") from None
        remember_checked(checked, key)
    name = name_of(
        label, "transform.name", required(label, "transform", raw, "name"), "dataset name"
    )
    return TransformStep(spec_path=file.absolute(), spec_digest=digest, name=name)


def _holdout(label: str, raw: Any) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not 0 <= raw < 1:
        raise InvalidInput(
            f"{label}: holdout: the share of rows kept out of training "
            f"for the gate, from 0 (none) to below 1, got {raw!r}"
        )
    return float(raw)


def _promote(label: str, raw: Any) -> PromoteStep:
    from modelward.registry.gates import parse_gate

    if not isinstance(raw, Mapping):
        raise InvalidInput(f"{label}: promote: write {{alias: production, require: GATE}}")
    only(label, "promote", raw, ("alias", "require"))
    alias = name_of(label, "promote.alias", required(label, "promote", raw, "alias"), "alias")
    require = raw.get("require")
    if require is not None:
        require = text_of(label, "promote.require", require)
        try:
            parse_gate(require)
        except InvalidInput as exc:
            raise InvalidInput(f"{label}: promote.require: {exc.message}") from None
    return PromoteStep(alias, require)
