"""S3 artifact store benchmark: a 1 GB artifact put and get through `S3ArtifactStore`
against boto3's own `upload_file` / `download_file` to the same server, in one run.

Run from the repository root::

    python bench/s3_artifacts.py              # 1 GiB
    python bench/s3_artifacts.py --mb 128     # quick run

The server is `moto_server` on a free 127.0.0.1 port (started here, stopped by its PID),
so both sides pay the same server; each round uses a fresh bucket. Measured, per round:

- put: `store.put_file` (sha256 pass, HEAD, multipart upload hashed again on the way)
  against `s3.upload_file` (boto3's defaults: 8 MiB parts, 10 threads);
- get: `store.local_path` on a cold cache (one streamed GET hashed as it lands, written
  into the cache) against `s3.download_file` (ranged GETs on 10 threads), and against a
  plain streamed `get_object` into a file, the tighter floor on this server.

The sha256 pass alone is timed too (the price of hashing before uploading). Target:
store / boto3 within 1.3x for both. Exit status 0 only if it is met.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(BENCH_DIR.parent))
sys.path.insert(0, str(BENCH_DIR.parent / "src"))

from _common import log, machine_line, now_utc, table  # noqa: E402
from tests import s3 as moto  # noqa: E402

TARGET = 1.3


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def one_round(s3: Any, source: Path, work: Path) -> dict[str, float]:
    """Each side's put and get of `source` into a fresh bucket; seconds by name."""
    from modelward.config import s3_location
    from modelward.store.artifacts import LocalArtifactStore
    from modelward.store.s3_artifacts import S3ArtifactStore

    bucket = f"bench-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    cache = LocalArtifactStore(work / "cache")
    store = S3ArtifactStore(s3_location(f"s3://{bucket}/bench"), cache=cache)
    seconds: dict[str, float] = {}

    def sha256() -> str:
        hasher = hashlib.sha256()
        with open(source, "rb", buffering=0) as handle:
            while chunk := handle.read(8 << 20):
                hasher.update(chunk)
        return hasher.hexdigest()

    seconds["hash"] = timed(sha256)
    log("boto3 upload_file")
    seconds["upload_file"] = timed(lambda: s3.upload_file(str(source), bucket, "floor"))
    log("store.put_file")
    digest = ""

    def put() -> None:
        nonlocal digest
        digest = store.put_file(source)

    seconds["put"] = timed(put)
    log("store.local_path (cold cache)")
    seconds["get"] = timed(lambda: store.local_path(digest))
    log("boto3 get_object, streamed to a file")
    streamed = work / "streamed.bin"

    def get_object() -> None:
        body = s3.get_object(Bucket=bucket, Key="floor")["Body"]
        with open(streamed, "wb") as out:
            shutil.copyfileobj(body, out, 1 << 20)

    seconds["get_object"] = timed(get_object)
    streamed.unlink()
    log("boto3 download_file")
    downloaded = work / "downloaded.bin"
    seconds["download_file"] = timed(lambda: s3.download_file(bucket, "floor", str(downloaded)))
    downloaded.unlink()
    assert cache.read_bytes(digest) == source.read_bytes()
    shutil.rmtree(work)
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=1024, help="artifact size in MiB")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()

    machine = machine_line()  # the load before the bench adds its own
    work = Path(tempfile.mkdtemp(prefix="mw-s3-bench-"))
    process, endpoint = moto.start_moto(work / "moto.log")
    os.environ.update(moto.CREDENTIALS)
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    try:
        source = work / "artifact.bin"
        log(f"writing {args.mb} MiB of random bytes")
        with open(source, "wb") as out:
            for _ in range(args.mb):
                out.write(os.urandom(1 << 20))
        s3 = moto.client(endpoint)
        rows: dict[str, list[float]] = {
            k: [] for k in ("hash", "put", "upload_file", "get", "download_file", "get_object")
        }
        for round_number in range(args.rounds):
            for name, seconds in one_round(s3, source, work / f"round-{round_number}").items():
                rows[name].append(seconds)

        best = {name: min(values) for name, values in rows.items()}
        mb = args.mb
        put_ratio = best["put"] / best["upload_file"]
        get_ratio = best["get"] / best["download_file"]
        get_floor = best["get"] / best["get_object"]
        print(f"S3 artifact store, {mb} MiB, {now_utc()}; {machine}")
        print(
            table(
                [
                    [
                        "put",
                        f"{best['put']:.2f}",
                        f"upload_file {best['upload_file']:.2f}",
                        f"{put_ratio:.2f}x",
                        f"{mb / best['put']:.0f}",
                    ],
                    ["  of which sha256 pass", f"{best['hash']:.2f}", "", "", ""],
                    [
                        "get",
                        f"{best['get']:.2f}",
                        f"download_file {best['download_file']:.2f}",
                        f"{get_ratio:.2f}x",
                        f"{mb / best['get']:.0f}",
                    ],
                    [
                        "get",
                        f"{best['get']:.2f}",
                        f"get_object {best['get_object']:.2f}",
                        f"{get_floor:.2f}x",
                        "",
                    ],
                ],
                ["", "store s", "boto3 s", "store / boto3", "store MiB/s"],
            )
        )
        met = put_ratio <= TARGET and get_ratio <= TARGET
        print(f"target within {TARGET}x: {'met' if met else 'NOT met'}")
        return 0 if met else 1
    finally:
        moto.stop(process)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
