"""The segment log's writes through its child process (`mw serve` with segments): what
the writer sends is stored once, a child that dies loses nothing (the writer resends to a
new one), a record the store refuses is dropped alone, and closing stores what is left."""

from __future__ import annotations

import io
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelward.config import load_settings
from modelward.monitoring.predictions import PredictionRecord
from modelward.monitoring.segment_log import segment_prediction_log
from modelward.monitoring.segment_uploader import SegmentUploader, _framed, _read_block
from modelward.monitoring.writer import PredictionLogWriter
from modelward.store.workspace import close_workspaces

NOW_MS = int(time.time() * 1000)


def _record(i: int, model: str = "m") -> PredictionRecord:
    return PredictionRecord(
        request_id=f"req-{i}",
        model_name=model,
        model_version=1,
        created_ms=NOW_MS - 10_000 + i,
        status=200,
        latency_ms=1.5,
        n_rows=1,
        inputs={"x": [float(i)], "t": ["é<b>\x00"]},
        outputs=[i % 2],
    )


@pytest.fixture
def uploader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SegmentUploader]:
    monkeypatch.setenv("MODELWARD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MODELWARD_PREDICTION_LOG", "segments")
    monkeypatch.delenv("MODELWARD_ARTIFACTS", raising=False)
    monkeypatch.delenv("MODELWARD_DB", raising=False)
    close_workspaces()
    found = SegmentUploader(segment_prediction_log(load_settings()))
    found.prepare()
    yield found
    found.close()


def test_batches_go_through_the_child_and_are_stored_once(uploader: SegmentUploader) -> None:
    writer = PredictionLogWriter(uploader, batch_size=300)
    for i in range(1000):
        writer.record(_record(i))
    assert writer.flush() == 1000
    reader = segment_prediction_log(load_settings())
    assert reader.count("m") == 1000
    stored = {r.request_id: r for r in reader.records("m", limit=2000)}
    assert stored["req-7"].inputs == {"x": [7.0], "t": ["é<b>\x00"]}
    assert stored["req-7"].outputs == [1]
    # a resend of a stored batch (its answer lost) stores nothing again
    again = [_record(i) for i in range(5)]
    assert uploader.add_records(again, batch_id="b") == 5
    assert uploader.add_records(again, batch_id="b") == 0
    assert reader.count("m") == 1005


def test_a_child_that_dies_loses_nothing(uploader: SegmentUploader) -> None:
    writer = PredictionLogWriter(uploader)
    writer.record(_record(1))
    writer.flush()
    child = uploader._child
    assert child is not None
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    for i in range(2, 50):
        writer.record(_record(i))
    assert writer.flush() == 48  # to a new child
    assert uploader._child is not None and uploader._child.pid != child.pid
    assert segment_prediction_log(load_settings()).request_ids("m") == {
        f"req-{i}" for i in range(1, 50)
    }


def test_a_refused_record_is_dropped_alone_and_close_stores_the_rest(
    uploader: SegmentUploader,
) -> None:
    writer = PredictionLogWriter(uploader)
    for i in range(10):
        writer.record(_record(i, model="m" if i != 4 else "bad/name"))
    writer.close()
    assert writer.dropped == 1 and writer.written == 9
    assert segment_prediction_log(load_settings()).count("m") == 9
    uploader.close()
    assert uploader._child is None


def test_a_batch_whose_answer_never_came_is_sent_again(uploader: SegmentUploader) -> None:
    import subprocess
    import sys

    uploader.close()
    # a child that reads a little and ends without answering, as one killed mid-batch
    uploader._child = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.buffer.read(100)"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    writer = PredictionLogWriter(uploader)
    for i in range(20):
        writer.record(_record(i))
    with pytest.raises(Exception, match="uploader"):
        writer.flush()
    assert writer.pending == 20  # kept, with its id
    assert writer.flush() == 20  # to a new child
    assert segment_prediction_log(load_settings()).count("m") == 20


