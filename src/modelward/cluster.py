"""Connecting to a Dask cluster (`--cluster tcp://host:port`), for every command that has one.

Connecting is the first thing such a command does, so an unreachable scheduler or a
cluster without workers fails in a few seconds, with one line, before any work.
"""

from __future__ import annotations

import re
from typing import Any

from modelward.errors import InvalidInput, ModelwardError

CONNECT_SECONDS = 5.0
_ADDRESS = re.compile(r"^(tcp|tls)://[^\s/:]+:\d{1,5}$")


def cluster_address(address: str) -> str:
    """`tcp://host:port` (or `tls://`) checked; InvalidInput otherwise."""
    address = address.strip()
    if not _ADDRESS.match(address):
        raise InvalidInput(
            f"--cluster {address!r} is not a Dask scheduler address: use tcp://host:port"
        )
    return address


def connect(address: str, *, connect_seconds: float = CONNECT_SECONDS) -> Any:
    """A `distributed.Client` of the scheduler at `address` once a worker has joined;
    ModelwardError (one line) when it cannot be reached or has no worker in time."""
    address = cluster_address(address)
    try:
        from distributed import Client
    except ImportError:
        raise ModelwardError(
            "--cluster needs Dask's distributed: pip install 'modelward[cluster]'"
        ) from None
    try:
        client = Client(address, timeout=connect_seconds, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        detail = " ".join(str(exc).split())[:200]
        because = "" if detail.startswith("Timed out") else f": {detail}"
        raise ModelwardError(
            f"cannot reach the Dask scheduler at {address} within {connect_seconds:g} s{because}"
        ) from None
    try:
        client.wait_for_workers(1, timeout=connect_seconds)
    except (OSError, TimeoutError):
        client.close()
        raise ModelwardError(
            f"the Dask cluster at {address} has no workers "
            f"(none joined within {connect_seconds:g} s)"
        ) from None
    return client


def worker_threads(client: Any) -> int:
    """How many tasks the cluster runs at once (its workers' threads, at least 1)."""
    workers = client.scheduler_info(n_workers=-1)["workers"].values()
    return max(1, sum(int(w.get("nthreads", 1)) for w in workers))
