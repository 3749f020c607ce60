"""Chunk storage benchmark: the posts Parquet sink writing to a local folder vs to an S3-compatible server, and
what an assignment costs on each when a partition already holds many chunks.

Run by hand with the S3 server up (`offsetflow dev up --s3`):

    .venv/bin/python bench/storage.py --rows 500000 --chunks 2000

1. Write: the same synthetic post rows (every column of a real post row, texts of 40-400 characters) go through
   `ParquetChunkSink` into a temp folder, then into `s3://offsetflow/bench-<run>`: rows/s and MB/s of each, in
   one run, and the ratio. On a local disk a chunk is a temp file, fsync and rename; on S3 it is one PUT.
2. Assignment: one partition holding --chunks chunks (small ones, written straight to their names so that
   setting up takes seconds), on each store. Timed: listing the partition, and the whole `assigned()` a
   consumer does when it gets the partition with the committed offset halfway (list, read the key column of
   the kept half, delete the other half).

The S3 endpoint and keys are the local stack's (`S3Server.client_env()`) unless AWS_ENDPOINT_URL is set, so
`--bucket` can name a real bucket too. Everything it writes is removed at the end.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from offsetflow.posts.rows import POST_ROW_SCHEMA
from offsetflow.sinks.chunks import ChunkStore, chunk_name, open_store, partition_dir
from offsetflow.sinks.parquet import ParquetChunkSink
from offsetflow.sinks.storage import s3_filesystem
from offsetflow.stack.local import LocalStack
from offsetflow.stack.s3 import DEV_BUCKET
from offsetflow.stream.records import Origin, Output

TOPIC = "bench.posts"
PARTITIONS = 6
WORDS = ["data", "stream", "kafka", "offset", "chunk", "naïve", "café", "🚀", "日本語", "☕", "#news", "@you", "ok"]


def rows(count: int, seed: int = 1) -> list[Output]:
    """Post rows spread over the partitions as Kafka would deliver them: offsets rise per partition."""
    rng = random.Random(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    outputs = []
    for n in range(count):
        partition, offset = n % PARTITIONS, n // PARTITIONS
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 80)))
        row = {
            "post_id": f"tw-{n:012d}",
            "platform": rng.choice(["twitter", "facebook", "telegram"]),
            "actor_id": f"tw-actor-{rng.randrange(10_000):07d}",
            "created_at": start + timedelta(seconds=rng.randrange(10**8)),
            "text": text,
            "lang": rng.choice(["en", "fr", "ja", None]),
            "likes": rng.randrange(10_000),
            "shares": rng.randrange(1_000),
            "comments": rng.randrange(500),
            "views": rng.choice([None, rng.randrange(10**6)]),
            "hashtags": [w for w in text.split() if w.startswith("#")],
            "has_media": rng.random() < 0.3,
            "source_partition": partition,
            "source_offset": offset,
        }
        outputs.append(Output(Origin(TOPIC, partition, offset, None, None, None), str(row["post_id"]), row))
    return outputs


def write_rate(location: str, outputs: list[Output], batch: int, chunk_rows: int) -> tuple[float, int, int]:
    """(rows/s, chunks, bytes) of writing ``outputs`` through the sink in batches, the last partial chunks
    flushed as a consumer does before it commits."""
    sink = ParquetChunkSink(location, TOPIC, POST_ROW_SCHEMA, "post_id", chunk_rows=chunk_rows)
    started = time.perf_counter()
    for i in range(0, len(outputs), batch):
        sink.write(outputs[i : i + batch])
    sink.flush()
    elapsed = time.perf_counter() - started
    chunks = sink.store.list_chunks(TOPIC)
    return len(outputs) / elapsed, len(chunks), sum(c.size for c in chunks)


def tiny_chunk() -> bytes:
    """One row's chunk: the assignment reads the kept chunks' keys, so they must be real Parquet files."""
    frame = pl.DataFrame([rows(1)[0].row], schema=pl.Schema(POST_ROW_SCHEMA), orient="row")
    buffer = io.BytesIO()
    frame.write_parquet(buffer, compression="zstd")
    return buffer.getvalue()


def fill_partition(store: ChunkStore, location: str, count: int) -> None:
    """``count`` chunks in partition 0, named as the sink names them, written straight to their names."""
    data = tiny_chunk()
    names = [chunk_name(TOPIC, 0, n * 10, n * 10 + 9) for n in range(count)]
    if location.startswith("s3://"):
        root = location.removeprefix("s3://")
        s3_filesystem().pipe({f"{root}/{TOPIC}/partition=0/{name}": data for name in names})  # concurrent PUTs
    else:
        folder = partition_dir(Path(location), TOPIC, 0)
        folder.mkdir(parents=True, exist_ok=True)
        for name in names:
            (folder / name).write_bytes(data)
    assert len(store.list_chunks(TOPIC, 0)) == count


def timed(action: Callable[[], Any]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def assignment_times(location: str, count: int) -> tuple[float, float]:
    """(seconds to list the partition, seconds for the whole assignment with the committed offset halfway)."""
    store = open_store(location)
    fill_partition(store, location, count)
    listing = timed(lambda: store.list_chunks(TOPIC, 0))
    sink = ParquetChunkSink(location, TOPIC, POST_ROW_SCHEMA, "post_id")
    resume = None

    def assign() -> None:
        nonlocal resume
        resume = sink.assigned(0, committed=(count // 2) * 10)

    whole = timed(assign)
    assert resume is not None and resume.existing == count // 2 and resume.removed == count - count // 2
    return listing, whole


def s3_env() -> str:
    """The S3 endpoint in use: the caller's AWS_* variables, else the local stack's server."""
    if not os.environ.get("AWS_ENDPOINT_URL"):
        server = LocalStack.create().s3
        if server.process.pid() is None:
            raise SystemExit("no S3 server: start it with `offsetflow dev up --s3` (or set the AWS_* variables)")
        os.environ.update(server.client_env())
    return os.environ["AWS_ENDPOINT_URL"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=300_000, help="post rows written to each store")
    parser.add_argument("--batch", type=int, default=1_000, help="rows per sink.write (the consumer's batch)")
    parser.add_argument("--chunk-rows", type=int, default=20_000, help="rows per chunk (consume's default)")
    parser.add_argument("--chunks", type=int, default=2_000, help="chunks in the partition for the assignment")
    parser.add_argument("--bucket", default=DEV_BUCKET, help="bucket to write under (a bench-<run> prefix)")
    parser.add_argument("--local-dir", type=Path, default=None, help="local folder to use [default: a temp dir]")
    args = parser.parse_args()

    endpoint = s3_env()
    run = uuid.uuid4().hex[:8]
    s3_url = f"s3://{args.bucket}/bench-{run}"
    print(f"S3: {s3_url} at {endpoint}", flush=True)
    outputs = rows(args.rows)
    with tempfile.TemporaryDirectory(dir=args.local_dir) as tmp:
        try:
            targets = {"local": f"{tmp}/write", "s3": f"{s3_url}/write"}
            print(f"write {args.rows:,} post rows, {args.batch:,} per write, {args.chunk_rows:,} per chunk:")
            rates = {}
            for name, location in targets.items():
                rate, chunks, size = write_rate(location, outputs, args.batch, args.chunk_rows)
                rates[name] = rate
                mb = size / 1e6 * rate / args.rows
                print(f"  {name:<6} {rate:>10,.0f} rows/s  {mb:>7.1f} MB/s  ({chunks} chunks, {size / 1e6:,.1f} MB)")
            print(f"  s3 / local: {rates['s3'] / rates['local']:.2f}", flush=True)

            print(f"assignment of a partition holding {args.chunks:,} chunks (committed offset halfway):")
            times = {}
            for name, location in {"local": f"{tmp}/assign", "s3": f"{s3_url}/assign"}.items():
                listing, whole = assignment_times(location, args.chunks)
                times[name] = (listing, whole)
                print(
                    f"  {name:<6} list {listing * 1000:>9,.1f} ms   list + read kept keys + delete rest "
                    f"{whole * 1000:>9,.1f} ms"
                )
            print(
                f"  s3 / local: list {times['s3'][0] / times['local'][0]:.1f}x, "
                f"whole assignment {times['s3'][1] / times['local'][1]:.1f}x"
            )
        finally:
            fs = s3_filesystem()
            leftover = fs.find(s3_url.removeprefix("s3://"))
            if leftover:
                fs.rm(leftover)


if __name__ == "__main__":
    main()
