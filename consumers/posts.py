"""The posts pipeline's consumer: sampled post ids in; each post fetched from the source, upserted into MongoDB,
then written to Parquet chunks (or a Delta table, ``--format delta``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pymongo import MongoClient

from offsetflow import codec
from offsetflow.lookup import LookupMode
from offsetflow.posts.fetch import PostFetcher
from offsetflow.posts.rows import POST_ROW_SCHEMA
from offsetflow.sinks import delta
from offsetflow.sinks.chunks import list_chunks, topic_location
from offsetflow.sinks.mongo import MongoUpsertSink
from offsetflow.sinks.parquet import ParquetChunkSink
from offsetflow.sinks.storage import Location
from offsetflow.stream.contracts import Sink
from offsetflow.stream.loop import LoopSettings, RunSummary
from offsetflow.stream.pipeline import Pipeline


@dataclass(frozen=True)
class PostsConsumer:
    loop: LoopSettings
    out: Location
    source_database: str
    source_collection: str
    sink_database: str
    sink_collection: str
    fetch_batch: int
    fetch_workers: int
    fetch_mode: LookupMode
    chunk_rows: int
    chunk_max_age: float
    table_format: delta.TableFormat = "parquet"


def build(settings: PostsConsumer, source: MongoClient[dict[str, Any]], sink: MongoClient[dict[str, Any]]) -> Pipeline:
    """``sink`` may be ``source``: the sampled posts can go back to the server they came from."""
    s, topic = settings, settings.loop.topic
    fetcher = PostFetcher(source[s.source_database][s.source_collection], s.fetch_batch, s.fetch_workers, s.fetch_mode)
    sampled = sink[s.sink_database][s.sink_collection]
    table: Sink = (
        delta.DeltaTableSink(s.out, topic, s.loop.group, POST_ROW_SCHEMA, "post_id", s.chunk_rows, s.chunk_max_age)
        if s.table_format == "delta"
        else ParquetChunkSink(s.out, topic, POST_ROW_SCHEMA, "post_id", s.chunk_rows, s.chunk_max_age)
    )

    def report(summary: RunSummary) -> list[str]:
        return [
            delta.report_line(delta.table_location(s.out, topic))
            if s.table_format == "delta"
            else f"Parquet: {len(list_chunks(s.out, topic))} chunk files under {topic_location(s.out, topic)}",
            f"MongoDB: {sampled.estimated_document_count():,} documents in {s.sink_database}.{s.sink_collection}",
            f"dead letters: {summary.dead_letters:,} in {s.loop.dlq_topic}"
            if summary.dead_letters
            else "dead letters: none",
        ]

    return Pipeline(
        "posts",
        s.loop,
        codec.load(codec.POST_ID),
        fetcher,
        (MongoUpsertSink(sampled), table),
        f"group {s.loop.group} on {topic}: fetching from {s.source_database}.{s.source_collection} "
        f"({fetcher.mode}), writing {s.out} and {s.sink_database}.{s.sink_collection}",
        report,
    )
