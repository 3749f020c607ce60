"""Posts pipeline benchmark: end-to-end posts/s and peak memory, beside each stage's raw rate.

Run by hand against a running stack (`offsetflow dev up`):

    .venv/bin/python bench/posts.py --posts 1000000 --sample 20000

It seeds the source (skipped with --reuse-source), produces the ids of a seeded sample, then measures in one
run: Kafka consume alone, MongoDB fetch alone (`$in` batches and per-id lookups), Parquet write alone,
MongoDB upsert alone, and the whole fetcher end to end (as a child process, for its peak memory).
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from confluent_kafka import Consumer

from consumers.posts import PostFetcher
from offsetflow import codec
from offsetflow.config import KafkaSettings, MongoSettings
from offsetflow.lookup import is_ferretdb
from offsetflow.posts.rows import POST_ROW_SCHEMA, post_row
from offsetflow.posts.source import seed_posts
from offsetflow.sinks.mongo import MongoUpsertSink
from offsetflow.sinks.parquet import ParquetChunkSink
from offsetflow.stream.records import Origin, Output
from offsetflow.topics import dlq_for, ensure_topics
from producers.posts import PostSample, produce_post_ids

PLATFORMS = ["twitter", "facebook", "telegram"]
PER_ACTOR = 100


def timed(label: str, count: int, action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    rate = count / (time.perf_counter() - started)
    print(f"  {label:<34} {rate:>10,.0f} posts/s", flush=True)
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=300_000, help="posts in the synthetic source")
    parser.add_argument("--sample", type=int, default=10_000, help="approximate posts in the sample")
    parser.add_argument("--reuse-source", action="store_true", help="keep an existing bench source")
    parser.add_argument("--bootstrap-servers", default="127.0.0.1:9092")
    parser.add_argument("--mongo-uri", default="mongodb://127.0.0.1:27017/")
    args = parser.parse_args()

    kafka = KafkaSettings(args.bootstrap_servers)
    client = MongoSettings(args.mongo_uri).client()
    source = client["bench_social"]
    run = uuid.uuid4().hex[:8]
    topic = f"bench.posts.{run}"
    actors = max(1, args.posts // (len(PLATFORMS) * PER_ACTOR))
    sample_actors = max(1, args.sample // (len(PLATFORMS) * PER_ACTOR))

    if not (args.reuse_source and source["posts"].estimated_document_count()):
        started = time.perf_counter()
        _, n = seed_posts(source, PLATFORMS, actors, PER_ACTOR, seed=1, replace=True)
        print(f"seeded {n:,} posts in {time.perf_counter() - started:.0f}s", flush=True)
    ensure_topics(kafka.client_config(), [topic, dlq_for(topic)], partitions=6, retention_ms=86_400_000)
    started = time.perf_counter()
    result = produce_post_ids(kafka, source, topic, PostSample(PLATFORMS, sample_actors, 7), say=lambda _: None)
    total = result.produced
    print(f"produced {total:,} sampled ids in {time.perf_counter() - started:.1f}s (sampling scans the source)")

    schema = codec.load(codec.POST_ID)
    ids: list[str] = []

    def consume_all() -> None:
        consumer = Consumer(
            kafka.client_config(
                group_id=f"bench-raw-{run}",
                auto_offset_reset="earliest",
                isolation_level="read_committed",
                enable_auto_commit=False,
            )
        )
        consumer.subscribe([topic])
        while len(ids) < total:
            for msg in consumer.consume(1000, timeout=1.0):
                if not msg.error():
                    ids.append(schema.decode(msg.value())["post_id"])
        consumer.close()

    print(f"stages, alone ({total:,} posts):")
    stages = {"kafka consume + decode": timed("kafka consume + decode", total, consume_all)}
    posts = source["posts"]
    docs: dict[str, dict[str, object]] = {}
    for mode in ("by-id", "in"):
        fetcher = PostFetcher(posts, fetch_batch=500, workers=8, mode=mode)  # type: ignore[arg-type]
        # `$in` is a full scan per query on FerretDB: measure it on a slice there.
        n = min(total, 2000) if mode == "in" and is_ferretdb(posts) else total
        label = f"mongodb fetch ({mode}, {n:,} ids)"
        batches = [ids[i : min(n, i + 1000)] for i in range(0, n, 1000)]
        stages[label] = timed(label, n, lambda f=fetcher, b=batches: [docs.update(f.fetch(ids)) for ids in b])
    auto_mode = PostFetcher(posts).mode
    outputs = [
        Output(Origin(topic, 0, n, None, None, None), pid, post_row(docs[pid], Origin(topic, 0, n, None, None, None)))
        for n, pid in enumerate(ids)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        sink = ParquetChunkSink(Path(tmp), topic, POST_ROW_SCHEMA, "post_id", chunk_rows=20_000)
        stages["parquet write"] = timed("parquet write (zstd)", total, lambda: (sink.write(outputs), sink.flush()))
    upsert = MongoUpsertSink(client["bench_out"][f"upsert_{run}"])
    stages["mongodb upsert"] = timed(
        "mongodb upsert", total, lambda: [upsert.write(outputs[i : i + 1000]) for i in range(0, total, 1000)]
    )

    idle = 3.0
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable,
            "-m",
            "offsetflow",
            "consume",
            "posts",
            "--out",
            tmp,
            "--group",
            f"bench-e2e-{run}",
            "--posts-topic",
            topic,
            "--source-database",
            "bench_social",
            "--sink-database",
            "bench_out",
            "--sink-collection",
            f"e2e_{run}",
            "--until-idle",
            str(idle),
            "--bootstrap-servers",
            args.bootstrap_servers,
            "--mongo-uri",
            args.mongo_uri,
        ]
        started = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        e2e = total / (time.perf_counter() - started - idle)
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    pipeline_stages = {k: v for k, v in stages.items() if not k.startswith("mongodb fetch") or f"({auto_mode}," in k}
    slowest = min(pipeline_stages, key=lambda k: pipeline_stages[k])
    print(f"end to end (fetch mode {auto_mode}, incl. start-up): {e2e:,.0f} posts/s, peak RSS {peak_mb:,.0f} MiB")
    print(
        f"slowest stage: {slowest} at {pipeline_stages[slowest]:,.0f} posts/s; "
        f"end to end / slowest = {e2e / pipeline_stages[slowest]:.0%}"
    )
    # Fetch and upsert hit the same database one after the other: together they bound the pipeline.
    fetch = next(v for k, v in pipeline_stages.items() if k.startswith("mongodb fetch"))
    ceiling = 1 / (1 / fetch + 1 / stages["mongodb upsert"])
    print(
        f"database ceiling (fetch, then upsert, on one server): {ceiling:,.0f} posts/s; "
        f"end to end / ceiling = {e2e / ceiling:.0%}"
    )
    client.drop_database("bench_out")


if __name__ == "__main__":
    main()
