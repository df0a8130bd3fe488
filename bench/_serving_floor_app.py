"""The floor for bench/serving.py: a bare ASGI app that parses the JSON, calls the same
scikit-learn ``predict`` and writes the answer (issue 8, item 7).

    MODELWARD_HOME=DIR FLOOR_MODEL=REF python bench/_serving_floor_app.py --port P \
        [--server uvicorn|granian] [--json orjson|msgspec] [--plain-asyncio]

At start-up it loads the model (``mw.models.load(REF)``) and, for a model trained on
transformed data, reads the fitted transform's constants (fill values, means and
stds, categories) into arrays: the code a person would write by hand for this one
model. Per request it does no more than a server must: read the body, parse it
(``dataframe_split`` on ``/invocations``, ``instances`` as objects on ``/predict``),
build the feature matrix with NumPy, call ``model.predict`` and write
``{"predictions": [...]}``. No validation beyond what NumPy and scikit-learn do, no
routing framework, no metrics, no log. ``GET /ready`` and ``GET /ping`` answer ``{}``.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

# Fitted on a DataFrame, scikit-learn warns on every NumPy call; a hand-written server
# would silence it once, as here.
warnings.filterwarnings("ignore", message="X does not have valid feature names")


class Features:
    """Raw columns (by name) -> the model's feature matrix, for one fixed model."""

    def __init__(self, loaded: Any) -> None:
        self.inputs: list[str] = list(loaded.input_names)
        features: list[str] = list(loaded.feature_names)
        transform = loaded.transform
        kinds = {c["name"]: c.get("kind", "number") for c in loaded.version.signature["inputs"]}
        self.numbers = [n for n in self.inputs if kinds[n] in ("number", "integer")]
        self.fill = np.full(len(self.numbers), np.nan)
        self.mean = np.zeros(len(self.numbers))
        self.scale = np.ones(len(self.numbers))
        self.text_fill: dict[str, Any] = {}
        self.one_hot: list[tuple[str, dict[Any, int]]] = []
        if transform is not None:
            for step in transform.steps:
                params = step.params()
                if step.kind == "fill_missing":
                    for name, value in params["values"].items():
                        if name in self.numbers:
                            self.fill[self.numbers.index(name)] = value
                        else:
                            self.text_fill[name] = value
                elif step.kind == "normalize":
                    for name, stat in params["stats"].items():
                        i = self.numbers.index(name)
                        self.mean[i] = stat["mean"]
                        self.scale[i] = stat["std"] or 1.0
                elif step.kind == "one_hot":
                    for name, values in params["categories"].items():
                        where = {v: features.index(f"{name}_{v}") for v in values}
                        self.one_hot.append((name, where))
                elif step.kind not in ("drop", "filter"):
                    raise SystemExit(f"the floor app does not hand-code {step.kind!r} steps")
        self.number_at = [features.index(n) for n in self.numbers if n in features]
        self.width = len(features)
        self.plain = transform is None and self.numbers == features

    def matrix(self, columns: dict[str, list[Any]] | None, rows: list[list[Any]]) -> Any:
        """`rows` in `self.inputs` order (or `columns` by name) -> float matrix."""
        if self.plain and columns is None:
            return np.array(rows, dtype=np.float64)
        if columns is None:
            columns = {name: [row[i] for row in rows] for i, name in enumerate(self.inputs)}
        x = np.array([columns[n] for n in self.numbers], dtype=np.float64).T
        if self.plain:
            return x
        x = np.where(np.isnan(x), self.fill, x)
        x = (x - self.mean) / self.scale
        out = np.zeros((x.shape[0], self.width))
        out[:, self.number_at] = x
        for name, where in self.one_hot:
            fill = self.text_fill.get(name)
            for r, value in enumerate(columns[name]):
                at = where.get(fill if value is None else value)
                if at is not None:
                    out[r, at] = 1.0
        return out


def make_app(ref: str, json_lib: str) -> Any:
    import modelward as mw

    loaded = mw.models.load(ref)
    model = loaded.model
    features = Features(loaded)
    if json_lib == "msgspec":
        import msgspec

        decoder = msgspec.json.Decoder()
        loads, dumps = decoder.decode, msgspec.json.Encoder().encode
    else:
        import orjson

        loads, dumps = orjson.loads, orjson.dumps
    headers = [(b"content-type", b"application/json")]
    empty = {"type": "http.response.body", "body": b"{}"}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["method"] == "GET":
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send(empty)
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        payload = loads(body)
        if scope["path"] == "/predict":
            instances = payload["instances"]
            columns = {name: [row[name] for row in instances] for name in features.inputs}
            X = features.matrix(columns, [])
        else:
            split = payload["dataframe_split"]
            if split["columns"] == features.inputs:
                X = features.matrix(None, split["data"])
            else:
                at = {name: i for i, name in enumerate(split["columns"])}
                columns = {n: [row[at[n]] for row in split["data"]] for n in features.inputs}
                X = features.matrix(columns, [])
        answer = dumps({"predictions": model.predict(X).tolist()})
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": answer})

    return app


def app_from_environment() -> Any:
    """Factory for uvicorn's and granian's workers."""
    return make_app(os.environ["FLOOR_MODEL"], os.environ.get("FLOOR_JSON", "orjson"))


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--server", choices=("uvicorn", "granian"), default="uvicorn")
    p.add_argument("--json", choices=("orjson", "msgspec"), default="orjson")
    p.add_argument(
        "--plain-asyncio",
        action="store_true",
        help="uvicorn with asyncio + h11, not uvloop + httptools",
    )
    args = p.parse_args()
    os.environ["FLOOR_JSON"] = args.json
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    target = "_serving_floor_app:app_from_environment"
    if args.server == "granian":
        from granian import Granian
        from granian.constants import Interfaces

        Granian(
            target,
            address=args.host,
            port=args.port,
            interface=Interfaces.ASGI,
            workers=args.workers,
            factory=True,
            log_enabled=False,
        ).serve()
        return 0
    import uvicorn

    uvicorn.run(
        target,
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level="warning",
        access_log=False,
        **({"loop": "asyncio", "http": "h11"} if args.plain_asyncio else {}),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
