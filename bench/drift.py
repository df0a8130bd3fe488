"""Drift benchmark: Evidently's DataDriftPreset vs `mw monitor drift`, whole commands, same data.

Run from the repository root::

    python bench/drift.py                  # 100k and 1M rows x 25 columns (~5-8 min here)
    python bench/drift.py --rows 20000     # quick run
    python bench/drift.py --skip-evidently # modelward only

Data (seeded, written once to ``bench/_data/drift/ROWS/{reference,current}.parquet``):
25 columns, 20 numeric ``x00``-``x19`` of five shapes (normal, lognormal, uniform
with 5% NaN, Poisson(3) integers with heavy ties, gamma) and 5 categorical ``c0``-``c4``
(5 colours, 5 segments, 20 Zipf-skewed cities, 3 plans, yes/no). The current data is
drawn from the same distributions except in the deliberately drifted columns
(`DRIFTED`): x00 mean +0.5 std, x06 lognormal x1.5, x12 uniform +0.3, x18 Poisson(3)
-> Poisson(4), c1 segment mix change, c3 a new plan taking 10% of the rows.

The whole commands, each its own process (wall time from start to exit, peak RSS):

* Evidently 0.7.23 in ``bench/.venv-evidently`` (``pandas<3``; created on first
  run): a Python process that imports it, reads both files with
  ``pandas.read_parquet`` and runs ``Report([DataDriftPreset()]).run(current,
  reference)`` with an explicit ``DataDefinition`` and ``snapshot.dict()``. A column
  is drifted when its ValueDrift score is >= its threshold (distances) or < it
  (p-values), as Evidently reports it.
* ``mw monitor drift drift-clf@production --reference drift-ref@1 --current
  current.parquet --json`` against a home made once per size (``bench/_data/drift/
  ROWS/home``: the reference file as ``drift-ref@1``, and a LogisticRegression behind
  a fitted transform taking the 25 columns, aliased production; setup is not timed),
  first with no stored reference statistics (the command computes and stores them),
  then with them stored (the usual case: every later check of that version).

Also measured, for where the time goes: the drift engine in-process
(``compute_reference`` + ``detect_drift`` on Arrow tables, and ``detect_drift`` after
``ReferenceStats.from_bytes``), and Evidently's ``Report.run`` alone.

Targets: Evidently's whole process / each ``mw monitor drift`` command >= 20x at 1M
rows (at smaller sizes the ratio is shown, not judged: a command's ~3 s of
interpreter start and imports dominate there), and at every size the command's peak
RSS <= 0.5x Evidently's and the same drifted columns. Exit status 0 only if every
target is met and every step ran. ``--report FILE`` prints the tables again from a
``--json-out`` file, without measuring.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from _common import (  # noqa: E402
    DATA_DIR,
    BenchError,
    Measured,
    ensure_venv,
    last_json_line,
    log,
    machine_line,
    measure,
    mw_command,
    mw_env,
    now_utc,
    table,
    venv_version,
)

EVIDENTLY_REQUIREMENTS = ["evidently==0.7.23", "pandas<3"]
NUMERIC = [f"x{i:02d}" for i in range(20)]
CATEGORICAL = [f"c{i}" for i in range(5)]
DRIFTED = ("x00", "x06", "x12", "x18", "c1", "c3")
SEED = 20261128
TARGET_SPEEDUP = 20.0
TARGET_SPEEDUP_ROWS = 1_000_000  # the speed target is the issue's, at 1M rows; below,
# a command's ~3 s of interpreter and imports dominate and the ratio is shown only
TARGET_RSS_RATIO = 0.5


# --------------------------------------------------------------------------- data


def make_data(rows: int) -> Path:
    """Write (once) the seeded reference and current parquet files for `rows` rows."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = DATA_DIR / "drift" / str(rows)
    if (folder / "current.parquet").is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    log(f"writing {rows:,}-row reference and current data to {folder}")
    rng = np.random.default_rng([SEED, rows])
    colours = np.array(["red", "green", "blue", "black", "white"])
    segments = np.array(["retail", "smb", "enterprise", "public", "partner"])
    cities = np.array([f"city{i:02d}" for i in range(20)])
    city_p = 1 / np.arange(1, 21) ** 1.1
    plans = np.array(["free", "pro", "team", "business"])

    def frame(drift: bool) -> pa.Table:
        columns: dict[str, Any] = {}
        for i, name in enumerate(NUMERIC):
            shifted = drift and name in DRIFTED
            shape = i % 5
            if shape == 0:
                values = rng.normal(i, 1 + i / 10, rows) + (0.5 * (1 + i / 10) if shifted else 0)
            elif shape == 1:
                values = rng.lognormal(0, 0.8, rows) * (1.5 if shifted else 1.0)
            elif shape == 2:
                values = rng.uniform(0, 1, rows) + (0.3 if shifted else 0.0)
                values[rng.random(rows) < 0.05] = np.nan
            elif shape == 3:
                values = rng.poisson(4 if shifted else 3, rows).astype(np.float64)
            else:
                values = rng.gamma(2.0, 2.0, rows)
            columns[name] = values
        segment_p = [0.2, 0.25, 0.2, 0.2, 0.15] if drift else [0.4, 0.25, 0.2, 0.1, 0.05]
        plan_p = [0.5, 0.2, 0.2, 0.1] if drift else [0.6, 0.2, 0.2, 0.0]
        columns["c0"] = colours[rng.choice(5, rows, p=[0.3, 0.25, 0.2, 0.15, 0.1])]
        columns["c1"] = segments[rng.choice(5, rows, p=segment_p)]
        columns["c2"] = cities[rng.choice(20, rows, p=city_p / city_p.sum())]
        columns["c3"] = plans[rng.choice(4, rows, p=plan_p)]
        columns["c4"] = np.where(rng.random(rows) < 0.3, "yes", "no")
        return pa.table({k: pa.array(v, from_pandas=True) for k, v in columns.items()})

    pq.write_table(frame(False), folder / "reference.parquet")
    pq.write_table(frame(True), folder / "current.parquet")
    return folder


