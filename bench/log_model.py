"""The first `run.log_model` in a fresh process: how long it takes, and what it imports.

Run from the repository root::

    python bench/log_model.py              # 5 fresh processes per model, medians
    python bench/log_model.py --repeat 3

Each measurement is a new Python process with a fresh MODELWARD_HOME that imports
pandas, scikit-learn and modelward, adds a 200-row dataset, fits the model and then
times one `run.log_model(model, name=..., data=ds)` (store the model, register it):
the first call pays for whatever the serializer imports. Models: scikit-learn's
LogisticRegression (numbers and arrays only: stored as mw-native) and a
RandomForestClassifier (trees: stored with skops, whose import walks every
scikit-learn module). Target: LogisticRegression under 200 ms.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import log, machine_line, mw_env, now_utc, table

TARGET_MS = 200.0

WORKER = """
import json, sys, time
import numpy as np, pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
import modelward as mw
rng = np.random.default_rng(0)
frame = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
frame["label"] = (frame.a + frame.b > 0).astype(int)
ds = mw.data.add(frame, name="toy")
kind = sys.argv[1]
model = (LogisticRegression() if kind == "logistic" else RandomForestClassifier(n_estimators=10))
model.fit(frame[["a", "b"]], frame["label"])
with mw.start_run() as run:
    start = time.perf_counter()
    version = run.log_model(model, name="toy-clf", data=ds)
    seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "format": version.format, "skops": "skops" in sys.modules}))
"""


def measure(kind: str, repeat: int) -> dict[str, object]:
    """Medians over `repeat` fresh processes for one model kind."""
    times: list[float] = []
    formats: set[str] = set()
    skops: set[bool] = set()
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="bench-log-model-") as tmp:
            env = {**mw_env(), "MODELWARD_HOME": str(Path(tmp) / "home")}
            env.pop("MODELWARD_DB", None)
            done = subprocess.run(
                [sys.executable, "-c", WORKER, kind],
                capture_output=True,
                text=True,
                env=env,
                cwd=tmp,
                timeout=300,
            )
        if done.returncode != 0:
            raise SystemExit(f"{kind}: worker failed: {done.stderr.strip()[-500:]}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        times.append(float(result["seconds"]))
        formats.add(str(result["format"]))
        skops.add(bool(result["skops"]))
    return {
        "median_ms": statistics.median(times) * 1000,
        "min_ms": min(times) * 1000,
        "max_ms": max(times) * 1000,
        "format": ", ".join(sorted(formats)),
        "skops_imported": " / ".join(sorted({"yes" if s else "no" for s in skops})),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="fresh processes per model")
    args = parser.parse_args(argv)
    log(f"machine: {machine_line()}")
    rows = []
    passed = True
    for kind, label in (("logistic", "LogisticRegression"), ("forest", "RandomForestClassifier")):
        result = measure(kind, args.repeat)
        target = f"< {TARGET_MS:.0f} ms" if kind == "logistic" else "-"
        ok = float(str(result["median_ms"])) < TARGET_MS if kind == "logistic" else None
        passed = passed and ok is not False
        rows.append(
            [
                f"first log_model, {label}",
                f"{result['median_ms']:.0f} ms ({result['min_ms']:.0f}-{result['max_ms']:.0f})",
                str(result["format"]),
                str(result["skops_imported"]),
                target,
                "-" if ok is None else ("PASS" if ok else "FAIL"),
            ]
        )
    print()
    print(f"command: python bench/log_model.py --repeat {args.repeat}")
    print(f"machine: {machine_line()}")
    print(f"date: {now_utc()}")
    print()
    header = ["phase", "median (min-max)", "format", "skops imported", "target", "result"]
    print(table(rows, header))
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
