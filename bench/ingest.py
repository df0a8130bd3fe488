"""Ingest benchmark: ``mw data add`` on a ~1 GB CSV versus raw sha256 and DVC + pandas.

Run from the repository root::

    python bench/ingest.py                 # ~1 GB CSV (generated once, cached in bench/_data/)
    python bench/ingest.py --size-mb 50    # quick run

In one run, on the same file (kept in the page cache), it measures

a. raw sha256 speed: Python ``hashlib`` over the file in 1 MiB chunks, and coreutils
   ``sha256sum`` for reference;
b. modelward: the whole ``mw data add FILE --name bench --json`` command in a fresh
   ``MODELWARD_HOME``; and, through the Python API, the hash+store part
   (``LocalArtifactStore.put_file``) and the profile part (``pyarrow.csv.read_csv``
   then ``modelward.data.profile.compute_profile``), each in its own process;
c. the competitor doing the same work: ``dvc init --no-scm`` + ``dvc add FILE``
   (DVC from PyPI in ``bench/.venv-dvc``, installed on first run), plus
   ``pandas.read_csv(FILE).describe(include="all")`` in this Python;
d. a table of the times, the ratios and the peak RSS of each process.

Targets: modelward hash+store / raw Python sha256 <= 1.5. Everything else is reported.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    DATA_DIR,
    REPO_ROOT,
    BenchError,
    drop_dirty_pages,
    ensure_venv,
    last_json_line,
    log,
    machine_line,
    measure,
    modelward_version,
    mw_command,
    mw_env,
    now_utc,
    table,
    venv_version,
)

GENERATOR_VERSION = 1
HASH_STORE_TARGET = 1.5
CHUNK = 1 << 20  # 1 MiB reads for the raw hash

# --------------------------------------------------------------------------- data


def generate_csv(path: Path, size_mb: int, seed: int) -> None:
    """Write a seeded CSV of about ``size_mb`` MB (10^6 bytes) with 20 columns.

    id, 12 float columns (two with ~1% missing), 3 int columns, and 4 string
    columns: a city (50 values, ~1% missing), a segment (5 values), an ISO date
    and a high-cardinality customer code. Vectorised: numpy + Arrow, no row loop.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(seed)
    cities = pa.array([f"city_{i:02d}" for i in range(50)])
    segments = pa.array(["consumer", "corporate", "home_office", "small_biz", "public"])
    days = np.arange(np.datetime64("2023-01-01"), np.datetime64("2025-01-01"))
    dates = pa.array(days.astype(str))

    def chunk(start: int, n: int) -> pa.Table:
        cols: dict[str, Any] = {"id": pa.array(np.arange(start, start + n, dtype=np.int64))}
        for j in range(12):
            if j % 3 == 0:
                v = rng.normal(loc=j * 10.0, scale=1 + j, size=n)
            elif j % 3 == 1:
                v = rng.uniform(0, 1000, size=n)
            else:
                v = rng.lognormal(mean=3, sigma=1, size=n)
            v = np.round(v, 4)
            mask = rng.random(n) < 0.01 if j in (1, 7) else None
            cols[f"f{j:02d}"] = pa.array(v, mask=mask)
        cols["i0"] = pa.array(rng.integers(0, 100, size=n))
        cols["i1"] = pa.array(rng.integers(-50_000, 50_000, size=n))
        cols["i2"] = pa.array(rng.poisson(3, size=n))
        city = cities.take(pa.array(rng.integers(0, len(cities), size=n)))
        cols["city"] = pc.if_else(pa.array(rng.random(n) < 0.01), None, city)
        cols["segment"] = segments.take(pa.array(rng.integers(0, len(segments), size=n)))
        cols["date"] = dates.take(pa.array(rng.integers(0, len(dates), size=n)))
        code = pa.array(rng.integers(0, 10**9, size=n)).cast(pa.string())
        cols["customer"] = pc.binary_join_element_wise("c", code, "")
        return pa.table(cols)

    opts = pacsv.WriteOptions(quoting_style="needed")
    probe = pa.BufferOutputStream()
    pacsv.write_csv(chunk(0, 10_000), probe, opts)
    bytes_per_row = probe.getvalue().size / 10_000
    total = max(1000, math.ceil(size_mb * 1e6 / bytes_per_row))
    rng = np.random.default_rng(seed)  # restart so the file depends only on (size, seed)

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".csv.tmp")
    first = chunk(0, min(total, 250_000))
    with pacsv.CSVWriter(str(tmp), first.schema, write_options=opts) as writer:
        writer.write_table(first)
        done = first.num_rows
        while done < total:
            n = min(total - done, 250_000)
            writer.write_table(chunk(done, n))
            done += n
    os.replace(tmp, path)