# --------------------------------------------------------------------------- the command's home

MODEL = "drift-clf"
REFERENCE = "drift-ref"


def home_of(folder: Path) -> Path:
    return folder / "home"


def worker_setup(folder: Path) -> dict[str, Any]:
    """Runs with MODELWARD_HOME=home_of(folder): the reference dataset version, and a model
    taking the 25 columns aliased production (LogisticRegression on a 20,000-row sample of
    the reference behind a fitted transform: median fill, one-hot)."""
    import pyarrow.parquet as pq
    from sklearn.linear_model import LogisticRegression

    import modelward as mw

    t0 = time.perf_counter()
    reference = mw.data.add(folder / "reference.parquet", name=REFERENCE)
    sample = pq.read_table(folder / "reference.parquet").slice(0, 20_000).to_pandas()
    sample["target"] = (sample["x00"] > sample["x00"].median()).astype(int)
    train = mw.data.add(sample, name="drift-train")
    with_nan = [name for name in NUMERIC if sample[name].isna().any()]
    spec = {
        "steps": [
            {"fill_missing": {"columns": with_nan, "strategy": "median"}},
            {"one_hot": {"columns": CATEGORICAL}},
        ]
    }
    prepared = mw.data.transform(train.ref, spec, name="drift-train-prep")
    frame = mw.data.load(prepared.ref)
    X, y = frame.drop(columns=["target"]), frame["target"]
    with mw.start_run(experiment="drift-bench") as run:
        run.log_model(LogisticRegression(max_iter=500).fit(X, y), name=MODEL, data=prepared.ref)
    mw.models.set_alias(MODEL, 1, "production")
    return {"reference": reference.ref, "setup_s": time.perf_counter() - t0}


def make_home(folder: Path, env: dict[str, str], timeout: float) -> Path:
    """The home `mw monitor drift` runs against (made once per data size)."""
    home = home_of(folder)
    if (home / "ready").is_file():
        return home
    log(f"registering {folder.name} reference rows and a model in {home}")
    me = [sys.executable, str(Path(__file__).resolve())]
    measure([*me, "--worker", "setup", str(folder)], env=env, timeout=timeout).check()
    (home / "ready").write_text("")
    return home


