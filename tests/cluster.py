"""A real Dask cluster on 127.0.0.1 for tests: a `dask scheduler` process and worker
processes (`dask worker`, one thread each, no nanny), on free ports, stopped by PID.

    with dask_cluster(workers=2) as cluster:
        executor_for(cluster.address)

or the `dask_cluster_address` fixture (`pytest_plugins = ["tests.cluster"]` or an import
of the fixture in a test module). The processes see this checkout first on their path,
so they import the modelward under test and the `tests` package (tasks defined in test
modules are pickled by reference).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
START_SECONDS = 60.0


@dataclass
class DaskCluster:
    """The address of a running scheduler and the processes behind it."""

    address: str
    scheduler: subprocess.Popen[bytes]
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: Path = Path()

    def log(self) -> str:
        """Everything the processes wrote (for a failing test's message)."""
        return "\n".join(
            f"== {path.name}\n{path.read_text(errors='replace')}"
            for path in sorted(self.logs.glob("*.log"))
        )


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _environment(extra: Mapping[str, str]) -> dict[str, str]:
    paths = [str(REPO_ROOT / "src"), str(REPO_ROOT)]
    inherited = os.environ.get("PYTHONPATH")
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([*paths, *([inherited] if inherited else [])]),
        # a task whose worker died is not retried on the next worker: it fails at once
        "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        **extra,
    }


def _start(argv: list[str], log: Path, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, env=dict(env), cwd=REPO_ROOT
        )


def _wait_for_port(port: int, process: subprocess.Popen[bytes], deadline: float) -> None:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the dask scheduler exited with status {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.1)
    raise RuntimeError(f"the dask scheduler did not listen on port {port} in time")


def _wait_for_workers(address: str, count: int, deadline: float) -> None:
    from distributed import Client

    with Client(address, timeout=max(1.0, deadline - time.monotonic())) as client:
        client.wait_for_workers(count, timeout=max(1.0, deadline - time.monotonic()))


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop one process by its PID: SIGTERM, then SIGKILL after 10 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@contextlib.contextmanager
def dask_cluster(workers: int = 2, env: Mapping[str, str] | None = None) -> Iterator[DaskCluster]:
    """A scheduler and `workers` single-threaded workers, until the block ends."""
    logs = Path(tempfile.mkdtemp(prefix="mw-dask-"))
    environment = _environment(env or {})
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler_argv = ["-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1"]
    scheduler_argv += ["--port", str(port), "--no-dashboard"]
    scheduler = _start([sys.executable, *scheduler_argv], logs / "scheduler.log", environment)
    cluster = DaskCluster(address, scheduler, logs=logs)
    try:
        deadline = time.monotonic() + START_SECONDS
        _wait_for_port(port, scheduler, deadline)
        for number in range(1, workers + 1):
            worker_argv = ["-m", "distributed.cli.dask_worker", address, "--host", "127.0.0.1"]
            worker_argv += ["--nthreads", "1", "--no-nanny", "--no-dashboard"]
            worker_argv += ["--name", f"worker-{number}"]
            worker_argv += ["--local-directory", str(logs / f"worker-{number}")]
            log = logs / f"worker-{number}.log"
            cluster.workers.append(_start([sys.executable, *worker_argv], log, environment))
        _wait_for_workers(address, workers, deadline)
        yield cluster
    finally:
        for process in [*cluster.workers, scheduler]:
            stop(process)


@pytest.fixture(scope="module")
def dask_cluster_address() -> Iterator[str]:
    """The address of a real two-worker Dask cluster, shared by a test module."""
    with dask_cluster(workers=2) as cluster:
        yield cluster.address
