"""`offsetflow consume`: the pipeline consumers, resumable from their group's committed offsets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from consumers.posts import PostFetcher
from offsetflow import codec, topics
from offsetflow.cli import options
from offsetflow.cli.options import (
    BatchSize,
    BootstrapServers,
    ChunkMaxAge,
    ChunkRows,
    Group,
    KafkaConfig,
    MongoOption,
    MongoUri,
    OutDir,
    PostsTopic,
    SourceDatabase,
    UntilIdle,
    opt,
)
from offsetflow.config import DEFAULT_BOOTSTRAP_SERVERS, DEFAULT_MONGO_URI
from offsetflow.lookup import LookupMode
from offsetflow.posts.rows import POST_ROW_SCHEMA
from offsetflow.sinks.mongo import MongoUpsertSink
from offsetflow.sinks.parquet import ParquetChunkSink, list_chunks
from offsetflow.stream.loop import ConsumerLoop, LoopSettings, RunSummary
from offsetflow.stream.progress import ProgressReporter

app = typer.Typer(help="Run a pipeline consumer. Kill it any time: a restart resumes at the committed offset.")
console = Console(stderr=True)

SinkDatabase = Annotated[str, opt("--sink-database", "Database the results are upserted into.")]


def print_summary(summary: RunSummary, where: list[str]) -> None:
    console.print(
        f"done in {summary.elapsed:.1f}s: {summary.records:,} records, {summary.rows:,} rows written, "
        f"{summary.dead_letters:,} dead letters"
    )
    for line in where:
        console.print(f"  {line}")


@app.command()
def posts(
    out: OutDir = Path("out/posts"),
    group: Group = "posts-fetcher",
    posts_topic: PostsTopic = topics.POSTS_IDS,
    source_database: SourceDatabase = "social",
    source_collection: Annotated[str, opt("--source-collection", "Collection holding the posts.")] = "posts",
    sink_database: SinkDatabase = "offsetflow",
    sink_collection: Annotated[str, opt("--sink-collection", "Collection the sampled posts go to.")] = "sampled_posts",
    batch_size: BatchSize = 1000,
    fetch_batch: Annotated[int, opt("--fetch-batch", "Post ids per MongoDB query (mode `in`).")] = 500,
    fetch_workers: Annotated[int, opt("--fetch-workers", "Parallel MongoDB fetches.")] = 8,
    fetch_mode: Annotated[
        str, opt("--fetch-mode", "`in` ($in batches), `by-id` (one indexed lookup each), `auto` (by server).")
    ] = "auto",
    chunk_rows: ChunkRows = 20_000,
    chunk_max_age: ChunkMaxAge = 30.0,
    until_idle: UntilIdle = None,
    bootstrap_servers: BootstrapServers = DEFAULT_BOOTSTRAP_SERVERS,
    kafka_config: KafkaConfig = None,
    mongo_uri: MongoUri = DEFAULT_MONGO_URI,
    mongo_option: MongoOption = None,
) -> None:
    """Fetch the posts named on the posts topic, write them as Parquet chunks under --out and upsert them
    into MongoDB, then commit. Missing posts go to `<topic>.dlq`. Stop with Ctrl-C / SIGTERM: the batch in
    hand is finished and committed first."""
    if fetch_mode not in ("auto", "in", "by-id"):
        raise typer.BadParameter("choose auto, in or by-id", param_hint="--fetch-mode")
    mode: LookupMode = fetch_mode  # type: ignore[assignment]
    kafka = options.kafka(bootstrap_servers, kafka_config)
    with options.mongo(mongo_uri, mongo_option).client() as client:
        sink_coll = client[sink_database][sink_collection]
        parquet = ParquetChunkSink(out, posts_topic, POST_ROW_SCHEMA, "post_id", chunk_rows, chunk_max_age)
        fetcher = PostFetcher(client[source_database][source_collection], fetch_batch, fetch_workers, mode)
        settings = LoopSettings(posts_topic, group, topics.dlq_for(posts_topic), batch_size, until_idle=until_idle)
        console.print(
            f"group {group} on {posts_topic}: fetching from {source_database}.{source_collection} "
            f"({fetcher.mode}), writing {out} and {sink_database}.{sink_collection}"
        )
        with ProgressReporter(f"posts ({group})") as progress:
            loop = ConsumerLoop(
                kafka, settings, codec.load(codec.POST_ID), fetcher, [MongoUpsertSink(sink_coll), parquet], progress
            )
            summary = loop.run()
        chunks = list_chunks(out, posts_topic)
        print_summary(
            summary,
            [
                f"Parquet: {len(chunks)} chunk files under {out / posts_topic}",
                f"MongoDB: {sink_coll.estimated_document_count():,} documents in {sink_database}.{sink_collection}",
                f"dead letters: {summary.dead_letters:,} in {topics.dlq_for(posts_topic)}"
                if summary.dead_letters
                else "dead letters: none",
            ],
        )
