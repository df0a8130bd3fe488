"""A pipeline step's cache key, and whether what it recorded can be reused.

A step's key digests what it reads: the data's content (a file's sha256 through the
stat cache, a version's digest), the spec, params and candidates, the modelward
version, and the key of the step before it. The data steps that query a source
(`import_sql`, `feedback`) have no key before they ran: theirs is the digest of what
they read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelward.errors import NotFound
from modelward.pipelines.fields import canonical_digest
from modelward.pipelines.spec import PipelineSpec
from modelward.store.workspace import Workspace
from modelward.version import __version__

# the data kinds whose rows are only known by reading them
QUERIED = ("import_sql", "feedback")


def step_key(name: str, upstream: str | None, config: Mapping[str, Any]) -> str:
    """The cache key of a step: its configuration, the step before it, modelward's version."""
    return canonical_digest(
        {"step": name, "upstream": upstream, "config": dict(config), "modelward": __version__}
    )


def upstream_of(spec: PipelineSpec, name: str) -> str | None:
    steps = spec.steps
    position = steps.index(name)
    return steps[position - 1] if position else None


# -- keys that are known before running ---------------------------------------
def static_key(
    ctx_keys: Mapping[str, str], spec: PipelineSpec, name: str, workspace: Workspace
) -> str | None:
    """The key of step `name` from the pipeline and the keys before it (None when it
    depends on what a querying data step will read)."""
    upstream_step = upstream_of(spec, name)
    upstream = ctx_keys.get(upstream_step) if upstream_step else None
    if upstream_step is not None and upstream is None:
        return None
    if name == "data":
        if spec.data.kind in QUERIED:
            return None
        return step_key("data", None, data_identity(workspace, spec))
    if name == "holdout":
        assert spec.train is not None
        config = {
            "fraction": spec.holdout,
            "seed": spec.train.seed,
            "target": spec.train.target,
            "names": split_names(spec),
        }
        return step_key(name, upstream, config)
    if name == "transform":
        assert spec.transform is not None
        config = {"spec": spec.transform.spec_digest, "name": spec.transform.name}
        return step_key(name, upstream, config)
    if name == "train":
        assert spec.train is not None
        return step_key(name, upstream, spec.train.describe())
    if name == "register":
        return step_key(name, upstream, {"model": spec.register})
    assert spec.promote is not None
    config = {
        "alias": spec.promote.alias,
        "require": spec.promote.require,
        "holdout": ctx_keys.get("holdout"),
    }
    return step_key(name, upstream, config)


def data_identity(workspace: Workspace, spec: PipelineSpec) -> dict[str, Any]:
    """What the data step's rows are, without reading them: a file's content digest (from
    the stat cache when the file did not change) or the version a reference names."""
    data = spec.data
    if data.kind == "add":
        from modelward.pipelines.file_digests import file_digest

        assert data.path is not None
        cache = workspace.settings.home / "cache" / "file-digests.json"
        return {"kind": "add", "name": data.name, "content": file_digest(data.path, cache)}
    version = dataset_record(workspace, data.ref or data.name)
    return {"kind": "use", "version": version.ref, "content": version.digest}


def dataset_record(workspace: Workspace, ref: str) -> Any:
    """A dataset version's record (the store's, without the catalog's data readers)."""
    from modelward.data.ports import dataset_store
    from modelward.refs import Ref

    return dataset_store(workspace).get(Ref.parse(ref))


def split_names(spec: PipelineSpec) -> tuple[str, str]:
    return f"{spec.name}-fit", f"{spec.name}-holdout"


# -- whether recorded outputs can be reused -----------------------------------
def still_there(workspace: Workspace, name: str, outputs: Mapping[str, Any]) -> bool:
    """Whether what a recorded step produced still exists (else it runs again)."""
    from modelward.registry.ports import model_registry
    from modelward.tracking.ports import run_store

    try:
        if name in ("data", "transform"):
            dataset_record(workspace, outputs["dataset"])
        elif name == "holdout":
            dataset_record(workspace, outputs["fit"])
            dataset_record(workspace, outputs["holdout"])
        elif name == "train":
            run_store(workspace).get(outputs["best"])
        elif name == "register":
            model_registry(workspace).get(outputs["model"])
        elif name == "promote":
            # the decision stands only while the alias still names what it promoted
            model, alias = str(outputs["candidate"]).partition("@")[0], outputs["alias"]
            return bool(model_registry(workspace).get(f"{model}@{alias}").version == outputs["to"])
    except (NotFound, KeyError, TypeError):
        return False
    return True
