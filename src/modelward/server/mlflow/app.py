"""The MLflow-compatible API: the sub-app mounted at /api/2.0 of the team server.

    MLFLOW_TRACKING_URI=http://host:port MLFLOW_TRACKING_TOKEN=<token> python train.py

The unmodified `mlflow` client creates experiments and runs, logs params, metrics
(one by one and in batches), tags and artifacts, searches runs, reads metric
histories, registers model versions and moves aliases here, on the server's own
store: what it logs are ordinary modelward runs and versions. Auth is the team
server's (TokenAuth, outside this app); every error, a body over the limit and an
unknown endpoint included, answers in MLflow's shape (`errors`).
"""

from __future__ import annotations

import re

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount, Route

from modelward.errors import ModelwardError
from modelward.server.mlflow import artifacts, experiments, registry, tracking, versions
from modelward.server.mlflow.calls import Handler, endpoint
from modelward.server.mlflow.errors import MlflowErrorBoundary, handle_error
from modelward.server.mlflow.limits import BodyLimitExceptUploads
from modelward.store.workspace import Workspace

_ENDPOINTS: list[tuple[str, str, Handler]] = [
    ("POST", "/mlflow/experiments/create", experiments.create_experiment),
    ("GET", "/mlflow/experiments/get", experiments.get_experiment),
    ("GET", "/mlflow/experiments/get-by-name", experiments.get_experiment_by_name),
    ("POST", "/mlflow/experiments/search", experiments.search_experiments),
    ("POST", "/mlflow/runs/create", tracking.create_run),
    ("GET", "/mlflow/runs/get", tracking.get_run),
    ("POST", "/mlflow/runs/update", tracking.update_run),
    ("POST", "/mlflow/runs/search", tracking.search_runs),
    ("POST", "/mlflow/runs/log-metric", tracking.log_metric),
    ("POST", "/mlflow/runs/log-parameter", tracking.log_param),
    ("POST", "/mlflow/runs/log-batch", tracking.log_batch),
    ("POST", "/mlflow/runs/set-tag", tracking.set_tag),
    ("POST", "/mlflow/runs/delete-tag", tracking.delete_tag),
    ("GET", "/mlflow/metrics/get-history", tracking.get_metric_history),
    ("POST", "/mlflow/logged-models/search", tracking.search_logged_models),
    ("GET", "/mlflow/artifacts/list", artifacts.list_run_artifacts),
    ("GET", "/mlflow-artifacts/artifacts", artifacts.list_proxied),
    ("POST", "/mlflow/registered-models/create", registry.create_registered_model),
    ("GET", "/mlflow/registered-models/get", registry.get_registered_model),
    ("GET", "/mlflow/registered-models/search", registry.search_registered_models),
    ("POST", "/mlflow/registered-models/get-latest-versions", registry.get_latest_versions),
    ("POST", "/mlflow/registered-models/alias", registry.set_alias),
    ("DELETE", "/mlflow/registered-models/alias", registry.delete_alias),
    ("GET", "/mlflow/registered-models/alias", registry.get_model_version_by_alias),
    ("POST", "/mlflow/model-versions/create", versions.create_model_version),
    ("GET", "/mlflow/model-versions/get", versions.get_model_version),
    ("GET", "/mlflow/model-versions/search", versions.search_model_versions),
    ("GET", "/mlflow/model-versions/get-download-uri", versions.get_download_uri),
]


def routes() -> list[BaseRoute]:
    """Every route of the MLflow-compatible API (paths relative to /api/2.0)."""
    found: list[BaseRoute] = []
    by_path: dict[str, list[tuple[str, Handler]]] = {}
    for method, path, handler in _ENDPOINTS:
        by_path.setdefault(path, []).append((method, handler))
    for path, handlers in by_path.items():
        for method, handler in handlers:
            found.append(Route(path, endpoint(handler), methods=[method], name=handler.__name__))
    found.append(
        Route("/mlflow-artifacts/artifacts/{path:path}", artifacts.download, methods=["GET"])
    )
    found.append(
        Route("/mlflow-artifacts/artifacts/{path:path}", artifacts.upload, methods=["PUT"])
    )
    return found


class _Mount(Mount):
    """A Mount whose paths may hold any character (a newline too), so that every path
    under /api/2.0 reaches this API and is answered (or refused) in MLflow's shape."""

    def __init__(self, path: str, app: Starlette) -> None:
        super().__init__(path, app=app)
        self.path_regex = re.compile(self.path_regex.pattern, re.DOTALL)
        for route in app.routes:
            if isinstance(route, Route):
                route.path_regex = re.compile(route.path_regex.pattern, re.DOTALL)


def mlflow_mount(workspace: Workspace, *, max_body_bytes: int) -> Mount:
    """The MLflow-compatible API, mounted at /api/2.0 (the team server's app adds it)."""
    return _Mount("/api/2.0", create_mlflow_app(workspace, max_body_bytes=max_body_bytes))


def create_mlflow_app(
    workspace: Workspace,
    *,
    max_body_bytes: int,
    max_artifact_bytes: int = artifacts.DEFAULT_MAX_ARTIFACT_BYTES,
) -> Starlette:
    """The MLflow-compatible API over the server's local workspace (mount it at /api/2.0)."""
    app = Starlette(
        routes=routes(),
        middleware=[
            Middleware(MlflowErrorBoundary),
            Middleware(BodyLimitExceptUploads, max_bytes=max_body_bytes),
        ],
        exception_handlers={HTTPException: handle_error, ModelwardError: handle_error},
    )
    app.state.workspace = workspace
    app.state.max_artifact_bytes = max_artifact_bytes
    return app
