"""The SMS pipeline's consumer: raw SMS in; one transaction result per SMS upserted, then the SMS marked
processed at its source, then the results written to Parquet chunks (or a Delta table, ``--format delta``)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from pymongo import MongoClient

from offsetflow import codec
from offsetflow.sinks import delta
from offsetflow.sinks.chunks import list_chunks, topic_location
from offsetflow.sinks.mark import MarkProcessedSink
from offsetflow.sinks.mongo import MongoUpsertSink
from offsetflow.sinks.parquet import ParquetChunkSink
from offsetflow.sinks.storage import Location
from offsetflow.sms.batch_mode import BatchExtractor
from offsetflow.sms.cache import CACHE, CachedExtractor, ContentCache
from offsetflow.sms.cost import usd
from offsetflow.sms.extractors import Extractor
from offsetflow.sms.process import SmsProcessor
from offsetflow.sms.rows import TRANSACTION_ROW_SCHEMA
from offsetflow.sms.source import RAW, RESULTS
from offsetflow.stream.contracts import Sink
from offsetflow.stream.loop import LoopSettings, RunSummary
from offsetflow.stream.metrics import LoopMetrics
from offsetflow.stream.pipeline import Pipeline

BATCH_JOBS_IN_FLIGHT = 8  # polls whose batch jobs run at once (``--llm-mode batch``)


@dataclass(frozen=True)
class SmsConsumer:
    loop: LoopSettings
    out: Location
    source_database: str
    force: bool  # extract again even where a result for this model and prompt version is stored
    chunk_rows: int
    chunk_max_age: float
    table_format: delta.TableFormat = "parquet"


def build(settings: SmsConsumer, mongo: MongoClient[dict[str, Any]], extractor: Extractor) -> Pipeline:
    s, topic, db = settings, settings.loop.topic, mongo[settings.source_database]
    inner = extractor
    loop_settings = s.loop
    if isinstance(inner, BatchExtractor):
        # A batch waits for its job (minutes to hours) in its processing slot: more slots, more jobs at once.
        loop_settings = replace(s.loop, process_parallel=max(s.loop.process_parallel, BATCH_JOBS_IN_FLIGHT))
    cache: CachedExtractor | None = None
    if extractor.text_only:  # a text already extracted is copied, not sent again (`offsetflow.sms.cache`)
        cache = CachedExtractor(extractor, ContentCache(db[CACHE], extractor.model, extractor.prompt_version), s.force)
        extractor = cache
    processor = SmsProcessor(db[RESULTS], extractor, s.force)
    usage, price = extractor.usage, extractor.meter.price

    def copied() -> int:
        return cache.copied if cache is not None else 0

    table: Sink = (
        delta.DeltaTableSink(
            s.out, topic, s.loop.group, TRANSACTION_ROW_SCHEMA, "sms_id", s.chunk_rows, s.chunk_max_age
        )
        if s.table_format == "delta"
        else ParquetChunkSink(s.out, topic, TRANSACTION_ROW_SCHEMA, "sms_id", s.chunk_rows, s.chunk_max_age)
    )

    def metrics(loop: LoopMetrics) -> None:
        loop.count_from("offsetflow_llm_calls", "LLM requests made.", (), lambda: {(): usage.calls})
        loop.count_from(
            "offsetflow_llm_tokens",
            "LLM tokens used.",
            ("kind",),
            lambda: {("prompt",): usage.prompt_tokens, ("completion",): usage.completion_tokens},
        )
        loop.count_from(
            "offsetflow_llm_results_reused", "Stored results reused, no LLM call.", (), lambda: {(): processor.reused}
        )
        loop.count_from(
            "offsetflow_llm_results_copied",
            "SMS given the result of the same text extracted before, no LLM call.",
            (),
            lambda: {(): copied()},
        )
        loop.count_from(
            "offsetflow_llm_cost", "USD spent on LLM calls, at the price table's prices.", (), lambda: {(): usage.cost}
        )

    def report(summary: RunSummary) -> list[str]:
        money = []
        if cache is not None:
            money = [
                f"LLM cost: {usd(usage.cost)} at {usd(price.prompt)} + {usd(price.completion)} per 1M prompt + "
                "completion tokens"
                if price is not None
                else f"LLM cost: unknown, no price for {extractor.model} (give --llm-prices or --llm-price-*)",
                f"content cache: {copied():,} SMS copied from a text already extracted, no call",
            ]
        jobs = []
        if isinstance(inner, BatchExtractor):
            jobs = [
                f"batch jobs: {inner.jobs:,} created, {inner.resumed:,} resumed without paying again; "
                f"{inner.sent_online:,} SMS they left unanswered sent online"
            ]
        return [
            *jobs,
            f"LLM calls: {usage.calls:,}, tokens: {usage.prompt_tokens + usage.completion_tokens:,} "
            f"({usage.prompt_tokens:,} prompt + {usage.completion_tokens:,} completion); "
            f"stored results reused: {processor.reused:,}",
            *money,
            f"MongoDB: {s.source_database}.{RESULTS} upserted, {s.source_database}.{RAW} marked processed",
            delta.report_line(delta.table_location(s.out, topic))
            if s.table_format == "delta"
            else f"Parquet: {len(list_chunks(s.out, topic))} chunk files under {topic_location(s.out, topic)}",
            f"dead letters: {summary.dead_letters:,} in {s.loop.dlq_topic}",
        ]

    return Pipeline(
        "sms",
        loop_settings,
        codec.load(codec.SMS_RAW),
        processor,
        (
            MongoUpsertSink(db[RESULTS]),
            # After the results: `produce sms` skips what is marked, so a mark must never precede its result.
            MarkProcessedSink(db[RAW]),
            table,
        ),
        f"group {s.loop.group} on {topic}: extractor {extractor.model}, writing {s.out} and "
        f"{s.source_database}.{RESULTS}",
        report,
        metrics,
        extractor.stop,  # a batch job being waited for stops being waited for when the consumer stops
    )
