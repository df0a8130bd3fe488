"""Shared helpers for the benchmark scripts in bench/ (not a benchmark itself).

- competitor virtualenvs (``bench/.venv-NAME``), created on first use with
  ``python -m venv`` + pip, so competitors never mix with modelward's own deps;
- locating the ``mw`` command;
- running a child process while measuring its wall time and peak RSS
  (``os.wait4`` gives the rusage of exactly that child, no /usr/bin/time needed);
- small formatting helpers.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
DATA_DIR = BENCH_DIR / "_data"

# How long a competitor install may take before we give up (pip over PyPI).
PIP_TIMEOUT_S = 1200


class BenchError(RuntimeError):
    """A benchmark step could not run (missing tool, failed install, timeout)."""


# --------------------------------------------------------------------------- venvs


def venv_bin(name: str) -> Path:
    return BENCH_DIR / f".venv-{name}" / "bin"


def ensure_venv(name: str, requirements: list[str], *, quiet: bool = False) -> Path:
    """Return the bin/ dir of ``bench/.venv-NAME``, creating it on first use.

    The requirement list is recorded in the venv; a different list rebuilds it.
    """
    root = BENCH_DIR / f".venv-{name}"
    marker = root / ".bench-requirements.json"
    wanted = json.dumps(sorted(requirements))
    if marker.is_file() and marker.read_text() == wanted:
        return root / "bin"
    if root.exists():
        shutil.rmtree(root)
    log(
        f"creating {root.relative_to(REPO_ROOT)} with {' '.join(requirements)} "
        "(first run only; may take a few minutes)",
        quiet=quiet,
    )
    t0 = time.perf_counter()
    _run_checked([sys.executable, "-m", "venv", str(root)], timeout=300)
    pip = [str(root / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    _run_checked([*pip, "install", "-q", "--upgrade", "pip"], timeout=PIP_TIMEOUT_S)
    _run_checked([*pip, "install", "-q", *requirements], timeout=PIP_TIMEOUT_S)
    marker.write_text(wanted)
    log(f"installed in {time.perf_counter() - t0:.0f} s", quiet=quiet)
    return root / "bin"


def _run_checked(cmd: list[str], *, timeout: float) -> None:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"timed out after {timeout:.0f} s: {' '.join(cmd)}") from exc
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-15:]
        raise BenchError(f"failed ({proc.returncode}): {' '.join(cmd)}\n" + "\n".join(tail))


def venv_version(bin_dir: Path, dist: str) -> str:
    code = f"import importlib.metadata as m; print(m.version({dist!r}))"
    out = subprocess.run(
        [str(bin_dir / "python"), "-c", code], capture_output=True, text=True, timeout=120
    )
    return out.stdout.strip() or "?"


# --------------------------------------------------------------------------- modelward


def mw_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for running modelward: this tree's ``src/`` first on PYTHONPATH.

    So the benchmark measures the code in this checkout even before (or without)
    ``pip install -e .``; with an editable install it is the same code anyway.
    """
    env = dict(os.environ if base is None else base)
    src = str(REPO_ROOT / "src")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH", "")) if p)
    return env


def mw_command() -> list[str]:
    """The command that runs modelward's CLI, preferring the real console script.

    The console script next to ``sys.executable`` is used before anything on PATH,
    because a pyenv shim on PATH is a shell script that adds ~50 ms per call.
    """
    beside = Path(sys.executable).parent / "mw"
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside)]
    found = shutil.which("mw")
    if found and "shims" not in found:
        return [found]
    return [sys.executable, "-m", "modelward"]


def modelward_version() -> str:
    code = "import importlib.metadata as m; print(m.version('modelward'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    return out.stdout.strip() or "not installed"


# --------------------------------------------------------------------------- timing


@dataclass
class Measured:
    cmd: list[str]
    wall_s: float
    peak_rss_mb: float
    returncode: int
    stdout: str
    stderr: str

    def check(self) -> Measured:
        if self.returncode != 0:
            tail = "\n".join((self.stderr or self.stdout).strip().splitlines()[-15:])
            raise BenchError(f"exit {self.returncode}: {' '.join(self.cmd)}\n{tail}")
        return self


def measure(
    cmd: list[str],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 1800,
) -> Measured:
    """Run ``cmd`` and return its wall time and peak RSS (from ``os.wait4``).

    Output goes to temporary files (not pipes) so nothing has to be read while
    the child runs. On timeout the child's process group is killed.
    """
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        timed_out = threading.Event()

        def _kill() -> None:
            timed_out.set()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

        timer = threading.Timer(timeout, _kill)
        timer.start()
        try:
            _, status, rusage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)  # already reaped
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if timed_out.is_set():
        raise BenchError(f"timed out after {timeout:.0f} s: {' '.join(cmd)}")
    # Linux reports ru_maxrss in KiB.
    return Measured(cmd, wall, rusage.ru_maxrss / 1024, proc.returncode, stdout, stderr)


def last_json_line(text: str) -> dict[str, Any]:
    """The last line of ``text`` that parses as a JSON object."""
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(value, dict):
                return value
    raise BenchError(f"no JSON object in output:\n{text[-2000:]}")


def drop_dirty_pages() -> None:
    """Flush written data to disk so one step's writeback does not slow the next."""
    os.sync()


# --------------------------------------------------------------------------- output


def log(msg: str, *, quiet: bool = False) -> None:
    if not quiet:
        print(f"[bench] {msg}", file=sys.stderr, flush=True)


def machine_line() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem_gb:.0f} GiB RAM, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}; "
        f"load average at start {load}"
    )


def now_utc() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def table(rows: list[list[str]], header: list[str]) -> str:
    """A GitHub-flavoured markdown table (also readable on a terminal)."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def fmt(r: list[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([fmt(header), sep, *(fmt(r) for r in rows)])