def forget_cached_reference(home: Path) -> None:
    """Remove the stored drift reference statistics, so the next check computes them."""
    import sqlite3

    with sqlite3.connect(home / "modelward.db") as conn:
        conn.execute("DELETE FROM drift_references")


# --------------------------------------------------------------------------- workers


def worker_evidently(folder: Path) -> dict[str, Any]:
    """Runs inside bench/.venv-evidently."""
    t0 = time.perf_counter()
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    t1 = time.perf_counter()
    reference = pd.read_parquet(folder / "reference.parquet")
    current = pd.read_parquet(folder / "current.parquet")
    t2 = time.perf_counter()
    definition = DataDefinition(numerical_columns=NUMERIC, categorical_columns=CATEGORICAL)
    snapshot = Report([DataDriftPreset()]).run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )
    result = snapshot.dict()
    t3 = time.perf_counter()
    drifted, methods = [], {}
    for metric in result["metrics"]:
        config = metric.get("config", {})
        if not str(config.get("type", "")).endswith("ValueDrift"):
            continue
        method, threshold, value = config["method"], config["threshold"], metric["value"]
        is_pvalue = "p_value" in method or "p-value" in method
        if (value < threshold) if is_pvalue else (value >= threshold):
            drifted.append(config["column"])
        methods[config["column"]] = method
    return {
        "import_s": t1 - t0,
        "read_s": t2 - t1,
        "run_s": t3 - t2,
        "drifted": sorted(drifted),
        "methods": sorted(set(methods.values())),
    }


def worker_modelward(folder: Path, cache: Path, cached: bool) -> dict[str, Any]:
    t0 = time.perf_counter()
    import pyarrow.parquet as pq
    import scipy.stats  # noqa: F401  (imported lazily by detect_drift; Evidently's is untimed too)

    from modelward.monitoring.drift import ReferenceStats, compute_reference, detect_drift

    t1 = time.perf_counter()
    out: dict[str, Any] = {"import_s": t1 - t0}
    if cached:
        reference = ReferenceStats.from_bytes(cache.read_bytes())
        out["load_reference_s"] = time.perf_counter() - t1
    else:
        table = pq.read_table(folder / "reference.parquet")
        t2 = time.perf_counter()
        reference = compute_reference(table)
        t3 = time.perf_counter()
        data = reference.to_bytes()
        cache.write_bytes(data)
        del table
        out.update(read_reference_s=t2 - t1, reference_s=t3 - t2, reference_bytes=len(data))
    t4 = time.perf_counter()
    current = pq.read_table(folder / "current.parquet")
    t5 = time.perf_counter()
    report = detect_drift(reference, current)
    t6 = time.perf_counter()
    out.update(read_current_s=t5 - t4, check_s=t6 - t5)
    out["drifted"] = sorted(report.drifted_features)
    out["dataset_drifted"] = report.drifted
    return out


# --------------------------------------------------------------------------- driver


