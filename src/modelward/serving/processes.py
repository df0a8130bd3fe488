"""Server processes: a socket bound first, uvicorn in one process, or forked workers.

Shared by `mw serve` and `mw server`:

    sock = bind(host, port)                            # a port in use fails here
    serve(sock, app, escalate=True)                    # this process, until SIGTERM/SIGINT
    Supervisor(4, lambda: serve(sock, app, ...)).run()  # four forked workers, one socket

Every stop that was asked for (SIGTERM, SIGINT) lets in-flight requests finish,
then the process exits 0: the supervisor forwards the stop to each worker and
returns once all of them have exited. A worker that dies is replaced; one that
keeps dying stops the server with an error.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
import socket
from collections.abc import Callable
from types import FrameType

import uvicorn
from starlette.types import ASGIApp

from modelward.errors import InvalidInput, ModelwardError

log = logging.getLogger("modelward.serving")

GRACEFUL_SECONDS = 10  # in-flight requests get this long after a stop
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before any work; InvalidInput if it cannot be."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise InvalidInput(
                f"port {port} on {host} is already in use: stop what listens there "
                "or choose another --port"
            ) from None
        raise InvalidInput(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    except (OverflowError, UnicodeError, socket.gaierror) as exc:
        sock.close()
        raise InvalidInput(f"cannot listen on {host}:{port}: {exc}") from None
    sock.set_inheritable(True)  # forked worker processes accept on it
    return sock


class GracefulServer(uvicorn.Server):
    """uvicorn's server, returning normally after a graceful stop.

    uvicorn re-raises the stop signal once it has shut down, which ends the process
    *by* that signal (status -15): a stop that was asked for and went well exits 0
    here. A second Ctrl-C cuts the grace period short in a foreground server
    (`escalate`); a worker gets both the terminal's SIGINT and its supervisor's
    SIGTERM for one stop, so it never escalates.
    """

    def __init__(self, config: uvicorn.Config, *, escalate: bool) -> None:
        super().__init__(config)
        self.escalate = escalate

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit and sig == signal.SIGINT and self.escalate:
            self.force_exit = True
        self.should_exit = True


def serve(sock: socket.socket, app: ASGIApp, *, escalate: bool) -> None:
    """Serve `app` on `sock` until SIGINT/SIGTERM."""
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        ws="none",  # no WebSocket route: no WebSocket library to import
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
    )
    server = GracefulServer(config, escalate=escalate)
    # before uvicorn starts: a stop that comes while it starts is not lost
    previous = {sig: signal.signal(sig, server.handle_exit) for sig in STOP_SIGNALS}
    try:
        server.run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def preload() -> None:
    """Import what uvicorn imports to start serving (once, before forking workers)."""
    import uvicorn.lifespan.on
    import uvicorn.loops.auto
    import uvicorn.protocols.http.auto

    uvicorn.loops.auto.auto_loop_factory(use_subprocess=False)  # imports uvloop if present


class Supervisor:
    """Forks `count` workers that each run `work()`, replaces one that dies, and stops
    them all on SIGINT/SIGTERM (each finishes its in-flight requests first)."""

    RESTARTS = 10  # a worker that keeps dying is a bug: give up after this many

    def __init__(self, count: int, work: Callable[[], None]) -> None:
        self.count = count
        self.work = work
        self.children: set[int] = set()
        self.stopping = False
        self.restarts = 0

    def run(self) -> None:
        """Start the workers and return once they have all exited after a stop."""
        previous = {sig: signal.signal(sig, self._stop) for sig in STOP_SIGNALS}
        failure: str | None = None
        try:
            for _ in range(self.count):
                self._fork()
            while self.children:
                try:
                    pid, status = os.wait()
                except ChildProcessError:
                    break
                self.children.discard(pid)
                if self.stopping:
                    continue
                if self.restarts >= self.RESTARTS:
                    failure = f"workers exited {self.restarts + 1} times, last {_exit_text(status)}"
                    self._stop(signal.SIGTERM, None)
                    continue
                self.restarts += 1
                log.error("worker %d exited (%s); starting another", pid, _exit_text(status))
                self._fork()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if failure is not None:
            raise ModelwardError(f"{failure}: stopped the server; see the log above")

    def _stop(self, _signum: int, _frame: FrameType | None) -> None:
        self.stopping = True
        for pid in list(self.children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def _fork(self) -> None:
        # Blocked across fork: the child must never run the supervisor's handler.
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            pid = os.fork()
        except BaseException:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
            raise
        if pid:
            self.children.add(pid)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
            return
        code = 0
        try:  # the worker: a stop before it serves just ends it; `work` installs its own
            for sig in STOP_SIGNALS:
                signal.signal(sig, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
            self.work()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            log.exception("worker %d failed", os.getpid())
            code = 1
        finally:
            os._exit(code)


def _exit_text(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)}"
    return f"exit code {os.waitstatus_to_exitcode(status)}"