def test_records_queued_from_threads_during_flushes_are_all_stored_once(
    uploader: SegmentUploader,
) -> None:
    import threading

    # batches of up to 1,700 records: several parts to the child, the last one shorter
    writer = PredictionLogWriter(uploader, flush_interval=0.05, batch_size=1700)
    writer.start()

    def request_thread(first: int) -> None:
        for i in range(first, first + 1500):
            writer.record(_record(i))
            if i % 100 == 0:
                time.sleep(0.001)  # let a flush take the queue meanwhile

    threads = [threading.Thread(target=request_thread, args=(n * 1500,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.close()
    assert writer.written == 6000 and writer.pending == 0
    reader = segment_prediction_log(load_settings())
    assert reader.count("m") == 6000
    assert reader.request_ids("m") == {f"req-{i}" for i in range(6000)}


def test_a_part_cut_short_by_the_pipe_is_written_on_from_where_it_stopped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from modelward.monitoring import segment_uploader

    read_fd, write_fd = os.pipe()
    real_writev = os.writev

    def short_writev(fd: int, buffers: list[bytes]) -> int:  # as a write a signal cut
        return real_writev(fd, [b"".join(buffers)[:7]])

    monkeypatch.setattr(os, "writev", short_writev)
    lines = [b"first", b"", b"a longer third line", b"x"]
    segment_uploader._write_all(write_fd, segment_uploader._framed(lines))
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        size, _, part = pipe.read().partition(b"\n")
    assert int(size) == len(part)
    assert part.split(b"\n") == lines


def test_only_a_resend_has_its_segments_looked_up_and_a_stored_id_is_not_sent_again(
    uploader: SegmentUploader, tmp_path: Path
) -> None:
    import json
    import subprocess
    import sys

    uploader.close()
    # children that note the batch header they read and fail it, as a store that is down
    stub = (
        "import sys; size = int(sys.stdin.buffer.readline());"
        "open(sys.argv[1], 'wb').write(sys.stdin.buffer.read(size));"
        "print('failed the store is down', flush=True); sys.stdin.buffer.read()"
    )
    writer = PredictionLogWriter(uploader)
    for i in range(20):
        writer.record(_record(i))
    headers = []
    for attempt in range(2):
        noted = tmp_path / f"header-{attempt}"
        uploader._child = subprocess.Popen(
            [sys.executable, "-c", stub, str(noted)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        with pytest.raises(Exception, match="the store is down"):
            writer.flush()
        uploader.close()
        headers.append(json.loads(noted.read_bytes()))
    assert headers[0]["batch_id"] == headers[1]["batch_id"]
    assert [h["first_send"] for h in headers] == [True, False]
    assert writer.flush() == 20  # the real child, looking its segments up
    assert segment_prediction_log(load_settings()).count("m") == 20
    # an id stored lately is not sent again: its answer was lost, not the batch
    again = [_record(i) for i in range(100, 105)]
    assert uploader.add_records(again, batch_id="twice") == 5
    child = uploader._child
    uploader._child = None  # a send now would have to start a new child
    assert uploader.add_records(again, batch_id="twice") == 0
    assert uploader._child is None
    uploader._child = child


def test_a_batch_is_read_into_one_block_as_framed() -> None:
    lines = [b"a\x1f1\x1f2", b"bb\x1f3\x1f4", b"c\x1f5\x1f6"]
    framed = b"".join(b"".join(_framed(lines[i : i + 2])) for i in range(0, 3, 2))
    size = sum(map(len, lines)) + len(lines)
    assert _read_block(io.BytesIO(framed), 2, size) == bytearray(b"\n".join(lines) + b"\n")
    assert _read_block(io.BytesIO(framed[:-3]), 2, size) is None  # the pipe ended mid-part
    with pytest.raises(ValueError, match="longer than its header"):
        _read_block(io.BytesIO(framed), 2, size - 1)
    with pytest.raises(ValueError, match="shorter than its header"):
        _read_block(io.BytesIO(framed), 2, size + 1)