def run_size(rows: int, args: argparse.Namespace, evidently_bin: Path | None) -> dict[str, Any]:
    folder = make_data(rows)
    result: dict[str, Any] = {"rows": rows, "errors": []}
    me = [sys.executable, str(Path(__file__).resolve())]
    env = mw_env()

    def best(mode: str) -> tuple[Measured, dict[str, Any]] | None:
        runs: list[tuple[Measured, dict[str, Any]]] = []
        for _ in range(args.repeat):
            try:
                m = measure([*me, "--worker", mode, str(folder)], env=env, timeout=args.timeout)
                runs.append((m.check(), last_json_line(m.stdout)))
            except BenchError as exc:
                result["errors"].append(f"modelward {mode}: {exc}")
                return None
        first = "load_reference_s" if mode == "cached" else "reference_s"
        return min(runs, key=lambda r: float(r[1][first]) + float(r[1]["check_s"]))

    home = make_home(folder, {**env, "MODELWARD_HOME": str(home_of(folder))}, args.timeout)
    command = [
        *mw_command(),
        "monitor",
        "drift",
        f"{MODEL}@production",
        "--reference",
        f"{REFERENCE}@1",
        "--current",
        str(folder / "current.parquet"),
        "--json",
    ]
    command_env = {**env, "MODELWARD_HOME": str(home)}

    def best_command(cached: bool) -> dict[str, Any] | None:
        runs: list[tuple[Measured, dict[str, Any]]] = []
        for _ in range(args.repeat):
            if not cached:
                forget_cached_reference(home)
            try:
                m = measure(command, env=command_env, timeout=args.timeout).check()
            except BenchError as exc:
                result["errors"].append(f"mw monitor drift: {exc}")
                return None
            runs.append((m, json.loads(m.stdout)))
        m, out = min(runs, key=lambda r: r[0].wall_s)
        return {
            "wall_s": m.wall_s,
            "rss_mb": m.peak_rss_mb,
            "json_bytes": len(m.stdout.encode()),
            "drifted": sorted(out["dataset"]["drifted_features"]),
        }

    log(f"{rows:,} rows: mw monitor drift, first check of the reference ({args.repeat} runs)")
    result["command_first"] = best_command(cached=False)
    log(f"{rows:,} rows: mw monitor drift, reference statistics stored ({args.repeat} runs)")
    result["command_cached"] = best_command(cached=True)
    log(f"{rows:,} rows: modelward compute_reference + detect_drift ({args.repeat} runs)")
    full = best("modelward")
    if full is not None:
        result["modelward"] = {**full[1], "wall_s": full[0].wall_s, "rss_mb": full[0].peak_rss_mb}
        log(f"{rows:,} rows: modelward detect_drift with the cached reference")
        hot = best("cached")
        if hot is not None:
            result["cached"] = {**hot[1], "wall_s": hot[0].wall_s, "rss_mb": hot[0].peak_rss_mb}
    if evidently_bin is not None:
        log(f"{rows:,} rows: Evidently DataDriftPreset (one run; ~2 min at 1M rows)")
        cmd = [str(evidently_bin / "python"), str(Path(__file__).resolve())]
        try:
            m = measure([*cmd, "--worker", "evidently", str(folder)], timeout=args.timeout)
            ev = last_json_line(m.check().stdout)
            result["evidently"] = {**ev, "wall_s": m.wall_s, "rss_mb": m.peak_rss_mb}
        except BenchError as exc:
            result["errors"].append(f"evidently: {exc}")
    return result


