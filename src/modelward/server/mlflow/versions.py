"""MLflow's model versions over modelward's registry: create from a run, get, search.

A version's source must be a run of this store: `runs:/<run id>/<path>`, or the run's
own artifact location `mlflow-artifacts:/<experiment id>/<run id>/artifacts/<path>`.
Any other source (`file://`, `http(s)://`, `s3://`, `models:/`, an absolute path) is
refused: the server never fetches what a client names. A run's modelward model
(`model/model.json`) registers as a modelward version (loadable by `mw serve`); any
other folder (an MLflow model with its `MLmodel`) registers as format `mlflow`, whose
digest is a manifest of the folder's files (each addressed by its own sha256). A
version's source is answered in its canonical form, `runs:/<run id>/<path>`.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from typing import Any

from modelward.errors import InvalidInput, NotFound
from modelward.identity import current_user
from modelward.refs import Ref, validate_name
from modelward.registry.entities import ModelVersion, NewModelVersion, RegisteredModel
from modelward.registry.service import ModelRegistry
from modelward.registry.signature import build_signature
from modelward.server.mlflow import convert, filters
from modelward.server.mlflow.artifacts import run_location, safe_path
from modelward.server.mlflow.calls import Call
from modelward.server.mlflow.fields import Fields, max_results, page_offset, page_token
from modelward.server.mlflow.tracking import find_run, repository
from modelward.store.workspace import Workspace
from modelward.tracking.entities import Run
from modelward.tracking.run_model import METADATA, MODEL_DIR

MLFLOW_FORMAT = "mlflow"
MAX_VERSIONS_PER_PAGE = 200_000
_MLMODEL = "MLmodel"
_MAX_MLMODEL_BYTES = 1 << 20
# MLflow's column types as the dtypes modelward's signatures name
_DTYPES = {
    "double": "double",
    "float": "float",
    "long": "int64",
    "integer": "int32",
    "boolean": "bool",
    "string": "string",
    "binary": "binary",
    "datetime": "datetime64[ns]",
}


def registry_of(call: Call) -> ModelRegistry:
    return ModelRegistry(call.workspace)


def model_name(fields: Fields) -> str:
    return validate_name(fields.required_text("name"), "model name")


def version_number(fields: Fields) -> int:
    text = fields.required_text("version")
    if not (text.isascii() and text.isdigit()) or int(text) < 1 or len(text) > 9:
        raise InvalidInput(
            f"Invalid value {text!r} for parameter 'version' supplied: versions are numbered "
            "from 1",
            field="version",
        )
    return int(text)


def model_of(registry: ModelRegistry, name: str) -> RegisteredModel:
    try:
        return registry.repository.registered_model(name)
    except NotFound:
        raise NotFound(f"Registered Model with name={name} not found") from None


def version_of(registry: ModelRegistry, name: str, version: int) -> ModelVersion:
    model_of(registry, name)
    try:
        return registry.repository.get(Ref(name=name, version=version))
    except NotFound:
        raise NotFound(f"Model Version (name={name}, version={version}) not found") from None


# -- messages -------------------------------------------------------------------------
_manifests: dict[str, dict[str, Any]] = {}
_manifests_lock = threading.Lock()


def _manifest(workspace: Workspace, digest: str) -> dict[str, Any]:
    """The manifest of a format-`mlflow` version (immutable: cached by its digest)."""
    with _manifests_lock:
        found = _manifests.get(digest)
    if found is None:
        found = json.loads(workspace.artifacts.read_bytes(digest))
        with _manifests_lock:
            if len(_manifests) >= 4096:
                _manifests.clear()
            _manifests[digest] = found
    return found


def source_of(workspace: Workspace, version: ModelVersion) -> str:
    """A version's source in its canonical form, `runs:/<run id>/<path>`."""
    if version.format == MLFLOW_FORMAT:
        path = str(_manifest(workspace, version.digest)["path"])
    else:
        path = MODEL_DIR
    return f"runs:/{version.run_id}/{path}" if version.run_id else ""


def version_json(workspace: Workspace, version: ModelVersion) -> dict[str, Any]:
    """An MLflow ModelVersion message."""
    created = convert.millis(version.created_at)
    message: dict[str, Any] = {
        "name": version.name,
        "version": str(version.version),
        "creation_timestamp": created,
        "last_updated_timestamp": created,
        "user_id": version.created_by,
        "current_stage": "None",
        "source": source_of(workspace, version),
        "status": "READY",
        "tags": [{"key": k, "value": v} for k, v in sorted(version.tags.items())],
        "aliases": list(version.aliases),
    }
    if version.run_id:
        message["run_id"] = version.run_id
    if version.description:
        message["description"] = version.description
    return message


