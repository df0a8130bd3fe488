"""The prediction log's segments written by a child process, so that a server's requests
never wait for a batch being encoded and uploaded.

The serving process's log writer hands each batch to `SegmentUploader.add_encoded`,
which sends it to the child as the record lines the writer queued (`encode_line`: a
record's scalars as JSON, its inputs and outputs as JSON apart) and waits for the
child's answer without holding the GIL. The child builds the Parquet segments, the
inputs and outputs columns straight from the lines' bytes, and PUTs them (the work that
took the server's GIL ~20 ms a second), then answers. A batch counts as stored only
once the child says so: until then the writer keeps it and sends it again, under the
same id, after a failure or a child that died (a new child is started). Reads and labels
go to the segment log in the server's process.

    python -m modelward.monitoring.segment_uploader     # the child: batches on stdin
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import subprocess
import sys
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import BinaryIO

import orjson

from modelward.errors import InvalidInput, ModelwardError
from modelward.monitoring.prediction_records import PredictionRecord, encode_line
from modelward.monitoring.segment_log import SegmentPredictionLog

log = logging.getLogger("modelward.monitoring")

STORED_IDS_KEPT = 4096  # batch ids remembered as stored: over an hour of the writer's
PART = 500  # records per piece of a batch sent to the child: 2 buffers each, IOV_MAX 1024
_REFUSED = b"refused"
_FAILED = b"failed"


class SegmentUploader:
    """The log writer's sink for a segment log: its batches stored by a child process
    (reads and labels go to the segment log itself)."""

    def __init__(self, segments: SegmentPredictionLog) -> None:
        self.segments = segments
        self.flush_interval = segments.flush_interval
        self.batch_size = segments.batch_size
        self._child: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        # Batch ids sent without a "stored" answer: their resend may find part stored.
        # Ids stored lately are not sent again; any other id is a first send, stored
        # without looking up its segments first (a request per segment, per second).
        self._unanswered: set[str] = set()
        self._stored: OrderedDict[str, None] = OrderedDict()

    # -- writes: the child ------------------------------------------------------------------
    def prepare(self) -> None:
        """Start the child now (its imports take a second), and load the readers' code."""
        self.segments.prepare()
        with self._lock:
            self._started()

    def _started(self) -> subprocess.Popen[bytes]:
        child = self._child
        if child is None or child.poll() is not None:
            if child is not None:
                log.warning("the segment uploader (pid %d) ended: starting another", child.pid)
            child = self._child = subprocess.Popen(
                [sys.executable, "-m", "modelward.monitoring.segment_uploader"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=os.environ.copy(),
                start_new_session=True,  # a Ctrl-C to the server's group: the server ends it
            )
        return child

    def add_records(
        self, records: Sequence[PredictionRecord], *, batch_id: str | None = None
    ) -> int:
        """Send a batch to the child and wait until its segments are stored."""
        return self.add_encoded([encode_line(r) for r in records], batch_id=batch_id)

    def add_encoded(self, records: Sequence[bytes], *, batch_id: str | None = None) -> int:
        """Send record lines (`encode_line`, the writer's queue) to the child and wait
        until their segments are stored."""
        if not records:
            return 0
        with self._lock:
            if batch_id is not None and batch_id in self._stored:
                return 0  # stored before (the caller lost the answer): nothing again
            child = self._started()
            assert child.stdin is not None and child.stdout is not None
            first_send = batch_id is None or batch_id not in self._unanswered
            if batch_id is not None:
                self._unanswered.add(batch_id)
            try:
                parts = [
                    _framed(records[start : start + PART]) for start in range(0, len(records), PART)
                ]
                header = orjson.dumps(
                    {
                        "batch_id": batch_id,
                        "parts": len(parts),
                        "bytes": sum(map(len, records)) + len(records),  # with the newlines
                        "first_send": first_send,
                    }
                )
                child.stdin.write(b"%d\n%s" % (len(header), header))
                child.stdin.flush()
                fd = child.stdin.fileno()
                for part in parts:
                    _write_all(fd, part)
                answer = child.stdout.readline()
                if not answer:
                    raise ModelwardError("the segment uploader stopped before answering")
            except BaseException as exc:
                # a batch sent in part would be misread: the next one goes to a new child
                child.kill()
                child.wait()
                self._child = None
                if isinstance(exc, OSError):
                    raise ModelwardError(f"the segment uploader stopped: {exc}") from None
                raise
        status, _, detail = answer.strip().partition(b" ")
        if status == b"stored":
            if batch_id is not None:
                self._note_stored(batch_id)
            return int(detail)
        if status == _REFUSED:  # nothing of it stored: the writer splits it, under new ids
            self._unanswered.discard(batch_id or "")
            raise InvalidInput(detail.decode(errors="replace"))
        raise ModelwardError(detail.decode(errors="replace"))

    def _note_stored(self, batch_id: str) -> None:
        with self._lock:
            self._unanswered.discard(batch_id)
            self._stored[batch_id] = None
            if len(self._stored) > STORED_IDS_KEPT:
                self._stored.popitem(last=False)

    def close(self) -> None:
        """Let the child finish (it has answered every batch sent) and end."""
        with self._lock:
            child, self._child = self._child, None
        if child is None:
            return
        if child.stdin is not None:
            child.stdin.close()
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def serve(source: BinaryIO, answers: BinaryIO) -> None:
    """The child: store each batch read from `source`, answer one line per batch."""
    from modelward.config import load_settings
    from modelward.monitoring.segment_log import segment_prediction_log

    # The server ends this process by closing the pipe, once every batch was answered.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    segments = segment_prediction_log(load_settings())
    segments.prepare_writes()  # pyarrow's code loaded before the first batch, not during it
    # botocore's service models and pyarrow live as long as the process: out of the
    # collector's way, a full collection no longer walks them (it took 10-20 ms, a few
    # times a minute, of a batch's ~50 ms).
    gc.freeze()
    while True:
        header = source.readline()
        if not header:
            return  # the server closed the pipe: every batch was answered
        batch = orjson.loads(source.read(int(header)))
        try:
            block = _read_block(source, batch["parts"], batch["bytes"])
        except ValueError as exc:  # the server and this child out of step: a new child
            log.error("the segment uploader ends: %s", exc)
            return
        if block is None:
            return  # the server went away mid-batch: it sends the batch again
        try:
            stored = segments.add_block(
                block,
                batch_id=batch["batch_id"],
                first_send=bool(batch.get("first_send")),
            )
            answers.write(b"stored %d\n" % stored)
        except InvalidInput as exc:
            answers.write(_REFUSED + b" " + _one_line(exc))
        except Exception as exc:  # the store busy or unreachable: the server resends
            answers.write(_FAILED + b" " + _one_line(exc))
        answers.flush()


def _read_block(source: BinaryIO, parts: int, size: int) -> bytearray | None:
    """A batch's parts read into one buffer of `size` bytes, each line ending in a
    newline; None when the pipe ends first. A part is read straight into its place:
    the batch is copied out of the pipe once, not read, joined and copied again (8 MB
    a second at 8,000 requests)."""
    block = bytearray(size)
    view = memoryview(block)
    start = 0
    for _ in range(parts):
        line = source.readline()
        if not line:
            return None
        end = start + int(line)
        if end >= size:
            raise ValueError("a batch's parts are longer than its header says")
        while start < end:
            got = source.readinto(view[start:end])  # type: ignore[attr-defined]
            if not got:
                return None
            start += got
        view[start] = 0x0A  # the newline after the part's last line
        start += 1
    view.release()
    if start != size:
        raise ValueError("a batch's parts are shorter than its header says")
    return block


def _framed(lines: Sequence[bytes]) -> list[bytes]:
    """A part as the buffers of one `writev`: its size, then the lines with newlines
    between them."""
    buffers = [b"\n"] * (2 * len(lines))
    buffers[0] = b"%d\n" % (sum(map(len, lines)) + len(lines) - 1)
    buffers[1::2] = lines
    return buffers


def _write_all(fd: int, buffers: list[bytes]) -> None:
    """Write `buffers` whole with `os.writev`, which copies them in the kernel without
    the GIL (a join of the batch, then a write, held it ~0.5 ms per 4,000 records)."""
    first = 0
    while first < len(buffers):
        written = os.writev(fd, buffers[first:] if first else buffers)
        while first < len(buffers) and written >= len(buffers[first]):
            written -= len(buffers[first])
            first += 1
        if written:  # a write cut short (a signal): the rest of that buffer next
            buffers[first] = buffers[first][written:]


def _one_line(exc: BaseException) -> bytes:
    return " ".join(str(exc).split()).encode() + b"\n"


if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer)
