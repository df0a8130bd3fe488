"""MLflow's artifact proxy over modelward's content-addressed store.

    PUT  /api/2.0/mlflow-artifacts/artifacts/<experiment>/<run>/artifacts/<path>   upload
    GET  /api/2.0/mlflow-artifacts/artifacts/<experiment>/<run>/artifacts/<path>   download
    GET  /api/2.0/mlflow-artifacts/artifacts?path=<experiment>/<run>/artifacts/<dir>  list
    GET  /api/2.0/mlflow/artifacts/list?run_id=<run>&path=<dir>                      list

A path never names a file on the server: it names a run and a path inside that run,
and the bytes are found by their sha256 in the artifact store (`mw runs show` lists
them as the run's artifacts). A path is refused, in whatever encoding it arrives
(`..`, `%2e%2e`, `%252e%252e`, backslashes, `;` parameters, absolute paths, drive
letters, control characters, empty parts), before anything is looked up. Uploads are
streamed to a temporary file under a size cap, hashed, and recorded only once whole.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import urllib.parse
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, Response

from modelward.errors import InvalidInput, NotFound, TooLarge
from modelward.server.mlflow import convert
from modelward.server.mlflow.calls import Call, JsonResponse
from modelward.server.mlflow.tracking import find_run, repository
from modelward.store.artifacts import safe_relative_path
from modelward.store.workspace import Workspace
from modelward.tracking.entities import Run
from modelward.tracking.repository import RunRepository

DEFAULT_MAX_ARTIFACT_BYTES = 5 << 30  # one upload; raise it with the app's state
_MAX_PATH = 1024  # characters, as the run_artifacts table stores them
_UNSAFE = re.compile(r"[\x00-\x1f\x7f\\;#?]")
_ROOT = "artifacts"


def safe_path(raw: str, *, allow_empty: bool = False) -> str:
    """`raw` decoded until it stops changing, if it names nothing outside its root."""
    path = raw
    for _ in range(10):
        decoded = urllib.parse.unquote(path)
        if decoded == path:
            break
        path = decoded
    else:
        raise InvalidInput(f"Invalid path {raw[:80]!r}: encoded too many times")
    if not path and allow_empty:
        return ""
    refused = InvalidInput(
        f"Invalid path {raw[:80]!r}: artifact paths are relative, with no '..', '.', empty "
        "parts, backslashes, ';', '#', '?' or control characters"
    )
    if _UNSAFE.search(path) or len(path) > _MAX_PATH:
        raise refused
    try:
        safe_relative_path(path)
    except InvalidInput:
        raise refused from None
    return path


def run_location(runs: RunRepository, path: str) -> tuple[Run, str, str]:
    """(run, its MLflow experiment id, the path inside the run) of `<exp>/<run>/artifacts/...`."""
    parts = path.split("/", 3)
    if len(parts) < 3 or parts[2] != _ROOT:
        raise NotFound(
            f"No artifact at {path!r}: paths are <experiment id>/<run id>/artifacts/<path>"
        )
    experiment, run_id = parts[0], parts[1]
    run = find_run(runs, run_id)
    actual = convert.experiment_id(runs.experiment(run.experiment))
    if actual != experiment:
        raise NotFound(f"Run with id={run_id} is not in experiment {experiment}")
    return run, experiment, parts[3] if len(parts) == 4 else ""


def listing(run: Run, folder: str) -> list[dict[str, Any]]:
    """The files and folders right inside `folder` of a run ("" is its root), by name."""
    prefix = f"{folder}/" if folder else ""
    entries: dict[str, dict[str, Any]] = {}
    for artifact in run.artifacts:
        if not artifact.path.startswith(prefix):
            continue
        name, slash, _rest = artifact.path[len(prefix) :].partition("/")
        if slash:
            entries.setdefault(name, {"path": name, "is_dir": True})
        else:
            entries[name] = {"path": name, "is_dir": False, "file_size": artifact.size_bytes}
    return [entries[name] for name in sorted(entries)]


def list_proxied(call: Call) -> dict[str, Any]:
    """GET mlflow-artifacts/artifacts?path=...: what is inside a folder of a run."""
    path = safe_path(call.fields.text("path") or "", allow_empty=True)
    run, _experiment, inner = run_location(repository(call), path)
    return {"files": listing(run, inner)}


def list_run_artifacts(call: Call) -> dict[str, Any]:
    """GET mlflow/artifacts/list?run_id=...&path=...: paths relative to the run's root."""
    fields = call.fields
    runs = repository(call)
    run_id = fields.text("run_id") or fields.text("run_uuid") or ""
    run = find_run(runs, run_id)
    folder = safe_path(fields.text("path") or "", allow_empty=True)
    files = [
        {**entry, "path": f"{folder}/{entry['path']}" if folder else entry["path"]}
        for entry in listing(run, folder)
    ]
    experiment = convert.experiment_id(runs.experiment(run.experiment))
    return {"root_uri": convert.artifact_root(experiment, run.id), "files": files}


def _workspace(request: Request) -> Workspace:
    workspace: Workspace = request.app.state.workspace
    return workspace


def _locate(request: Request) -> tuple[RunRepository, Run, str]:
    workspace = _workspace(request)
    runs = RunRepository(workspace.db)
    path = safe_path(request.path_params["path"])
    run, _experiment, inner = run_location(runs, path)
    if not inner:
        raise InvalidInput(f"Invalid path {path!r}: it names the run's folder, not a file")
    return runs, run, inner


async def download(request: Request) -> Response:
    """GET one artifact's bytes, verified against their sha256."""

    def find() -> Path:
        _runs, run, inner = _locate(request)
        stored = {artifact.path: artifact for artifact in run.artifacts}
        artifact = stored.get(inner)
        if artifact is None:
            inside = any(path.startswith(f"{inner}/") for path in stored)
            what = "is a folder" if inside else "does not exist"
            raise NotFound(f"The artifact {inner!r} of run {run.id} {what}")
        return _workspace(request).owned_artifacts.local_path(artifact.digest)

    local = await run_in_threadpool(find)
    name = request.path_params["path"].rsplit("/", 1)[-1]
    return FileResponse(
        local,
        media_type="application/octet-stream",  # never rendered by a browser
        filename=safe_path(name),
        headers={"x-content-type-options": "nosniff"},
    )


async def upload(request: Request) -> Response:
    """PUT one artifact: streamed under the cap, stored by sha256, recorded once whole."""
    limit: int = getattr(request.app.state, "max_artifact_bytes", DEFAULT_MAX_ARTIFACT_BYTES)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge(_too_large(int(declared), limit))
    runs, run, inner = await run_in_threadpool(_locate, request)
    store = _workspace(request).owned_artifacts
    store.create()
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - removed in `finally`
        dir=store.incoming_dir(), prefix="mlflow-upload-", delete=False
    )
    try:
        size = 0
        with handle:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise TooLarge(_too_large(size, limit))
                handle.write(chunk)

        def record() -> None:
            digest = store.put_file(Path(handle.name))
            runs.add_artifacts(run.id, [(inner, digest, size)])

        await run_in_threadpool(record)
    except ClientDisconnect:
        return Response(status_code=400)  # nobody is listening; nothing was recorded
    finally:
        with contextlib.suppress(OSError):
            os.unlink(handle.name)
    return JsonResponse({})


def _too_large(size: int, limit: int) -> str:
    return (
        f"the artifact is {size:,} bytes or more, over this server's {limit:,}-byte limit "
        "for one upload"
    )
