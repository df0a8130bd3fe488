"""Pipeline rerun benchmark: an unchanged rerun of a two-stage pipeline over a 100 MB
CSV, `mw pipeline run` against `dvc repro` on the equivalent `dvc.yaml`, in one run.

Run from the repository root::

    python bench/pipeline_rerun.py              # 100 MB input
    python bench/pipeline_rerun.py --mb 20      # quick run

Both projects get the same seeded CSV (8 float columns and a binary label). The two
stages are the same work: "prepare" z-scores the features, "train" fits
scikit-learn's LogisticRegression on the prepared rows. modelward's pipeline is
`data: {add: big.csv}` -> `transform` -> `train` (no hold-out, so exactly those
stages); DVC's `dvc.yaml` has `prepare` (deps: big.csv, prepare.py; outs:
prepared.parquet) and `train` (deps: prepared.parquet, train.py; outs: model.pkl),
run with this Python. DVC is installed in `bench/.venv-dvc` on first use.

Measured: each tool's first run (not the point: it does the work), then three
unchanged reruns each, as whole commands (interpreter start-up included), median
wall time. Both must say that nothing ran. Target: `mw pipeline run` unchanged
under 1 s. Exit status 0 only if it is met.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from _common import (  # noqa: E402
    ensure_venv,
    log,
    machine_line,
    measure,
    mw_command,
    mw_env,
    now_utc,
    table,
    venv_version,
)

TARGET_S = 1.0
DVC = "dvc[parquet]>=3.50"
PREP = "steps:\n  - normalize: {columns: [x0, x1, x2, x3, x4, x5, x6, x7], method: zscore}\n"
PIPELINE = """\
name: rerun-bench
data: {add: big.csv, name: big}
holdout: 0
transform: {spec: prep.yaml, name: big-prep}
train:
  target: label
  experiment: bench
  candidates:
    - {model: sklearn.linear_model.LogisticRegression, param: {max_iter: 200}}
"""
PREPARE_PY = """\
import pandas as pd
frame = pd.read_csv("big.csv")
features = [c for c in frame.columns if c != "label"]
frame[features] = (frame[features] - frame[features].mean()) / frame[features].std(ddof=0)
frame.to_parquet("prepared.parquet")
"""
TRAIN_PY = """\
import pickle
import pandas as pd
from sklearn.linear_model import LogisticRegression
frame = pd.read_parquet("prepared.parquet")
model = LogisticRegression(max_iter=200).fit(frame.drop(columns=["label"]), frame["label"])
pickle.dump(model, open("model.pkl", "wb"))
"""
DVC_YAML = """\
stages:
  prepare:
    cmd: {python} prepare.py
    deps: [big.csv, prepare.py]
    outs: [prepared.parquet]
  train:
    cmd: {python} train.py
    deps: [prepared.parquet, train.py]
    outs: [model.pkl]
"""


def _write_csv(path: Path, megabytes: int) -> int:
    import numpy as np
    import pandas as pd

    rows = int(megabytes * 1e6 / 78)  # ~78 bytes a row as written below
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(rows, 8)), columns=[f"x{i}" for i in range(8)])
    frame["label"] = (frame.x0 - frame.x1 + rng.normal(0, 1, rows) > 0).astype(int)
    frame.to_csv(path, index=False, float_format="%.6f")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=100, help="size of the CSV (MB)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    log(machine_line())
    dvc_bin = ensure_venv("dvc", [DVC])
    dvc = [str(dvc_bin / "dvc")]
    with tempfile.TemporaryDirectory(prefix="mw-bench-rerun-") as tmp:
        root = Path(tmp)
        csv = root / "big.csv"
        rows = _write_csv(csv, args.mb)
        size_mb = csv.stat().st_size / 1e6
        log(f"{csv.name}: {rows:,} rows, {size_mb:.0f} MB")

        project = root / "mw"
        project.mkdir()
        (project / "big.csv").hardlink_to(csv)
        (project / "prep.yaml").write_text(PREP)
        (project / "pipeline.yaml").write_text(PIPELINE)
        env = {**mw_env(), "MODELWARD_HOME": str(root / "home")}
        run = [*mw_command(), "pipeline", "run", "pipeline.yaml"]
        first_mw = measure(run, cwd=project, env=env).check()
        log(f"mw first run {first_mw.wall_s:.1f} s")

        repo = root / "dvc"
        repo.mkdir()
        (repo / "big.csv").hardlink_to(csv)
        (repo / "prepare.py").write_text(PREPARE_PY)
        (repo / "train.py").write_text(TRAIN_PY)
        (repo / "dvc.yaml").write_text(DVC_YAML.format(python=sys.executable))
        measure([*dvc, "init", "--no-scm", "-q"], cwd=repo).check()
        first_dvc = measure([*dvc, "repro"], cwd=repo).check()
        log(f"dvc first run {first_dvc.wall_s:.1f} s")

        mw_times, dvc_times = [], []
        for _ in range(args.repeat):
            again = measure(run, cwd=project, env=env).check()
            if "0 step(s) ran" not in again.stdout:
                raise SystemExit(f"mw reran something:\n{again.stdout}")
            mw_times.append(again.wall_s)
            repro = measure([*dvc, "repro"], cwd=repo).check()
            if "didn't change" not in repro.stdout and "up to date" not in repro.stdout:
                raise SystemExit(f"dvc reran something:\n{repro.stdout}")
            dvc_times.append(repro.wall_s)
    mw_s, dvc_s = statistics.median(mw_times), statistics.median(dvc_times)
    version = venv_version(dvc_bin, "dvc")
    print(f"\n{now_utc()}: {machine_line()}")
    print(f"input {size_mb:.0f} MB CSV ({rows:,} rows); median of {args.repeat} reruns\n")
    print(
        table(
            [
                ["first run", f"{first_mw.wall_s:.2f}", f"{first_dvc.wall_s:.2f}", ""],
                ["unchanged rerun", f"{mw_s:.2f}", f"{dvc_s:.2f}", f"{dvc_s / mw_s:.1f}x"],
            ],
            ["", "mw pipeline run s", f"dvc repro {version} s", "dvc / mw"],
        )
    )
    met = mw_s < TARGET_S
    print(f"\ntarget: unchanged rerun under {TARGET_S:.0f} s: {'met' if met else 'MISSED'}")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
