"""``mw serve``'s app under granian instead of uvicorn (a measured alternative).

    MODELWARD_HOME=DIR MW_REF=REF python bench/_serving_mw_granian.py --port P

The same app ``mw serve`` builds (``build_app``: the model holder, prediction log,
monitor, metrics), served by granian's ASGI interface with its lifespan, one worker.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any


def app_from_environment() -> Any:
    """Factory for granian's worker."""
    from modelward.serving.server import ServeOptions, build_app

    return build_app(ServeOptions(ref=os.environ["MW_REF"]))


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--workers", type=int, default=1)
    args = p.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from granian import Granian
    from granian.constants import Interfaces

    Granian(
        "_serving_mw_granian:app_from_environment",
        address=args.host,
        port=args.port,
        interface=Interfaces.ASGI,
        workers=args.workers,
        factory=True,
        log_enabled=False,
    ).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