def dataset(size_mb: int, seed: int) -> Path:
    path = DATA_DIR / f"ingest_{size_mb}mb_seed{seed}_v{GENERATOR_VERSION}.csv"
    if not path.is_file():
        log(f"generating {path.relative_to(REPO_ROOT)} (once; cached)")
        t0 = time.perf_counter()
        generate_csv(path, size_mb, seed)
        log(f"generated in {time.perf_counter() - t0:.1f} s")
    return path


def count_rows(path: Path) -> int:
    n = 0
    with path.open("rb") as f:
        while block := f.read(8 << 20):
            n += block.count(b"\n")
    return n - 1  # header


# --------------------------------------------------------------------------- steps

MW_PUT = """
import json, sys, time
from pathlib import Path
t0 = time.perf_counter()
from modelward.store.artifacts import LocalArtifactStore
t1 = time.perf_counter()
store = LocalArtifactStore(Path(sys.argv[2]))
c1 = time.process_time()
digest = store.put_file(Path(sys.argv[1]))
t2 = time.perf_counter()
c2 = time.process_time()
print(json.dumps({"import_s": t1 - t0, "put_s": t2 - t1, "put_cpu_s": c2 - c1,
                  "digest": digest}))
"""

MW_PROFILE = """
import json, sys, time
t0 = time.perf_counter()
import pyarrow.csv
from modelward.data.profile import compute_profile
t1 = time.perf_counter()
tbl = pyarrow.csv.read_csv(sys.argv[1])
t2 = time.perf_counter()
prof = compute_profile(tbl)
t3 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "read_s": t2 - t1, "profile_s": t3 - t2,
                  "rows": tbl.num_rows, "cols": tbl.num_columns,
                  "profile_type": type(prof).__name__}))
"""

PANDAS_DESCRIBE = """
import json, sys, time
t0 = time.perf_counter()
import pandas as pd
t1 = time.perf_counter()
df = pd.read_csv(sys.argv[1])
t2 = time.perf_counter()
d = df.describe(include="all")
t3 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "read_s": t2 - t1, "describe_s": t3 - t2,
                  "pandas": pd.__version__, "shape": list(df.shape),
                  "describe_shape": list(d.shape)}))
"""