def page_of(fields: Fields, items: list[Any], *, default: int, limit: int) -> tuple[list[Any], str]:
    size = max_results(fields, default=default, limit=limit)
    offset = page_offset(fields.text("page_token"))
    page = items[offset : offset + size]
    return page, page_token(offset + size) if offset + size < len(items) else ""


def sort_messages(items: list[dict[str, Any]], orders: list[str], allowed: dict[str, str]) -> None:
    for order in reversed(orders):
        words = order.split()
        if (
            not words
            or len(words) > 2
            or (len(words) == 2 and words[1].lower() not in ("asc", "desc"))
        ):
            raise InvalidInput(f"Invalid order_by clause {order!r}: could not be parsed")
        key = words[0].strip("`")
        if key not in allowed:
            raise InvalidInput(f"Invalid order_by key {key!r}: use one of {', '.join(allowed)}")
        field = allowed[key]
        items.sort(
            key=lambda m: int(m[field]) if field == "version" else m[field],
            reverse=len(words) == 2 and words[1].lower() == "desc",
        )


# -- model versions ------------------------------------------------------------------
def source_run(call: Call, source: str, run_id: str | None) -> tuple[Run, str]:
    """The run and the path inside it that a version's source names (nothing else is)."""
    refused = InvalidInput(
        f"Invalid model version source {source[:200]!r}: give runs:/<run id>/<path> or the "
        "run's own artifact location (mlflow-artifacts:/<experiment id>/<run id>/artifacts/"
        "<path>); this server never fetches a source from elsewhere",
        field="source",
    )
    parts = urllib.parse.urlsplit(source)
    if parts.netloc or parts.query or parts.fragment or not parts.path.startswith("/"):
        raise refused
    try:
        path = safe_path(parts.path[1:].rstrip("/"))
    except InvalidInput:
        raise refused from None
    runs = repository(call)
    scheme = parts.scheme.lower()
    if scheme == "runs":
        run_part, _, inner = path.partition("/")
        try:
            run = find_run(runs, run_part)
        except NotFound:
            raise refused from None
    elif scheme == "mlflow-artifacts":
        try:
            run, _experiment, inner = run_location(runs, path)
        except NotFound:
            raise refused from None
    else:
        raise refused
    if run_id and run_id != run.id:
        raise InvalidInput(
            f"Invalid model version source {source[:200]!r}: it names run {run.id}, not the "
            f"run_id {run_id!r} the request gives",
            field="run_id",
        )
    return run, inner


def _tags(fields: Fields) -> dict[str, str]:
    tags: dict[str, str] = {}
    for key, value in fields.key_values("tags"):
        if len(key) > 250 or len(value) > 100_000:
            raise InvalidInput(f"model version tag {key[:40]!r} is too long (250 / 100,000)")
        tags[key] = value
    return tags


def create_model_version(call: Call) -> dict[str, Any]:
    """POST model-versions/create: the next version of a model, from a run of this store."""
    fields = call.fields
    registry = registry_of(call)
    name = model_name(fields)
    source = fields.required_text("source", limit=4096)
    run, inner = source_run(call, source, fields.text("run_id"))
    model_of(registry, name)
    description = fields.text("description")
    tags = _tags(fields)
    paths = {artifact.path for artifact in run.artifacts}
    if inner == MODEL_DIR and METADATA in paths:
        version = registry.register_run(run.id, name, description=description, tags=tags)
    else:
        version = _register_folder(registry, run, inner, name, description, tags)
    return {"model_version": version_json(registry.workspace, version)}


def _register_folder(
    registry: ModelRegistry,
    run: Run,
    inner: str,
    name: str,
    description: str | None,
    tags: dict[str, str],
) -> ModelVersion:
    """A version of format `mlflow`: a manifest of the folder's files, by their digests."""
    prefix = f"{inner}/" if inner else ""
    files = {
        artifact.path[len(prefix) :]: {"digest": artifact.digest, "size": artifact.size_bytes}
        for artifact in run.artifacts
        if artifact.path.startswith(prefix) or artifact.path == inner
    }
    if not files:
        raise InvalidInput(
            f"Invalid model version source: run {run.id} has no artifacts under {inner!r}",
            field="source",
        )
    mlmodel = _mlmodel(registry.workspace, files.get(_MLMODEL))
    flavors = [f for f in mlmodel.get("flavors", {}) if f != "python_function"] or list(
        mlmodel.get("flavors", {}) or ["files"]
    )
    manifest = {"kind": "mlflow", "run_id": run.id, "path": inner, "files": files}
    digest = registry.workspace.artifacts.put_bytes(json.dumps(manifest, sort_keys=True).encode())
    return registry.repository.add_version(
        name,
        NewModelVersion(
            digest=digest,
            format=MLFLOW_FORMAT,
            flavor=str(flavors[0])[:32],
            class_name="",
            task="",
            signature=build_signature(features=_features(mlmodel), target=None, task=""),
            transform=None,
            run_id=run.id,
            dataset_version_id=None,
            metrics=dict(run.metrics),
            description=description,
            tags=tags,
            created_by=current_user(),
        ),
    )


