"""The HTTP floor for bench/serving.py: an ASGI app that does nothing.

    python bench/_serving_empty_app.py --port P [--workers N]

A bare Starlette app: ``POST /invocations`` and ``POST /predict`` read the body and
answer ``{}``; ``GET /ready`` and ``GET /ping`` answer ``{}``. Run by uvicorn with the
settings ``mw serve`` uses (127.0.0.1, log level warning, no access log, uvloop and
httptools when installed, which uvicorn picks by default).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

EMPTY = b"{}"


async def empty_post(request: Request) -> Response:
    await request.body()
    return Response(EMPTY, media_type="application/json")


async def empty_get(_request: Request) -> Response:
    return Response(EMPTY, media_type="application/json")


app = Starlette(
    routes=[
        Route("/invocations", empty_post, methods=["POST"]),
        Route("/predict", empty_post, methods=["POST"]),
        Route("/ready", empty_get, methods=["GET"]),
        Route("/ping", empty_get, methods=["GET"]),
    ]
)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--workers", type=int, default=1)
    args = p.parse_args()
    import uvicorn

    common = {"host": args.host, "port": args.port, "log_level": "warning", "access_log": False}
    if args.workers <= 1:
        uvicorn.run(app, **common)  # type: ignore[arg-type]
    else:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        uvicorn.run("_serving_empty_app:app", workers=args.workers, **common)  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    sys.exit(main())
