"""/api/v1/monitor-leases: which process runs the monitor of each model, for `mw serve`
replicas anywhere that talk to this server (`monitoring.leases` has the rules)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field

from modelward.monitoring.leases import LeaseHolder, MonitorLeaseRepository
from modelward.server.api.base import new_router, workspace_of
from modelward.server.api.monitoring import INT32, ModelPath, Text128

router = new_router(tags=["monitoring"])


class Holder(BaseModel):
    """A process that runs (or would run) the monitor of a model."""

    model_config = ConfigDict(extra="forbid")

    host: Text128 = Field(min_length=1, description="its host name")
    pid: int = Field(ge=1, le=INT32, strict=True)
    parent_pid: int = Field(ge=0, le=INT32, strict=True)
    token: str = Field(
        pattern=r"^[0-9a-f]{0,32}$", description="tells apart one process's monitors"
    )


class LeaseRequest(BaseModel):
    """Take or renew a model's monitor lease."""

    model_config = ConfigDict(extra="forbid")

    holder: Holder
    ttl_seconds: float = Field(gt=0, le=3600, allow_inf_nan=False)


class LeaseRelease(BaseModel):
    """Give a model's monitor lease up."""

    model_config = ConfigDict(extra="forbid")

    holder: Holder


def _holder(item: Holder) -> LeaseHolder:
    return LeaseHolder(item.host, item.pid, item.parent_pid, item.token)


@router.put("/monitor-leases/{model}", summary="Take or renew the lease of a model's monitor")
def acquire_monitor_lease(request: Request, model: ModelPath, body: LeaseRequest) -> dict[str, Any]:
    held_by = MonitorLeaseRepository(workspace_of(request).db).acquire(
        model, _holder(body.holder), body.ttl_seconds
    )
    return {"model": model, "held_by": None if held_by is None else held_by.to_dict()}


@router.post("/monitor-leases/{model}/release", summary="Give a model's monitor lease up")
def release_monitor_lease(request: Request, model: ModelPath, body: LeaseRelease) -> dict[str, Any]:
    MonitorLeaseRepository(workspace_of(request).db).release(model, _holder(body.holder))
    return {"model": model, "released": True}
