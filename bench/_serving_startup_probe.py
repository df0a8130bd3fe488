"""Where ``mw serve``'s start-up time goes (run by bench/serving.py --profile).

    MODELWARD_HOME=DIR python bench/_serving_startup_probe.py REF

Does, in order, what ``mw serve REF`` does before uvicorn listens, timing each step
in this fresh process (imports are attributed to the first step that needs them),
and prints one JSON object: ``{"steps": [[name, seconds], ...], "total_s": ...}``.
"""

from __future__ import annotations

import json
import sys
import time

T0 = time.perf_counter()


def main() -> int:
    ref = sys.argv[1]
    steps: list[tuple[str, float]] = []
    last = T0

    def step(name: str) -> None:
        nonlocal last
        now = time.perf_counter()
        steps.append((name, now - last))
        last = now

    import modelward.cli.main  # noqa: F401

    step("import modelward.cli.main (the CLI)")
    import orjson  # noqa: F401
    import starlette.applications  # noqa: F401

    step("import starlette + orjson")
    import sqlalchemy  # noqa: F401

    step("import sqlalchemy")
    import modelward.serving.server as server

    step("import modelward.serving.server (rest)")
    import sklearn.base  # noqa: F401

    step("import sklearn (numpy, scipy)")
    import pandas  # noqa: F401

    step("import pandas")
    import skops.io  # noqa: F401

    step("import skops.io")
    from modelward.registry.service import ModelRegistry
    from modelward.store.workspace import open_workspace

    registry = ModelRegistry(open_workspace())
    step("open the workspace")
    registry.load(ref)
    step("registry.load(ref) (read, verify, deserialize)")
    options = server.ServeOptions(ref=ref, poll_interval=0)
    server.build_app(options)
    step("build_app (loads the model again + Starlette app)")
    import uvicorn
    import uvicorn.loops.uvloop
    import uvicorn.protocols.http.httptools_impl  # noqa: F401

    step("import uvicorn, uvloop, httptools")
    print(json.dumps({"steps": steps, "total_s": time.perf_counter() - T0}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
