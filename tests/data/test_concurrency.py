"""Several processes writing into one home at once: every write lands, numbered once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

WRITER = """
import sys
import pandas as pd
import modelward as mw

worker, count = int(sys.argv[1]), int(sys.argv[2])
for i in range(count):
    frame = pd.DataFrame({"worker": [worker] * 3, "i": [i, i + 1, i + 2]})
    mw.data.add(frame, name="shared")
    mw.data.add(frame, name=f"own-{worker}")
print("ok")
"""


@pytest.mark.timeout(180)
def test_two_processes_adding_at_once_both_succeed(
    backend_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    count = 15
    env = dict(os.environ)
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(worker), str(count)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for worker in (1, 2)
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=150)
        assert proc.returncode == 0, err
        assert out.strip() == "ok"

    import modelward as mw

    shared = mw.data.versions("shared")
    assert [v.version for v in shared] == list(range(1, 2 * count + 1))
    assert len({v.digest for v in shared}) == 2 * count
    for worker in (1, 2):
        assert len(mw.data.versions(f"own-{worker}")) == count
