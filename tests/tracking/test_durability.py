"""No logged point is lost: four writers at once, and a run interrupted with Ctrl-C."""

from __future__ import annotations

import functools
import itertools
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import pytest

import modelward as mw

if TYPE_CHECKING:
    from _typeshed import TraceFunction

LOGGER = """
import sys
import modelward as mw

worker, points = sys.argv[1], int(sys.argv[2])
with mw.start_run(experiment="parallel", name=f"worker-{worker}") as run:
    for step in range(points):
        run.log_metric("loss", 1.0 / (step + 1), step=step)
        if step % 1000 == 0:
            run.log_metric("lr", 0.1, step=step)
print(run.id)
"""

INTERRUPTED = """
import sys
import modelward as mw

logged = 0
try:
    with mw.start_run(experiment="interrupted") as run:
        print(run.id, flush=True)
        while True:
            run.log_metric("loss", float(logged), step=logged)
            logged += 1
            if logged == 2000:
                print("ready", flush=True)
finally:
    print(logged, flush=True)
"""


@pytest.mark.timeout(240)
def test_four_processes_logging_at_once_lose_nothing(backend_home: Path, tmp_path: Path) -> None:
    script = tmp_path / "logger.py"
    script.write_text(LOGGER)
    points = 20_000
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(worker), str(points)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for worker in range(4)
    ]
    run_ids = []
    for proc in procs:
        out, err = proc.communicate(timeout=200)
        assert proc.returncode == 0, err
        assert "locked" not in err
        run_ids.append(out.strip())
    for run_id in run_ids:
        run = mw.tracking.get_run(run_id)
        assert run.status == "finished"
        history = mw.tracking.metric_history(run_id, "loss")
        assert [p.step for p in history] == list(range(points))
        assert len(mw.tracking.metric_history(run_id, "lr")) == points // 1000
        assert run.metrics["loss"] == pytest.approx(1.0 / points)


@pytest.mark.timeout(120)
def test_ctrl_c_keeps_every_point_logged_before_it(home: Path, tmp_path: Path) -> None:
    script = tmp_path / "interrupted.py"
    script.write_text(INTERRUPTED)
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "MODELWARD_HOME": str(home)},
    )
    assert proc.stdout is not None
    run_id = proc.stdout.readline().strip()
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert "KeyboardInterrupt" in err
    logged = int(out.strip().splitlines()[-1])
    run = mw.tracking.get_run(run_id)
    assert run.status == "failed" and "KeyboardInterrupt" in (run.error or "")
    steps = [p.step for p in mw.tracking.metric_history(run_id, "loss")]
    # The interrupt may land between a completed call and the counter update.
    assert len(steps) in (logged, logged + 1)
    assert steps == list(range(len(steps)))


def _interrupt_at(opcode: int, call: Callable[[], object]) -> bool:
    """Run `call` raising KeyboardInterrupt at its `opcode`-th bytecode (its callees' included).

    Returns whether the interrupt was raised (False: the call has fewer bytecodes).
    """
    seen = 0

    def tracer(frame: FrameType, event: str, arg: object) -> TraceFunction:
        nonlocal seen
        frame.f_trace_opcodes = True
        if event == "opcode":
            seen += 1
            if seen == opcode:
                raise KeyboardInterrupt
        return tracer

    sys.settrace(tracer)
    try:
        call()
    except KeyboardInterrupt:
        return True
    finally:
        sys.settrace(None)
    return False


@pytest.mark.timeout(120)
def test_ctrl_c_at_any_bytecode_of_a_logging_call_loses_and_repeats_nothing(home: Path) -> None:
    # Ctrl-C raises KeyboardInterrupt between any two bytecodes of the main thread.
    # Inject it at every bytecode of log_metric and log_metrics, with the buffer
    # past the size that wakes the writer (the writer is held up by another
    # connection's open write transaction), and carry on logging after each one:
    # no call may hang, and every point ends up stored exactly once.
    run = mw.start_run(experiment="interrupted")
    database = Path(str(run.workspace.db.engine.url.database))
    blocker = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
    returned: set[int] = set()
    interrupted: set[int] = set()
    failure: list[BaseException] = []
    steps = itertools.count()
    calls: list[Callable[[int], object]] = [
        lambda step: run.log_metric("loss", float(step), step=step),
        lambda step: run.log_metrics({"loss": 1.0}, step=step),
    ]

    def log() -> None:
        try:
            with run:
                for step in itertools.islice(steps, 12_000):
                    run.log_metric("loss", float(step), step=step)
                    returned.add(step)
                for call in calls:
                    for opcode in itertools.count(1):
                        step = next(steps)
                        hit = _interrupt_at(opcode, functools.partial(call, step))
                        (interrupted if hit else returned).add(step)
                        if not hit:
                            break
                blocker.commit()
                raise KeyboardInterrupt
        except KeyboardInterrupt:
            pass
        except BaseException as exc:
            failure.append(exc)

    blocker.execute("BEGIN IMMEDIATE")
    try:
        logger = threading.Thread(target=log, daemon=True)
        logger.start()
        logger.join(timeout=60)
    finally:
        if blocker.in_transaction:
            blocker.rollback()
        blocker.close()
    assert not logger.is_alive(), "a logging call or the run's exit hung after Ctrl-C"
    assert not failure
    assert len(interrupted) > 50
    stored = [p.step for p in mw.tracking.metric_history(run.id, "loss")]
    assert len(stored) == len(set(stored)), "a point was written twice"
    assert returned <= set(stored) <= returned | interrupted
    finished = mw.tracking.get_run(run.id)
    assert finished.status == "failed" and "KeyboardInterrupt" in (finished.error or "")
