"""Model pages: every model, one model's versions, aliases and audit, an admin's rollback."""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from modelward.errors import InvalidInput
from modelward.registry.service import ModelRegistry
from modelward.server.auth import require
from modelward.server.dashboard.charts import number
from modelward.server.dashboard.forms import check_csrf, read_form
from modelward.server.dashboard.rendering import render
from modelward.server.tokens import ADMIN


def _registry(request: Request) -> ModelRegistry:
    return ModelRegistry(request.app.state.workspace)


async def models_page(request: Request) -> Response:
    """/models: every registered model with its latest version and aliases."""
    return render(request, "models.html", models=_registry(request).models())


async def model_page(request: Request) -> Response:
    """/models/{name}: versions with metrics and formats, aliases, the audit log."""
    name = request.path_params["name"]
    registry = _registry(request)
    versions = registry.versions(name)
    metric_keys = sorted({key for version in versions for key in version.metrics})
    holders = {alias: v for v in versions for alias in v.aliases}
    principal = request.scope.get("state", {}).get("principal")
    return render(
        request,
        "model.html",
        name=name,
        versions=versions,
        metric_keys=metric_keys,
        holders=holders,
        audit=registry.audit(name),
        can_roll_back=principal is not None and principal.allows(ADMIN),
        number=number,
        error=request.query_params.get("error"),
    )


async def move_alias(request: Request) -> Response:
    """POST /models/{name}/aliases/{alias}: an admin points an alias at an older version.

    It goes through the same registry call as `mw models alias` (atomic, audited with
    the admin's token name and the reason); a gate given in the form is checked too.
    """
    form = await read_form(request)
    check_csrf(request, form)
    principal = require(request, ADMIN, why="move an alias from the dashboard")
    name, alias = request.path_params["name"], request.path_params["alias"]
    text = form.get("version", "")
    if not text.isdigit():
        raise InvalidInput(f"choose a version number, not {text!r}", field="version")
    reason = form.get("reason", "").strip()[:500] or "rolled back from the dashboard"
    require_text = form.get("require", "").strip() or None
    _registry(request).set_alias(
        name, int(text), alias, require=require_text, reason=reason, actor=principal.name
    )
    return RedirectResponse(f"/models/{quote(name)}", status_code=303)
