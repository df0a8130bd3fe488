"""CLI start-up benchmark: ``mw --help`` versus ``mlflow --help`` / ``mlflow --version``.

Run from the repository root::

    python bench/cli_startup.py              # 10 timed runs per command (+1 discarded)
    python bench/cli_startup.py --runs 3     # quick run

Each command is started as a new process N+1 times; the first run is discarded
(it compiles .pyc files and warms the page cache), and the median and minimum wall
times of the rest are reported, with the ratio to ``mw --help``. It uses
``hyperfine`` (Debian package; ``--shell=none``) when it is on PATH, else a Python
timing loop. MLflow (``mlflow==3.17.2``) is installed on first run into
``bench/.venv-mlflow``.

It also checks that ``mw --help`` does not import the heavy libraries (pandas,
numpy, scikit-learn, SQLAlchemy, pyarrow, scipy, alembic): it runs the CLI's
``main`` in a child process and reads ``sys.modules`` afterwards, and it prints the
``python -X importtime`` cost of ``import modelward.cli.main``.

Target: ``mw --help`` median < 150 ms, with no heavy library imported.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    BenchError,
    ensure_venv,
    last_json_line,
    log,
    machine_line,
    modelward_version,
    mw_command,
    mw_env,
    now_utc,
    table,
    venv_version,
)

MLFLOW_REQ = "mlflow==3.17.2"
TARGET_MS = 150.0
HEAVY = ("pandas", "numpy", "sklearn", "scipy", "sqlalchemy", "pyarrow", "alembic")

# Runs the CLI exactly as the console script does, then reports sys.modules.
MODULES_PROBE = """
import contextlib, io, json, sys
heavy = json.loads(sys.argv[1])
sys.argv = ["mw", *json.loads(sys.argv[2])]
out = io.StringIO()
code = 0
try:
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        from modelward.cli.main import main
        main()
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
loaded = sorted(m for m in heavy if m in sys.modules)
print(json.dumps({"exit": code, "heavy_loaded": loaded, "modules": len(sys.modules),
                  "printed": len(out.getvalue())}))
