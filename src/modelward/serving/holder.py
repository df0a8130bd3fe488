"""The served model, swapped atomically when its alias moves.

A background thread resolves the reference every `poll_interval` seconds. When
it names another version, that version is loaded and verified off the request
path, then published with one reference assignment; a request reads the
reference once, so it is answered entirely by one version, named in its answer.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from modelward.errors import Unavailable
from modelward.refs import Ref
from modelward.registry.loading import LoadedModel
from modelward.registry.ports import Registry
from modelward.serving.predicting import prepare

log = logging.getLogger("modelward.serving")

RETRY_CAP_SECONDS = 60.0  # the longest wait between two tries of a store out of reach


@dataclass(frozen=True)
class SwapEvent:
    """One hot swap (or a failed attempt), for logs and tests."""

    at: float
    from_version: int
    to_version: int
    error: str | None = None


class ModelHolder:
    """Holds the current LoadedModel for a reference and follows it."""

    def __init__(
        self,
        registry: Registry,
        ref: str,
        *,
        trust: bool = False,
        poll_interval: float = 2.0,
        loaded: LoadedModel | None = None,
    ) -> None:
        """`loaded`: the model `ref` names, already loaded and verified (a forked worker's)."""
        self.registry = registry
        self.ref = ref
        self.trust = trust
        self.poll_interval = poll_interval
        self.follows = Ref.parse(ref).version is None  # an alias or latest may move
        self.current: LoadedModel = loaded or registry.load(ref, trust=trust)
        prepare(self.current)  # its request reader and compiled transform, before any request
        self.swaps: list[SwapEvent] = []
        self._refused: set[int] = set()  # versions that cannot load: never retried
        # versions whose store was out of reach: retried, less often each time
        self._retry_at: dict[int, tuple[float, int]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Begin following the alias (no-op for an exact version)."""
        if self.follows and self.poll_interval > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._follow, name="model-follower", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop following."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def check_now(self) -> bool:
        """Resolve the reference once; swap if it moved. Returns whether it swapped."""
        target = self.registry.get(self.ref)
        current = self.current.version
        if target.id == current.id or target.id in self._refused:
            return False
        retry_at, attempts = self._retry_at.get(target.id, (0.0, 0))
        if time.monotonic() < retry_at:
            return False
        try:
            loaded = self.registry.load(target, trust=self.trust)
            prepare(loaded)
        except Exception as exc:  # keep serving the verified version we have
            self.swaps.append(SwapEvent(time.time(), current.version, target.version, str(exc)))
            if isinstance(exc, Unavailable | OSError):  # the store, not the version: retried
                wait = min(RETRY_CAP_SECONDS, max(self.poll_interval, 0.5) * 2**attempts)
                self._retry_at[target.id] = (time.monotonic() + wait, attempts + 1)
                log.warning(
                    "cannot load %s yet (%s): trying again in %.1f s", target.ref, exc, wait
                )
            else:
                self._refused.add(target.id)
                log.error("not swapping to %s: %s", target.ref, exc)
            return False
        self._retry_at.pop(target.id, None)
        self.current = loaded  # one assignment: atomic for readers
        self.swaps.append(SwapEvent(time.time(), current.version, target.version))
        log.info("now serving %s (was version %s)", target.ref, current.version)
        return True

    def _follow(self) -> None:
        while not self._stop.wait(self.poll_interval):
            try:
                self.check_now()
            except Exception as exc:  # the store may be briefly unreachable
                log.warning("could not resolve %s: %s", self.ref, exc)
