"""Compaction benchmark: many small chunk files merged by `offsetflow.ops.compact`, on a local folder and on S3.

Run by hand with the S3 server up (`offsetflow dev up --s3`):

    .venv/bin/python bench/compaction.py --chunks 200 --rows 100 --target-rows 10000

Per store, --chunks chunk files of --rows post rows each (every column of a real post row) are written to one
partition, straight under their final names as the Parquet sink writes them (temp + fsync + rename locally,
one PUT on S3). Then the compaction runs as `offsetflow compact` does, with every chunk settled (the committed
offset past the last one: no Kafka involved, only the merging is measured). Printed: file counts before and
after, rows merged per second, and a check that the rows read back are the same, once each.

The S3 endpoint and keys are the local stack's (`S3Server.client_env()`) unless AWS_ENDPOINT_URL is set; the
endpoint used is printed, never the keys. Everything written is removed at the end.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from offsetflow.ops import compact as compaction
from offsetflow.posts.rows import POST_ROW_SCHEMA
from offsetflow.sinks.chunks import open_store, read_chunks
from offsetflow.sinks.storage import Location
from offsetflow.stack.local import LocalStack
from offsetflow.stack.s3 import DEV_BUCKET

TOPIC = "bench.posts"
WORDS = ["data", "stream", "kafka", "offset", "chunk", "naïve", "café", "🚀", "日本語", "#news", "@you", "ok"]


def frame(first: int, rows: int, rng: random.Random) -> pl.DataFrame:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    data = []
    for offset in range(first, first + rows):
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 80)))
        data.append(
            {
                "post_id": f"tw-{offset:012d}",
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
                "source_partition": 0,
                "source_offset": offset,
            }
        )
    return pl.DataFrame(data, schema=POST_ROW_SCHEMA, orient="row")


def run(location: Location, chunks: int, rows: int, target_rows: int) -> None:
    store = open_store(location)
    rng = random.Random(14)
    started = time.monotonic()
    for i in range(chunks):
        store.write(TOPIC, 0, i * rows, i * rows + rows - 1, frame(i * rows, rows, rng), "zstd")
    setup = time.monotonic() - started
    before = read_chunks(location, TOPIC)
    files_before = len(store.list_files(TOPIC))

    started = time.monotonic()
    plan = compaction.plan(store, ["bench"], [TOPIC], {(TOPIC, 0): chunks * rows}, target_rows)
    merged = sum(step.rows for step in compaction.apply(store, plan) if isinstance(step, compaction.Merged))
    seconds = time.monotonic() - started

    after = read_chunks(location, TOPIC)
    files_after = len(store.list_files(TOPIC))
    same = after.equals(before) and after.height == chunks * rows and after["post_id"].n_unique() == after.height
    print(
        f"  {files_before:,} files -> {files_after:,}; {merged:,} rows merged in {seconds:.2f} s "
        f"= {merged / seconds:,.0f} rows/s (writing the small chunks took {setup:.1f} s); "
        f"rows read back {'identical, once each' if same else 'DIFFERENT'}"
    )
    store.remove_topic(TOPIC)


def s3_endpoint() -> str:
    """The S3 endpoint in use: the caller's AWS_* variables, else the local stack's server."""
    if not os.environ.get("AWS_ENDPOINT_URL"):
        server = LocalStack.create().s3
        if server.process.pid() is None:
            raise SystemExit("no S3 server: start it with `offsetflow dev up --s3` (or set the AWS_* variables)")
        os.environ.update(server.client_env())
    return os.environ["AWS_ENDPOINT_URL"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=200, help="small chunk files written before compacting")
    parser.add_argument("--rows", type=int, default=100, help="rows per small chunk")
    parser.add_argument("--target-rows", type=int, default=10_000, help="rows per merged file, about")
    parser.add_argument("--bucket", default=DEV_BUCKET, help="bucket for the S3 run")
    parser.add_argument("--skip-s3", action="store_true", help="the local folder only")
    args = parser.parse_args()
    if min(args.chunks, args.rows, args.target_rows) < 1:
        parser.error("--chunks, --rows and --target-rows must be at least 1")

    print(f"{args.chunks} chunks of {args.rows} rows, merged into files of about {args.target_rows} rows")
    with tempfile.TemporaryDirectory(prefix="offsetflow-bench-") as folder:
        print(f"local folder {folder}:")
        run(Path(folder), args.chunks, args.rows, args.target_rows)
    if not args.skip_s3:
        endpoint = s3_endpoint()
        url = f"s3://{args.bucket}/bench-compaction-{uuid.uuid4().hex[:8]}"
        print(f"S3 {url} at {endpoint}:")
        run(url, args.chunks, args.rows, args.target_rows)


if __name__ == "__main__":
    main()