class Runner:
    """Runs the steps, keeping results and errors; a failed step does not stop the rest."""

    def __init__(self, file: Path, timeout: float, keep: bool) -> None:
        self.file = file
        self.timeout = timeout
        self.keep = keep
        self.results: dict[str, Any] = {}
        self.errors: dict[str, str] = {}
        (DATA_DIR / "tmp").mkdir(parents=True, exist_ok=True)

    def tempdir(self, prefix: str) -> Path:
        # Under bench/_data so that hard links to the data file work (same filesystem).
        return Path(tempfile.mkdtemp(prefix=prefix, dir=DATA_DIR / "tmp"))

    def cleanup(self, d: Path) -> None:
        if not self.keep:
            shutil.rmtree(d, ignore_errors=True)
        drop_dirty_pages()

    def step(
        self, name: str, fn: Callable[[], dict[str, Any]], repeat: int = 1, key: str = "wall_s"
    ) -> None:
        """Run ``fn`` ``repeat`` times and keep the run with the smallest ``key``."""
        self.interleaved([(name, fn, key)], repeat)

    def interleaved(
        self, steps: list[tuple[str, Callable[[], dict[str, Any]], str]], repeat: int
    ) -> None:
        """Run the steps in ``repeat`` rounds (A B C A B C ...), keeping each one's best.

        Interleaving makes steps that are compared with each other see the same
        background load on a shared machine.
        """
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _, _ in steps}
        for i in range(max(1, repeat)):
            for name, fn, _ in steps:
                if name in self.errors:
                    continue
                log(f"{name} ..." + (f" (round {i + 1}/{repeat})" if repeat > 1 else ""))
                try:
                    runs[name].append(fn())
                    log(f"{name}: {json.dumps(runs[name][-1], default=str)}")
                except (BenchError, OSError, KeyError, ValueError) as exc:
                    self.errors[name] = str(exc)
                    log(f"{name} FAILED: {exc}")
        for name, _, key in steps:
            if name in self.errors or not runs[name]:
                continue
            values = [float(r.get(key) or 0.0) for r in runs[name]]
            best = runs[name][values.index(min(values))]
            if repeat > 1:
                best["runs"] = [round(v, 3) for v in values]
            self.results[name] = best

    # a. raw sha256 ----------------------------------------------------------

    def warm_cache(self) -> dict[str, Any]:
        t0 = time.perf_counter()
        with self.file.open("rb", buffering=0) as f:
            while f.read(8 << 20):
                pass
        return {"wall_s": time.perf_counter() - t0}

    def raw_sha256(self) -> dict[str, Any]:
        h = hashlib.sha256()
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        t0, c0 = time.perf_counter(), time.process_time()
        with self.file.open("rb", buffering=0) as f:
            while n := f.readinto(buf):
                h.update(view[:n])
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        size = self.file.stat().st_size
        return {"wall_s": wall, "cpu_s": cpu, "mb_s": size / 1e6 / wall, "digest": h.hexdigest()}

    def sha256sum(self) -> dict[str, Any]:
        if not shutil.which("sha256sum"):
            raise BenchError("sha256sum not found")
        m = measure(["sha256sum", str(self.file)], timeout=self.timeout).check()
        return {"wall_s": m.wall_s, "digest": m.stdout.split()[0]}

    def raw_copy_fsync(self) -> dict[str, Any]:
        """Reference for the store's write side: copy the file and fsync it, no hashing."""
        d = self.tempdir("copy-")
        try:
            t0 = time.perf_counter()
            shutil.copyfile(self.file, d / "copy")
            with (d / "copy").open("rb+") as f:
                os.fsync(f.fileno())
            wall = time.perf_counter() - t0
        finally:
            self.cleanup(d)
        return {"wall_s": wall}

    # b. modelward -------------------------------------------------------------

    def mw_put(self) -> dict[str, Any]:
        d = self.tempdir("mw-store-")
        try:
            m = measure(
                [sys.executable, "-c", MW_PUT, str(self.file), str(d / "blobs")],
                env=mw_env(),
                timeout=self.timeout,
            ).check()
        finally:
            self.cleanup(d)
        r = last_json_line(m.stdout)
        return {**r, "process_wall_s": m.wall_s, "peak_rss_mb": m.peak_rss_mb}

    def mw_profile(self) -> dict[str, Any]:
        m = measure(
            [sys.executable, "-c", MW_PROFILE, str(self.file)], env=mw_env(), timeout=self.timeout
        ).check()
        r = last_json_line(m.stdout)
        return {**r, "process_wall_s": m.wall_s, "peak_rss_mb": m.peak_rss_mb}

    def mw_cli(self) -> dict[str, Any]:
        d = self.tempdir("mw-home-")
        env = mw_env({**os.environ, "MODELWARD_HOME": str(d / ".modelward")})
        for var in ("MODELWARD_DB", "MODELWARD_ARTIFACTS", "MODELWARD_URI"):
            env.pop(var, None)
        cmd = [*mw_command(), "data", "add", str(self.file), "--name", "bench", "--json"]
        try:
            m = measure(cmd, cwd=d, env=env, timeout=self.timeout).check()
        finally:
            self.cleanup(d)
        out: dict[str, Any] = {
            "cmd": " ".join(cmd),
            "wall_s": m.wall_s,
            "peak_rss_mb": m.peak_rss_mb,
        }
        try:
            doc = json.loads(m.stdout)
        except json.JSONDecodeError:
            doc = last_json_line(m.stdout)
        # Keep the scalar fields (ref, digest, rows...), not the whole profile.
        out["json"] = {k: v for k, v in doc.items() if not isinstance(v, dict | list)}
        out["digest"] = doc.get("digest")
        return out

    # c. competitor ------------------------------------------------------------

    def dvc_add(self) -> dict[str, Any]:
        bin_dir = ensure_venv("dvc", ["dvc"])
        dvc = str(bin_dir / "dvc")
        d = self.tempdir("dvc-")
        env = {**os.environ, "DVC_NO_ANALYTICS": "1", "DVC_NO_UPDATE_CHECK": "1"}
        target = d / self.file.name
        try:
            try:
                os.link(self.file, target)  # same inode: no copy, still in page cache
                how = "hardlink"
            except OSError:
                shutil.copyfile(self.file, target)
                how = "copy"
            drop_dirty_pages()
            init = measure(
                [dvc, "init", "--no-scm", "-q"], cwd=d, env=env, timeout=self.timeout
            ).check()
            measure([dvc, "config", "core.analytics", "false"], cwd=d, env=env, timeout=120).check()
            add = measure(
                [dvc, "add", "-q", target.name], cwd=d, env=env, timeout=self.timeout
            ).check()
            dvc_file = (d / f"{target.name}.dvc").read_text()
        finally:
            self.cleanup(d)
        return {
            "dvc": venv_version(bin_dir, "dvc"),
            "init_s": init.wall_s,
            "add_s": add.wall_s,
            "add_peak_rss_mb": add.peak_rss_mb,
            "workspace_file": how,
            "md5_in_dvc_file": "md5:" in dvc_file,
        }

    def pandas_describe(self) -> dict[str, Any]:
        m = measure(
            [sys.executable, "-c", PANDAS_DESCRIBE, str(self.file)], timeout=self.timeout
        ).check()
        r = last_json_line(m.stdout)
        return {**r, "process_wall_s": m.wall_s, "peak_rss_mb": m.peak_rss_mb}


