"""/api/v1/datasets and /api/v1/dataset-versions: the datasets aggregate over HTTP.

The routes call the server's own `DatasetCatalog` and `DatasetRepository`, the code
a local `mw` runs. A client reads, stages and profiles its file itself and uploads
the bytes as an artifact (`PUT /api/v1/artifacts/{sha256}`); the version it then
records is checked against what a client could forge: the bytes must be in the
server's store at the size claimed, a parent must exist, and who made the version
is the token's name (`current_user()` inside a request), never a field of the body.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Path, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from modelward.data.entities import ColumnSchema, DatasetVersion, NewVersion
from modelward.data.repository import DatasetRepository
from modelward.errors import NotFound
from modelward.identity import current_user
from modelward.refs import Ref, validate_name
from modelward.server.api.base import OrjsonResponse, new_router, workspace_of

router = new_router(tags=["datasets"])

DIGEST = r"^[0-9a-f]{64}$"
NO_NUL = r"^[^\x00]*$"  # PostgreSQL's text and JSONB values cannot hold NUL characters
INT64 = 2**63 - 1
INT32 = 2**31 - 1  # ids are 32-bit integer columns
MAX_COLUMNS = 100_000
# a stored value must also be answered back: orjson writes at most 255 levels
MAX_JSON_DEPTH = 64

NamePath = Annotated[str, Path(max_length=128, description="a dataset name")]
SelectorPath = Annotated[str, Path(max_length=64, description="a version number, or `latest`")]
IdPath = Annotated[int, Path(ge=1, le=INT32, description="a dataset version's id")]
DigestPath = Annotated[str, Path(pattern=DIGEST, description="sha256 of the version's bytes")]
Count = Annotated[int, Field(strict=True, ge=0, le=INT64)]
Text = Annotated[str, Field(max_length=10_000, pattern=NO_NUL)]


class Column(BaseModel):
    """One column's name and Arrow type."""

    model_config = ConfigDict(extra="forbid")

    name: Text
    dtype: Annotated[str, Field(max_length=1_000, pattern=NO_NUL)]


class NewVersionBody(BaseModel):
    """A version a client measured (staged and profiled) and whose bytes it uploaded."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    digest: Annotated[str, Field(pattern=DIGEST, description="sha256 of the uploaded bytes")]
    format: Literal["csv", "parquet", "jsonl"]
    size_bytes: Count
    n_rows: Count
    columns: list[Column] = Field(alias="schema", max_length=MAX_COLUMNS)
    profile: dict[str, Any]
    source: dict[str, Any]
    parent_id: Annotated[int, Field(strict=True, ge=1, le=INT32)] | None = None
    spec_digest: Annotated[str, Field(pattern=DIGEST)] | None = None
    transform: dict[str, Any] | None = None
    description: Text | None = None

    @field_validator("profile", "source", "transform")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        problem = _unstorable(value)
        if problem:
            raise ValueError(problem)
        return value


def _unstorable(value: Any) -> str | None:
    """Why a JSON value cannot be stored and answered back, or None."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return "text inside may not contain NUL characters"
        elif isinstance(item, dict | list):
            if depth > MAX_JSON_DEPTH:
                return f"nested deeper than {MAX_JSON_DEPTH} levels"
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return None


def version_json(version: DatasetVersion) -> dict[str, Any]:
    """A version as the API answers it: `to_dict()` with the ids records point at."""
    return {"id": version.id, "parent_id": version.parent_id, **version.to_dict()}


def _repository(request: Request) -> DatasetRepository:
    return DatasetRepository(workspace_of(request).db)


@router.get("/datasets", summary="Every dataset with its newest version")
def list_datasets(request: Request) -> dict[str, Any]:
    return {
        "datasets": [
            {"name": s.name, "versions": s.versions, "latest": version_json(s.latest)}
            for s in _repository(request).summaries()
        ]
    }


@router.get("/datasets/{name}/versions", summary="Every version of a dataset, oldest first")
def list_versions(request: Request, name: NamePath) -> dict[str, Any]:
    versions = _repository(request).versions(validate_name(name, "dataset name"))
    return {"versions": [version_json(v) for v in versions]}


@router.post(
    "/datasets/{name}/versions",
    summary="Record a version of uploaded bytes (the same content returns its version)",
    status_code=201,
    responses={200: {"description": "the dataset already had this content"}},
)
def add_version(request: Request, name: NamePath, body: NewVersionBody) -> Response:
    new = NewVersion(
        digest=body.digest,
        format=body.format,
        size_bytes=body.size_bytes,
        n_rows=body.n_rows,
        schema=tuple(ColumnSchema(c.name, c.dtype) for c in body.columns),
        profile=body.profile,
        source=body.source,
        created_by=current_user(),
        parent_id=body.parent_id,
        spec_digest=body.spec_digest,
        transform=body.transform,
        description=body.description,
    )
    from modelward.data.catalog import DatasetCatalog  # pyarrow: not on the start path

    version, created = DatasetCatalog(workspace_of(request)).record_version(name, new)
    return OrjsonResponse(
        {"created": created, "version": version_json(version)},
        status_code=201 if created else 200,
    )


@router.get(
    "/datasets/{name}/versions/{selector}",
    summary="One version, by number or `latest`",
)
def get_version(request: Request, name: NamePath, selector: SelectorPath) -> dict[str, Any]:
    ref = Ref.parse(f"{validate_name(name, 'dataset name')}@{selector}")
    return version_json(_repository(request).get(ref))


@router.get(
    "/datasets/{name}/digests/{digest}",
    summary="The version of a dataset holding exactly these bytes (404 if none)",
)
def find_by_digest(request: Request, name: NamePath, digest: DigestPath) -> dict[str, Any]:
    found = _repository(request).find_by_digest(validate_name(name, "dataset name"), digest)
    if found is None:
        raise NotFound(f"dataset {name!r} has no version with sha256 {digest[:12]}")
    return version_json(found)


@router.get("/dataset-versions/{version_id}", summary="One version, by its id")
def get_by_id(request: Request, version_id: IdPath) -> dict[str, Any]:
    return version_json(_repository(request).get_by_id(version_id))


@router.get(
    "/dataset-versions/{version_id}/lineage",
    summary="The parents of a version, nearest first",
)
def lineage(request: Request, version_id: IdPath) -> dict[str, Any]:
    repository = _repository(request)
    chain = repository.lineage(repository.get_by_id(version_id))
    return {"lineage": [version_json(v) for v in chain]}