def _mlmodel(workspace: Workspace, entry: dict[str, Any] | None) -> dict[str, Any]:
    """The MLmodel file of an MLflow model folder, read safely ({} if absent or unreadable)."""
    import yaml

    if entry is None or entry["size"] > _MAX_MLMODEL_BYTES:
        return {}
    try:
        loaded = yaml.safe_load(workspace.artifacts.read_bytes(entry["digest"]))
    except (yaml.YAMLError, UnicodeDecodeError):
        return {}
    return (
        loaded if isinstance(loaded, dict) and isinstance(loaded.get("flavors", {}), dict) else {}
    )


def _features(mlmodel: dict[str, Any]) -> list[dict[str, str]]:
    """Named input columns of an MLmodel's signature (none for tensors or no signature)."""
    signature = mlmodel.get("signature")
    inputs = signature.get("inputs") if isinstance(signature, dict) else None
    try:
        columns = json.loads(inputs) if isinstance(inputs, str) else []
    except ValueError:
        return []
    if not isinstance(columns, list):
        return []
    return [
        {"name": str(column["name"]), "dtype": _DTYPES.get(str(column.get("type")), "string")}
        for column in columns
        if isinstance(column, dict) and isinstance(column.get("name"), str)
    ]


def get_model_version(call: Call) -> dict[str, Any]:
    """GET model-versions/get."""
    fields = call.fields
    registry = registry_of(call)
    version = version_of(registry, model_name(fields), version_number(fields))
    return {"model_version": version_json(registry.workspace, version)}


def get_download_uri(call: Call) -> dict[str, Any]:
    """GET model-versions/get-download-uri: where the client reads the version's files."""
    fields = call.fields
    registry = registry_of(call)
    version = version_of(registry, model_name(fields), version_number(fields))
    if version.run_id is None:
        raise NotFound(f"Model Version (name={version.name}, version={version.version}) has no run")
    runs = repository(call)
    run = find_run(runs, version.run_id)
    experiment = convert.experiment_id(runs.experiment(run.experiment))
    path = source_of(registry.workspace, version).split("/", 2)[2]
    return {"artifact_uri": f"{convert.artifact_root(experiment, run.id)}/{path}"}


_VERSION_ATTRIBUTES = {"name": "text", "run_id": "text", "version_number": "number"}


def search_model_versions(call: Call) -> dict[str, Any]:
    """GET model-versions/search: `name = 'x'`, `run_id = '...'`, order, pages."""
    fields = call.fields
    source = fields.text("filter") or ""
    clauses = filters.checked(
        filters.parse_clauses(source), _VERSION_ATTRIBUTES, tags=True, source=source
    )
    registry = registry_of(call)
    names = [c.value for c in clauses if c.kind == "attribute" and c.key == "name" and c.op == "="]
    models = [str(names[0])] if names else [m.name for m in registry.models()]
    versions = []
    for model in models:
        try:
            versions.extend(registry.repository.versions(model))
        except NotFound:
            continue

    def value_of(version: ModelVersion) -> Any:
        def value(clause: filters.Clause) -> Any:
            if clause.kind == "tag":
                return version.tags.get(clause.key)
            return {
                "name": version.name,
                "run_id": version.run_id,
                "version_number": version.version,
            }[clause.key]

        return value

    found = [v for v in versions if filters.matches(clauses, value_of(v))]
    messages = [version_json(registry.workspace, v) for v in found]
    sort_messages(
        messages,
        fields.texts("order_by") or ["name ASC", "version_number DESC"],
        {
            "name": "name",
            "version_number": "version",
            "creation_timestamp": "creation_timestamp",
            "last_updated_timestamp": "last_updated_timestamp",
        },
    )
    page, token = page_of(fields, messages, default=10_000, limit=MAX_VERSIONS_PER_PAGE)
    answer: dict[str, Any] = {"model_versions": page}
    if token:
        answer["next_page_token"] = token
    return answer
