"""The floor of bench/mlflow_compat.py: the least a server can cost the MLflow client.

    python -m uvicorn --app-dir bench _mlflow_compat_floor:app --port PORT

A bare ASGI app on uvicorn (uvloop, httptools, one worker, as `mw server` runs)
that answers the calls of ``_mlflow_compat_client.py`` with fixed, well-formed MLflow
messages and stores nothing: the client's own cost per call plus HTTP on loopback.
No server can make the client faster than this; ``mw server`` is compared to it.
"""

from __future__ import annotations

import json
from typing import Any

_RUN_ID = "f" * 32
_EXPERIMENT = {"experiment_id": "1", "name": "mlflow-compat-bench", "lifecycle_stage": "active"}
_RUN = {
    "info": {
        "run_id": _RUN_ID,
        "run_uuid": _RUN_ID,
        "experiment_id": "1",
        "status": "RUNNING",
        "start_time": 0,
        "artifact_uri": f"mlflow-artifacts:/1/{_RUN_ID}/artifacts",
        "lifecycle_stage": "active",
    },
    "data": {},
}
_ANSWERS: dict[str, dict[str, Any]] = {
    "/api/2.0/mlflow/experiments/get-by-name": {"experiment": _EXPERIMENT},
    "/api/2.0/mlflow/experiments/get": {"experiment": _EXPERIMENT},
    "/api/2.0/mlflow/runs/create": {"run": _RUN},
    "/api/2.0/mlflow/runs/get": {"run": _RUN},
    "/api/2.0/mlflow/runs/update": {"run_info": _RUN["info"]},
}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    body = json.dumps(_ANSWERS.get(scope["path"], {})).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
