"""Profile benchmark: ``compute_profile`` on a 10,000,000-row x 20-column table.

Run from the repository root::

    python bench/profile_bench.py             # 10M rows x 20 columns (~1.9 GB in memory)
    python bench/profile_bench.py --rows 1000000 --repeat 3

The table is random and seeded: 8 float64 and 8 int64 columns (16 numeric) and
4 string columns with ~1000 distinct values (two uniform, two Zipf-skewed); f0
has 1% NaN, f1, i0 and s0 have 1% nulls, so those paths are timed too. It is
built in this process, then ``compute_profile(table)`` is timed (wall and CPU
time of all threads) and its peak RSS is read from
``resource.getrusage(...).ru_maxrss``. On Linux the high-water mark is reset
(``/proc/self/clear_refs``) after the table is built, so the peak is that of
profiling (the table included), not of building the table.

Targets: under 10 s and under 3 GB peak RSS. Exit status 0 only if both are met.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(BENCH_DIR.parent / "src"))  # this tree's modelward, installed or not

from _common import machine_line  # noqa: E402

from modelward.data.profile import compute_profile  # noqa: E402

TARGET_S = 10.0
TARGET_RSS_MB = 3 * 1024


def build_table(rows: int, seed: int = 0) -> pa.Table:
    """A seeded random table: 8 float64, 8 int64 and 4 string columns."""
    rng = np.random.default_rng(seed)
    cols: dict[str, pa.Array] = {}
    for i in range(8):
        x = rng.normal(loc=i, scale=1 + i, size=rows)
        if i == 0:
            x[rng.random(rows) < 0.01] = np.nan
        mask = rng.random(rows) < 0.01 if i == 1 else None
        cols[f"f{i}"] = pa.array(x, mask=mask)
    for i in range(8):
        n = rng.integers(-(10 ** (i + 1)), 10 ** (i + 1), size=rows, dtype=np.int64)
        mask = rng.random(rows) < 0.01 if i == 0 else None
        cols[f"i{i}"] = pa.array(n, mask=mask)
    vocab = pa.array([f"value-{j:04d}" for j in range(1000)], pa.string())
    for i in range(4):
        idx = pa.array(rng.zipf(1.3, size=rows) % 1000 if i % 2 else rng.integers(0, 1000, rows))
        s = vocab.take(idx)
        if i == 0:
            s = pa.array(s.to_numpy(zero_copy_only=False), mask=rng.random(rows) < 0.01)
        cols[f"s{i}"] = s
    return pa.table(cols)


def _proc_status_mb(field: str) -> float | None:
    """A memory field of /proc/self/status (Linux) in MB: VmRSS now, VmHWM peak."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _reset_peak_rss() -> bool:
    """Reset the RSS high-water mark (and with it ru_maxrss); False where unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=10_000_000, help="rows (default 10M)")
    parser.add_argument("--repeat", type=int, default=1, help="timed runs; the best is kept")
    args = parser.parse_args()

    print(machine_line())
    table = build_table(args.rows)
    print(
        f"table: {table.num_rows:,} rows x {table.num_columns} columns, "
        f"{table.nbytes / 2**20:,.0f} MB of Arrow buffers; "
        f"RSS before profiling {_proc_status_mb('VmRSS') or 0:,.0f} MB"
    )
    reset = _reset_peak_rss()

    walls: list[float] = []
    for _ in range(max(1, args.repeat)):
        start, cpu_start = time.perf_counter(), time.process_time()
        profile = compute_profile(table)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        walls.append(wall)
        print(f"compute_profile: {wall:.2f} s wall, {cpu:.2f} s CPU (all threads)")

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    scope = "while profiling" if reset else "whole process, building the table included"
    print(f"peak RSS (ru_maxrss, {scope}): {peak:,.0f} MB")
    f0, s1 = profile.column("f0"), profile.column("s1").categorical
    print(f"check: f0 missing={f0.missing:,}, s1 cardinality={s1.cardinality if s1 else None}")

    ok = min(walls) < TARGET_S and peak < TARGET_RSS_MB
    print(
        f"targets (< {TARGET_S:.0f} s, < {TARGET_RSS_MB / 1024:.0f} GB): "
        f"{'met' if ok else 'NOT met'} (best {min(walls):.2f} s, {peak:,.0f} MB); "
        f"load average now {', '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