# --------------------------------------------------------------------------- report


def fmt_s(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f} s"


def fmt_mb(x: float | None) -> str:
    return "n/a" if x is None else f"{x:,.0f} MB"


def get(results: dict[str, Any], step: str, key: str) -> float | None:
    v = results.get(step, {}).get(key)
    return float(v) if isinstance(v, int | float) else None


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def report(r: Runner, size: int, rows: int) -> tuple[str, bool]:
    res = r.results
    raw = get(res, "raw_sha256", "wall_s")
    put = get(res, "mw_put", "put_s")
    read = get(res, "mw_profile", "read_s")
    prof = get(res, "mw_profile", "profile_s")
    mw_total = get(res, "mw_cli", "wall_s")
    dvc_init = get(res, "dvc_add", "init_s")
    dvc_add = get(res, "dvc_add", "add_s")
    pd_wall = get(res, "pandas_describe", "process_wall_s")
    pd_read = get(res, "pandas_describe", "read_s")
    pd_desc = get(res, "pandas_describe", "describe_s")
    comp_total = None
    if None not in (dvc_init, dvc_add, pd_wall):
        comp_total = (dvc_init or 0) + (dvc_add or 0) + (pd_wall or 0)

    rows_t = [
        [
            "raw sha256, Python hashlib (1 MiB chunks, cached)",
            fmt_s(raw),
            f"{size / 1e6 / raw:,.0f} MB/s" if raw else "",
        ],
        ["raw sha256, coreutils sha256sum", fmt_s(get(res, "sha256sum", "wall_s")), ""],
        [
            "reference: copy file + fsync, no hash (shutil.copyfile)",
            fmt_s(get(res, "raw_copy_fsync", "wall_s")),
            "disk write floor",
        ],
        [
            "mw: hash+store, LocalArtifactStore.put_file",
            fmt_s(put),
            fmt_mb(get(res, "mw_put", "peak_rss_mb")) + " peak RSS",
        ],
        ["mw: pyarrow.csv.read_csv", fmt_s(read), ""],
        [
            "mw: compute_profile(table)",
            fmt_s(prof),
            fmt_mb(get(res, "mw_profile", "peak_rss_mb")) + " peak RSS (read+profile)",
        ],
        [
            "mw: `mw data add FILE --name bench --json` (whole command)",
            fmt_s(mw_total),
            fmt_mb(get(res, "mw_cli", "peak_rss_mb")) + " peak RSS",
        ],
        ["dvc: `dvc init --no-scm`", fmt_s(dvc_init), ""],
        [
            "dvc: `dvc add FILE` (md5 + copy to cache)",
            fmt_s(dvc_add),
            fmt_mb(get(res, "dvc_add", "add_peak_rss_mb")) + " peak RSS",
        ],
        ["pandas: read_csv", fmt_s(pd_read), ""],
        ["pandas: describe(include='all')", fmt_s(pd_desc), ""],
        [
            "pandas: whole process (import + read + describe)",
            fmt_s(pd_wall),
            fmt_mb(get(res, "pandas_describe", "peak_rss_mb")) + " peak RSS",
        ],
        ["competitor total: dvc init + dvc add + pandas process", fmt_s(comp_total), ""],
    ]
    hs = ratio(put, raw)
    hs_cpu = ratio(get(res, "mw_put", "put_cpu_s"), get(res, "raw_sha256", "cpu_s"))
    tot = ratio(mw_total, comp_total)
    hs_ok = hs is not None and hs <= HASH_STORE_TARGET
    ratios = [
        [
            "mw hash+store / raw Python sha256",
            "n/a" if hs is None else f"{hs:.2f}",
            f"<= {HASH_STORE_TARGET}",
            ("PASS" if hs_ok else "FAIL") if hs is not None else "n/a",
        ],
        [
            "  same, CPU time (user+sys, all threads; less sensitive to load)",
            "n/a" if hs_cpu is None else f"{hs_cpu:.2f}",
            "report",
            "",
        ],
        [
            "mw data add (whole) / (dvc init + dvc add + pandas describe)",
            "n/a" if tot is None else f"{tot:.2f}",
            "report (lower is better)",
            "",
        ],
        [
            "mw data add peak RSS / file size",
            "n/a"
            if get(res, "mw_cli", "peak_rss_mb") is None
            else f"{(get(res, 'mw_cli', 'peak_rss_mb') or 0) * 2**20 / size:.2f}",
            "report",
            "",
        ],
    ]
    digests = {
        k: res.get(k, {}).get("digest") for k in ("raw_sha256", "sha256sum", "mw_put", "mw_cli")
    }
    same = len({v for v in digests.values() if v}) <= 1
    lines = [
        f"file: {r.file.relative_to(REPO_ROOT)}  ({size / 1e6:,.0f} MB, {rows:,} rows, "
        f"{size / 1e6 / rows * 1e6:,.0f} B/row)"
        if rows
        else "",
        f"machine: {machine_line()}",
        f"date: {now_utc()}; modelward {modelward_version()}; "
        f"dvc {res.get('dvc_add', {}).get('dvc', 'n/a')}; "
        f"pandas {res.get('pandas_describe', {}).get('pandas', 'n/a')}",
        "",
        table(rows_t, ["step", "time", "note"]),
        "",
        table(ratios, ["ratio", "value", "target", ""]),
        "",
        "sha256 digests agree (hashlib, sha256sum, put_file, mw data add): "
        + ("yes" if same else f"NO {digests}"),
    ]
    if r.errors:
        lines += ["", "steps that failed:"]
        for k, v in r.errors.items():
            msg = v.strip().splitlines() or [""]
            tail = f" ... {msg[-1][:200]}" if len(msg) > 1 else ""
            lines.append(f"- {k}: {msg[0][:120]}{tail}")
    return "\n".join(lines), hs_ok and same and not r.errors


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description="mw data add on a large CSV vs raw sha256, and vs dvc add + pandas describe."
    )
    p.add_argument(
        "--size-mb",
        type=int,
        default=1000,
        help="size of the generated CSV in MB (10^6 bytes); default 1000",
    )
    p.add_argument("--seed", type=int, default=42, help="seed of the generated data")
    p.add_argument(
        "--timeout",
        type=float,
        default=1200,
        help="limit for each measured process, seconds (default 1200)",
    )
    p.add_argument(
        "--repeat-fast",
        type=int,
        default=3,
        help="rounds of the hash / copy / put_file steps, interleaved, best kept (default 3)",
    )
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="runs of the profile, mw data add, dvc and pandas steps, best kept (default 1)",
    )
    p.add_argument("--skip-competitor", action="store_true", help="do not run dvc / pandas")
    p.add_argument("--skip-modelward", action="store_true", help="do not run modelward")
    p.add_argument("--keep", action="store_true", help="keep temp dirs under bench/_data/tmp")
    p.add_argument("--json-out", type=Path, help="also write all raw results to this file")
    args = p.parse_args(argv)

    file = dataset(args.size_mb, args.seed)
    size = file.stat().st_size
    r = Runner(file, args.timeout, args.keep)
    r.step("warm_cache", r.warm_cache)
    rows = count_rows(file)
    fast, slow = args.repeat_fast, args.repeat
    quick: list[tuple[str, Callable[[], dict[str, Any]], str]] = [
        ("raw_sha256", r.raw_sha256, "wall_s"),
        ("raw_copy_fsync", r.raw_copy_fsync, "wall_s"),
    ]
    if not args.skip_modelward:
        quick.append(("mw_put", r.mw_put, "put_s"))
    r.interleaved(quick, fast)
    r.step("sha256sum", r.sha256sum)
    if not args.skip_modelward:
        r.step("mw_profile", r.mw_profile, slow, key="process_wall_s")
        r.step("mw_cli", r.mw_cli, slow)
    if not args.skip_competitor:
        r.step("dvc_add", r.dvc_add, slow, key="add_s")
        r.step("pandas_describe", r.pandas_describe, slow, key="process_wall_s")
    text, ok = report(r, size, rows)
    print(f"\ncommand: python bench/{Path(__file__).name} {' '.join(sys.argv[1:])}".rstrip())
    print(text)
    if args.json_out:
        args.json_out.write_text(
            json.dumps({"results": r.results, "errors": r.errors}, indent=2, default=str)
        )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