def report(results: list[dict[str, Any]]) -> bool:
    ok = True
    rows, engine_rows, ratio_rows = [], [], []
    for r in results:
        n = f"{r['rows']:,}"
        ev, mw, hot = r.get("evidently"), r.get("modelward"), r.get("cached")
        first, stored = r.get("command_first"), r.get("command_cached")
        if ev:
            rows.append([n, "Evidently: the whole process (import, read, Report.run, dict)",
                         f"{ev['wall_s']:.2f} s", f"{ev['rss_mb']:,.0f} MB",
                         f"Report.run {ev['run_s']:.2f} s"])  # fmt: skip
        for label, cmd in (("reference statistics computed and stored", first),
                           ("reference statistics stored", stored)):  # fmt: skip
            if cmd:
                rows.append([n, f"`mw monitor drift --json`, {label}", f"{cmd['wall_s']:.2f} s",
                             f"{cmd['rss_mb']:,.0f} MB",
                             f"JSON {cmd['json_bytes'] / 1024:.1f} KiB"])  # fmt: skip
        if mw:
            work = mw["reference_s"] + mw["check_s"]
            engine_rows += [
                [n, "compute_reference", f"{mw['reference_s']:.2f} s", "",
                 f"to_bytes {mw['reference_bytes'] / 2**20:.1f} MiB"],
                [n, "detect_drift (reference just computed)", f"{mw['check_s']:.2f} s", "", ""],
                [n, "compute_reference + detect_drift", f"{work:.2f} s",
                 f"{mw['rss_mb']:,.0f} MB", f"process {mw['wall_s']:.1f} s"],
            ]  # fmt: skip
        if hot:
            check = hot["load_reference_s"] + hot["check_s"]
            rss, process = f"{hot['rss_mb']:,.0f} MB", f"process {hot['wall_s']:.1f} s"
            engine_rows.append([n, "from_bytes + detect_drift", f"{check:.2f} s", rss, process])
        if ev and first and stored:
            speedups = [ev["wall_s"] / first["wall_s"], ev["wall_s"] / stored["wall_s"]]
            rss = max(first["rss_mb"], stored["rss_mb"]) / ev["rss_mb"]
            same = ev["drifted"] == first["drifted"] == stored["drifted"]
            judged = r["rows"] >= TARGET_SPEEDUP_ROWS
            fast = min(speedups) >= TARGET_SPEEDUP or not judged

            def verdict(x: float, judged: bool = judged) -> str:
                return ("PASS" if x >= TARGET_SPEEDUP else "FAIL") if judged else "(not judged)"

            ok &= fast and rss <= TARGET_RSS_RATIO and same
            ratio_rows.append([
                n,
                f"{speedups[0]:.0f}x {verdict(speedups[0])}",
                f"{speedups[1]:.0f}x {verdict(speedups[1])}",
                f"{rss:.2f} {'PASS' if rss <= TARGET_RSS_RATIO else 'FAIL'}",
                "PASS" if same else "FAIL",
            ])  # fmt: skip
        elif not (first and stored):
            ok = False
        ok &= not r["errors"]
    print("Whole commands:\n")
    print(table(rows, ["rows", "command", "wall time", "peak RSS", "note"]))
    print()
    if ratio_rows:
        header = [
            "rows",
            "Evidently / mw, first check (>= 20x at 1M)",
            "Evidently / mw, stored reference (>= 20x at 1M)",
            "mw / Evidently peak RSS (<= 0.5)",
            "same drifted columns",
        ]
        print(table(ratio_rows, header))
        print()
    if engine_rows:
        print("The drift engine in-process (each in its own process; time of the step):\n")
        print(table(engine_rows, ["rows", "step", "time", "peak RSS", "note"]))
        print()
    print(f"deliberately drifted: {', '.join(DRIFTED)}")
    for r in results:
        for tool in ("evidently", "command_first", "command_cached", "modelward", "cached"):
            if r.get(tool):
                found = r[tool]["drifted"]
                mark = "as planted" if tuple(found) == tuple(sorted(DRIFTED)) else "DIFFERENT"
                print(f"{r['rows']:>10,} {tool:<14} {', '.join(found) or '-'} ({mark})")
        if "evidently" in r:
            print(f"{r['rows']:>10,} Evidently methods: {', '.join(r['evidently']['methods'])}")
        for error in r["errors"]:
            print(f"{r['rows']:>10,} ERROR {error}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=3, help="modelward runs (best kept)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per process")
    parser.add_argument("--skip-evidently", action="store_true")
    parser.add_argument("--json-out", type=Path)
    parser.add_argument("--report", type=Path, help="print the tables of a --json-out file")
    parser.add_argument(
        "--worker", choices=["evidently", "modelward", "cached", "setup"], help=argparse.SUPPRESS
    )
    parser.add_argument("folder", nargs="?", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        cache = args.folder / "reference.mwdrift"
        if args.worker == "evidently":
            out = worker_evidently(args.folder)
        elif args.worker == "setup":
            out = worker_setup(args.folder)
        else:
            out = worker_modelward(args.folder, cache, cached=args.worker == "cached")
        print(json.dumps(out))
        return 0
    if args.report:
        return 0 if report(json.loads(args.report.read_text())) else 1
    print(f"# Drift benchmark, {now_utc()}\n\n{machine_line()}\n")
    evidently_bin = None
    if not args.skip_evidently:
        evidently_bin = ensure_venv("evidently", EVIDENTLY_REQUIREMENTS)
        print(f"evidently {venv_version(evidently_bin, 'evidently')}, "
              f"pandas {venv_version(evidently_bin, 'pandas')} (its venv)\n")  # fmt: skip
    results = [run_size(rows, args, evidently_bin) for rows in args.rows]
    ok = report(results)
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
