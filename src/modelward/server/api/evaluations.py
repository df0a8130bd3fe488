"""/api/v1/evaluations: records of a model scored on a dataset version.

The server checks what the record points at: the run (when given) and the dataset
version exist, and every plot is bytes its artifact store holds. Who made the
record is the token's name.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field

from modelward.errors import InvalidInput
from modelward.evaluation.records import EvaluationRepository
from modelward.identity import current_user
from modelward.server.api.base import new_router, workspace_of
from modelward.server.api.runs import DIGEST, INT64, NO_NUL, RUN_ID, Finite, Key, RunIdPath
from modelward.tracking.entities import validate_key
from modelward.tracking.repository import RunRepository

router = new_router(tags=["evaluations"])

PlotName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")]
Digest = Annotated[str, Field(pattern=DIGEST)]


class NewEvaluation(BaseModel):
    """One evaluation: the model, the dataset version, the metrics and plot digests."""

    model_config = ConfigDict(extra="forbid")

    run_id: str | None = Field(default=None, pattern=RUN_ID)
    model_ref: str = Field(min_length=1, max_length=200, pattern=NO_NUL)
    dataset_version_id: int = Field(ge=1, le=2**31 - 1)
    target: str = Field(min_length=1, max_length=250, pattern=NO_NUL)
    task: Literal["classification", "regression"]
    n_rows: int = Field(ge=0, le=INT64)
    metrics: dict[Key, Finite] = Field(max_length=1000)
    plots: dict[PlotName, Digest] = Field(default_factory=dict, max_length=100)


@router.post("/evaluations", status_code=201, summary="Record an evaluation")
def add_evaluation(request: Request, body: NewEvaluation) -> dict[str, Any]:
    from modelward.data.repository import DatasetRepository

    workspace = workspace_of(request)
    if body.run_id is not None:
        RunRepository(workspace.db).status(body.run_id)
    DatasetRepository(workspace.db).get_by_id(body.dataset_version_id)
    for key in body.metrics:
        validate_key(key, "metric")
    for name, digest in body.plots.items():
        if not workspace.artifacts.exists(digest):
            raise InvalidInput(
                f"plots.{name}: artifact {digest[:12]}... is not in the server's store: "
                "upload it first",
                field=f"plots.{name}",
            )
    record = EvaluationRepository(workspace.db).add(
        {**body.model_dump(), "created_by": current_user()}
    )
    return record.to_dict()


@router.get("/runs/{run_id}/evaluations", summary="Every evaluation of a run's model")
def run_evaluations(request: Request, run_id: RunIdPath) -> dict[str, Any]:
    workspace = workspace_of(request)
    RunRepository(workspace.db).status(run_id)
    records = EvaluationRepository(workspace.db).for_run(run_id)
    return {"evaluations": [record.to_dict() for record in records]}
