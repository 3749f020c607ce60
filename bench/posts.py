"""Posts pipeline benchmark: end-to-end posts/s and peak memory, beside each stage's raw rate.

Run by hand against a running stack (`offsetflow dev up`):

    .venv/bin/python bench/posts.py --posts 1000000 --sample 20000

It seeds the source (skipped with --reuse-source), produces the ids of a seeded sample, then measures in one
run: Kafka consume alone, MongoDB fetch alone (`$in` batches and per-id lookups), Parquet write alone,
MongoDB upsert alone, and the whole fetcher end to end (as a child process, for its peak memory).
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer

from offsetflow import codec
from offsetflow.config import KafkaSettings, MongoSettings
from offsetflow.lookup import LookupMode, is_ferretdb
from offsetflow.posts.fetch import PostFetcher
from offsetflow.posts.rows import POST_ROW_SCHEMA, post_row
from offsetflow.posts.source import seed_posts
from offsetflow.producers.posts import PostSample, produce_post_ids
from offsetflow.sinks.mongo import MongoUpsertSink
from offsetflow.sinks.parquet import ParquetChunkSink
from offsetflow.stack.ferretdb import FerretDBServer
from offsetflow.stack.local import LocalStack, default_cache_dir
from offsetflow.stream.contracts import Sink
from offsetflow.stream.records import Origin, Output
from offsetflow.topics import dlq_for, ensure_topics

PLATFORMS = ["twitter", "facebook", "telegram"]
PER_ACTOR = 100


def fetch_all(fetcher: PostFetcher, batches: list[list[str]], docs: dict[str, dict[str, Any]]) -> None:
    for batch in batches:
        docs.update(fetcher.fetch(batch))


def write_all(sink: Sink, outputs: list[Output], per_write: int) -> None:
    for i in range(0, len(outputs), per_write):
        sink.write(outputs[i : i + per_write])
    sink.flush()


def timed(label: str, count: int, action: Callable[[], object], server: int | None = None) -> float:
    """Posts/s of ``action``; with a database ``server`` pid, also its CPU time per post meanwhile."""
    cpu = cpu_seconds(server) if server else 0.0
    started = time.perf_counter()
    action()
    rate = count / (time.perf_counter() - started)
    db = f"   database CPU {(cpu_seconds(server) - cpu) / count * 1000:.2f} ms/post" if server else ""
    print(f"  {label:<34} {rate:>10,.0f} posts/s{db}", flush=True)
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=300_000, help="posts in the synthetic source")
    parser.add_argument("--sample", type=int, default=10_000, help="approximate posts in the sample")
    parser.add_argument("--reuse-source", action="store_true", help="keep an existing bench source")
    parser.add_argument("--bootstrap-servers", default="127.0.0.1:9092")
    parser.add_argument("--mongo-uri", default="mongodb://127.0.0.1:27017/")
    parser.add_argument(
        "--second-ferretdb",
        action="store_true",
        help="upsert into a second FerretDB (started on a free port from the local stack's build) instead of "
        "the source's server: then the stages no longer share one database",
    )
    args = parser.parse_args()
    with second_ferretdb(args.second_ferretdb) as (sink_uri, args.second_pid):
        bench(args, sink_uri or args.mongo_uri)


@contextmanager
def second_ferretdb(wanted: bool) -> Iterator[tuple[str | None, int | None]]:
    """A second FerretDB's URI and pid, or (None, None)."""
    if not wanted:
        yield None, None
        return
    with tempfile.TemporaryDirectory() as data:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        server = FerretDBServer(default_cache_dir(), Path(data), port=port)
        server.install()
        server.start()
        print(f"sink: a second FerretDB at {server.uri}", flush=True)
        try:
            yield server.uri, server.process.pid()
        finally:
            server.process.stop()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU jiffies of the whole machine so far, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def servers() -> dict[str, int]:
    """The local stack's servers that share the machine with the consumer (by pid)."""
    return {row.name: row.pid for row in LocalStack.create().status() if row.pid is not None}


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_consumer(cmd: list[str]) -> float:
    """Run the consumer to its end; returns when (perf_counter) it was first assigned partitions."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    assigned = None
    for line in proc.stderr:
        if assigned is None and "partition " in line:
            assigned = time.perf_counter()
    if proc.wait() != 0 or assigned is None:
        raise SystemExit(f"the consumer failed (exit {proc.returncode})")
    return assigned


def bench(args: argparse.Namespace, sink_uri: str) -> None:

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
    docs: dict[str, dict[str, Any]] = {}
    modes: tuple[LookupMode, ...] = ("by-id", "in")
    for mode in modes:
        fetcher = PostFetcher(posts, fetch_batch=500, workers=8, mode=mode)
        # `$in` is a full scan per query on FerretDB: measure it on a slice there.
        n = min(total, 500) if mode == "in" and is_ferretdb(posts) else total
        label = f"mongodb fetch ({mode}, {n:,} ids)"
        batches = [ids[i : min(n, i + 500)] for i in range(0, n, 500)]
        stages[label] = timed(label, n, partial(fetch_all, fetcher, batches, docs), servers().get("ferretdb"))
    auto_mode = PostFetcher(posts).mode
    outputs = [
        Output(Origin(topic, 0, n, None, None, None), pid, post_row(docs[pid], Origin(topic, 0, n, None, None, None)))
        for n, pid in enumerate(ids)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        sink = ParquetChunkSink(Path(tmp), topic, POST_ROW_SCHEMA, "post_id", chunk_rows=20_000)
        stages["parquet write"] = timed("parquet write (zstd)", total, partial(write_all, sink, outputs, total))
    sink_client = MongoSettings(sink_uri).client()
    upsert = MongoUpsertSink(sink_client["bench_out"][f"upsert_{run}"])
    sink_pid = args.second_pid or servers().get("ferretdb")
    stages["mongodb upsert"] = timed("mongodb upsert", total, partial(write_all, upsert, outputs, 1000), sink_pid)

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
            *(["--sink-mongo-uri", sink_uri] if sink_uri != args.mongo_uri else []),
        ]
        pids = servers() | ({"second ferretdb": args.second_pid} if args.second_pid else {})
        cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        consumer_cpu = children_cpu()
        machine_before = machine_busy()
        started = time.perf_counter()
        assigned = run_consumer(cmd)
        wall = time.perf_counter() - started
        cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()}
        cpu["consumer"] = children_cpu() - consumer_cpu
        machine_after = machine_busy()
        ended = time.perf_counter() - idle
        e2e = total / (ended - started)
        steady = total / (ended - assigned)
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"start-up (process start to first partition assigned): {assigned - started:.1f}s")
    print(f"end to end from the first assignment: {steady:,.0f} posts/s")
    # On a small machine the stages share the CPU: a ceiling measured with each stage alone assumes the
    # others cost nothing. This says how busy the cores were during the whole run (idle wait included).
    cores = os.cpu_count() or 1
    busy = sum(cpu.values())
    shares = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in sorted(cpu.items(), key=lambda kv: -kv[1]))
    print(
        f"CPU during end to end ({wall:.1f}s wall, {cores} cores): {shares}; {busy / (wall * cores):.0%} of the cores"
    )
    cpu_ceiling = cores / (busy / total)
    print(
        f"CPU ceiling on {cores} cores ({busy / total * 1000:.2f} ms of CPU per post, all processes): "
        f"{cpu_ceiling:,.0f} posts/s; end to end / CPU ceiling = {e2e / cpu_ceiling:.0%}"
    )
    per_post = ", ".join(f"{name} {cpu[name] / total * 1000:.2f} ms" for name in cpu if "ferretdb" in name)
    print(f"database CPU per post end to end: {per_post}")
    whole = (machine_after[0] - machine_before[0]) / max(1, machine_after[1] - machine_before[1])
    print(f"the whole machine was {whole:.0%} busy meanwhile (other processes included: a noisy run shows here)")
    pipeline_stages = {k: v for k, v in stages.items() if not k.startswith("mongodb fetch") or f"({auto_mode}," in k}
    slowest = min(pipeline_stages, key=lambda k: pipeline_stages[k])
    print(f"end to end (fetch mode {auto_mode}, incl. start-up): {e2e:,.0f} posts/s, peak RSS {peak_mb:,.0f} MiB")
    print(
        f"slowest stage: {slowest} at {pipeline_stages[slowest]:,.0f} posts/s; "
        f"end to end / slowest = {e2e / pipeline_stages[slowest]:.0%} (from the first assignment: "
        f"{steady / pipeline_stages[slowest]:.0%})"
    )
    if sink_uri == args.mongo_uri:
        # Fetch and upsert hit the same database: together they bound the pipeline.
        fetch = next(v for k, v in pipeline_stages.items() if k.startswith("mongodb fetch"))
        ceiling = 1 / (1 / fetch + 1 / stages["mongodb upsert"])
        print(
            f"database ceiling (fetch and upsert share one server): {ceiling:,.0f} posts/s; "
            f"end to end / ceiling = {e2e / ceiling:.0%}, from the first assignment {steady / ceiling:.0%} "
            "(goal >= 90%)"
        )
    else:
        print("(two database servers: the goal is end to end / slowest >= 80%)")
    sink_client.drop_database("bench_out")


if __name__ == "__main__":
    main()