"""


def time_hyperfine(
    cmds: dict[str, list[str]], runs: int, env: dict[str, str], timeout: float
) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "hf.json"
        args = [
            "hyperfine",
            "--shell=none",
            "--warmup",
            "1",
            "--runs",
            str(runs),
            "--style",
            "none",
            "--export-json",
            str(out),
        ]
        for name, cmd in cmds.items():
            args += ["--command-name", name, shlex.join(cmd)]
        proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise BenchError(f"hyperfine failed: {proc.stderr.strip()[-1500:]}")
        data = json.loads(out.read_text())
    return {r["command"]: [float(t) for t in r["times"]] for r in data["results"]}


def time_loop(
    cmds: dict[str, list[str]], runs: int, env: dict[str, str], timeout: float
) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {}
    for name, cmd in cmds.items():
        walls = []
        for _ in range(runs + 1):
            t0 = time.perf_counter()
            proc = subprocess.run(
                cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=timeout
            )
            walls.append(time.perf_counter() - t0)
            if proc.returncode != 0:
                raise BenchError(f"exit {proc.returncode}: {shlex.join(cmd)}")
        times[name] = walls[1:]  # first run discarded
    return times


def check_runs(cmds: dict[str, list[str]], env: dict[str, str]) -> dict[str, str]:
    """Run each command once; return an error per command that does not exit 0."""
    errors = {}
    for name, cmd in cmds.items():
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [""]
            errors[name] = f"exit {proc.returncode}: {tail[0][:200]}"
    return errors


def modules_after(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", MODULES_PROBE, json.dumps(HEAVY), json.dumps(args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if proc.returncode != 0:
        raise BenchError(proc.stderr.strip()[-500:])
    return last_json_line(proc.stdout)


def importtime(env: dict[str, str]) -> dict[str, Any]:
    """``python -X importtime -c 'import modelward.cli.main'``: total and top modules."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import modelward.cli.main"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if proc.returncode != 0:
        raise BenchError(proc.stderr.strip().splitlines()[-1])
    rows: list[tuple[int, int, str]] = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cum_us, name = (p for p in line[len("import time:") :].split("|"))
        rows.append((int(self_us), int(cum_us), name.rstrip()))
    # Rows come in completion order: the interpreter's own start-up (ending with the
    # top-level `site`) first, then what `import modelward.cli.main` pulled in.
    sites = [i for i, (_, _, n) in enumerate(rows) if n == " site"]
    ours = rows[sites[-1] + 1 :] if sites else rows
    top_level = [(n.strip(), c) for _, c, n in ours if not n.startswith("  ")]
    heavy = sorted({n.strip().split(".")[0] for _, _, n in ours} & set(HEAVY))
    by_self = sorted(ours, key=lambda r: -r[0])[:6]
    return {
        "total_ms": sum(c for _, c in top_level) / 1000,
        "modules": len(ours),
        "heavy_imported": heavy,
        "top_level_ms": [(n, c / 1000) for n, c in top_level],
        "largest_self_ms": [(n.strip(), s / 1000) for s, _, n in by_self],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description="Cold start of `mw --help` vs `mlflow --help` / `mlflow --version`."
    )
    p.add_argument(
        "--runs",
        type=int,
        default=10,
        help="timed runs per command (one more is run first and discarded)",
    )
    p.add_argument(
        "--no-hyperfine",
        action="store_true",
        help="use the Python timing loop even if hyperfine is installed",
    )
    p.add_argument("--skip-mlflow", action="store_true", help="time modelward only")
    p.add_argument(
        "--timeout",
        type=float,
        default=600,
        help="limit for the whole timing of all commands, seconds",
    )
    p.add_argument("--json-out", type=Path, help="also write raw results to this file")
    args = p.parse_args(argv)

    env = mw_env()
    env.pop("MODELWARD_URI", None)
    # Keep the user's real home out of it: mw --help must not need a store anyway.
    home = tempfile.mkdtemp(prefix="mw-startup-")
    env["MODELWARD_HOME"] = os.path.join(home, ".modelward")

    mw = mw_command()
    cmds: dict[str, list[str]] = {
        "python -c pass (interpreter floor)": [sys.executable, "-c", "pass"],
        "mw --help": [*mw, "--help"],
    }
    mlflow_version = "n/a"
    if not args.skip_mlflow:
        try:
            bin_dir = ensure_venv("mlflow", [MLFLOW_REQ])
            mlflow_version = venv_version(bin_dir, "mlflow")
            cmds["mlflow --help"] = [str(bin_dir / "mlflow"), "--help"]
            cmds["mlflow --version"] = [str(bin_dir / "mlflow"), "--version"]
        except BenchError as exc:
            log(f"mlflow unavailable, timing modelward only: {exc}")

    failed = check_runs(cmds, env)
    for name, err in failed.items():
        log(f"{name} does not run, not timed: {err}")
    timed = {k: v for k, v in cmds.items() if k not in failed}

    use_hf = bool(shutil.which("hyperfine")) and not args.no_hyperfine
    log(
        f"timing {len(timed)} commands x {args.runs} runs with "
        f"{'hyperfine' if use_hf else 'a Python loop'}"
    )
    timer = time_hyperfine if use_hf else time_loop
    times = timer(timed, args.runs, env, args.timeout)
    shutil.rmtree(home, ignore_errors=True)

    mw_med = statistics.median(times["mw --help"]) if "mw --help" in times else None
    rows = []
    for name in cmds:
        if name not in times:
            rows.append([name, "n/a", "n/a", "n/a", failed.get(name, "")])
            continue
        med = statistics.median(times[name])
        ratio = f"{med / mw_med:.1f}x" if mw_med and name != "mw --help" else ""
        rows.append([name, f"{med * 1000:.0f} ms", f"{min(times[name]) * 1000:.0f} ms", ratio, ""])

    checks: dict[str, Any] = {}
    for probe in (["--help"], ["data", "--help"], ["data", "add", "--help"]):
        try:
            checks["mw " + " ".join(probe)] = modules_after(probe, env)
        except BenchError as exc:
            checks["mw " + " ".join(probe)] = {"error": str(exc).splitlines()[-1]}
    try:
        imp: dict[str, Any] = importtime(env)
    except BenchError as exc:
        imp = {"error": str(exc)}

    help_heavy = checks["mw --help"].get("heavy_loaded")
    ok = mw_med is not None and mw_med * 1000 < TARGET_MS and help_heavy == []

    print(f"\ncommand: python bench/{Path(__file__).name} {' '.join(sys.argv[1:])}".rstrip())
    print(f"machine: {machine_line()}")
    print(
        f"date: {now_utc()}; modelward {modelward_version()}; mlflow {mlflow_version}; "
        f"timer: {'hyperfine --shell=none --warmup 1' if use_hf else 'Python loop'}, "
        f"{args.runs} runs each; mw = {shlex.join(mw)}"
    )
    print()
    print(table(rows, ["command", "median", "min", "median / mw --help", "note"]))
    print()
    verdict = (
        "n/a"
        if mw_med is None
        else (f"{mw_med * 1000:.0f} ms -> {'PASS' if mw_med * 1000 < TARGET_MS else 'FAIL'}")
    )
    print(f"target: mw --help median < {TARGET_MS:.0f} ms: {verdict}")
    print()
    check_rows = []
    for name, c in checks.items():
        if "error" in c:
            check_rows.append([name, "error", c["error"][:80]])
        else:
            heavy = ", ".join(c["heavy_loaded"]) or "none"
            check_rows.append([name, f"exit {c['exit']}, {c['modules']} modules", heavy])
    print(table(check_rows, ["in-process run of", "result", f"heavy libs loaded of {HEAVY}"]))
    print()
    if "error" in imp:
        print(f"python -X importtime -c 'import modelward.cli.main': error: {imp['error']}")
    else:
        print(
            f"python -X importtime -c 'import modelward.cli.main': "
            f"{imp['total_ms']:.0f} ms for {imp['modules']} modules beyond interpreter "
            f"start-up; heavy libs: {', '.join(imp['heavy_imported']) or 'none'}"
        )
        print("  top-level: " + ", ".join(f"{n} {ms:.0f} ms" for n, ms in imp["top_level_ms"]))
        print(
            "  largest self time: "
            + ", ".join(f"{n} {ms:.1f} ms" for n, ms in imp["largest_self_ms"])
        )
    if args.json_out:
        args.json_out.write_text(
            json.dumps(
                {"times_s": times, "checks": checks, "importtime": imp, "failed": failed}, indent=2
            )
        )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
