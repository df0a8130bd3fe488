"""Monitor leases: one process per model runs the monitor, whatever the number of
servers, workers and machines over one store.

A process holds the lease of a model until `expires_ms`, and renews it every monitor
round; another takes it over once it expires, at once when it was released, or when
its holder is a process of this host that no longer exists. Held in the metadata
database (a file lock would hold on one host only), one short transaction each.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from modelward.store.database import Database
from modelward.store.tables import monitor_leases


@dataclass(frozen=True)
class LeaseHolder:
    """A process that holds (or asks for) a monitor lease."""

    host: str
    pid: int
    parent_pid: int
    token: str = ""  # tells apart two monitors of one process

    @property
    def name(self) -> str:
        """`host:pid:token`, as the lease records it."""
        return f"{self.host}:{self.pid}:{self.token}"

    @classmethod
    def this_process(cls) -> LeaseHolder:
        """A new holder in the calling process."""
        return cls(socket.gethostname()[:128], os.getpid(), os.getppid(), uuid.uuid4().hex[:12])

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description."""
        return {
            "host": self.host,
            "pid": self.pid,
            "parent_pid": self.parent_pid,
            "token": self.token,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LeaseHolder:
        """The holder a `to_dict()` describes."""
        return cls(str(data["host"]), int(data["pid"]), int(data["parent_pid"]), str(data["token"]))


def gone(holder: LeaseHolder) -> bool:
    """Whether `holder` is a process of this host that has ended."""
    if holder.host != socket.gethostname()[:128]:
        return False
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:  # a zombie (ended, not yet reaped by its parent) holds nothing
        with open(f"/proc/{holder.pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] == b"Z"
    except OSError:
        return False


class MonitorLeaseRepository:
    """Monitor leases in the metadata database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def acquire(self, model: str, holder: LeaseHolder, ttl_seconds: float) -> LeaseHolder | None:
        """Take or renew the lease of `model` for `ttl_seconds`; None when `holder` holds it
        now, else the process that does."""
        try:
            return self._acquire(model, holder, ttl_seconds)
        except sa.exc.IntegrityError:  # another process inserted the first lease meanwhile
            return self._acquire(model, holder, ttl_seconds)

    def _acquire(self, model: str, holder: LeaseHolder, ttl_seconds: float) -> LeaseHolder | None:
        now = int(time.time() * 1000)
        expires = now + int(ttl_seconds * 1000)
        table = monitor_leases.c
        with self.db.write() as conn:
            row = conn.execute(
                sa.select(monitor_leases).where(table.model_name == model).with_for_update()
            ).first()
            if row is not None and row.holder != holder.name and row.expires_ms > now:
                current = LeaseHolder(
                    row.host, row.pid, row.parent_pid, row.holder.rsplit(":", 1)[-1]
                )
                if not gone(current):
                    return current
            values = {
                "holder": holder.name,
                "host": holder.host,
                "pid": holder.pid,
                "parent_pid": holder.parent_pid,
                "expires_ms": expires,
            }
            if row is None:
                conn.execute(
                    monitor_leases.insert().values(model_name=model, acquired_ms=now, **values)
                )
            else:
                if row.holder != holder.name:
                    values["acquired_ms"] = now
                conn.execute(
                    monitor_leases.update().where(table.model_name == model).values(**values)
                )
        return None

    def release(self, model: str, holder: LeaseHolder) -> None:
        """Give the lease of `model` up, if `holder` holds it."""
        table = monitor_leases.c
        with self.db.write() as conn:
            conn.execute(
                monitor_leases.delete().where(
                    table.model_name == model, table.holder == holder.name
                )
            )
