"""A pipeline's consumer is one value, built in one place: what the CLI runs is what a test or a bench runs."""

from __future__ import annotations

from typing import Any

from pymongo import MongoClient

from offsetflow.config import KafkaSettings
from offsetflow.sinks.mark import MarkProcessedSink
from offsetflow.sinks.mongo import MongoUpsertSink
from offsetflow.sinks.parquet import ParquetChunkSink
from offsetflow.sms.extractors import RulesExtractor
from offsetflow.sms.source import RAW
from offsetflow.stream.metrics import LoopMetrics
from offsetflow.stream.progress import ProgressReporter
from tests.pipelines import PostsRun, SmsRun


def test_an_sms_is_marked_processed_only_after_its_result_is_stored_and_parquet_is_written_last(
    sms_run: SmsRun,
) -> None:
    sinks = sms_run.pipeline(RulesExtractor()).sinks

    assert [type(sink) for sink in sinks] == [MongoUpsertSink, MarkProcessedSink, ParquetChunkSink]


def test_a_post_is_upserted_before_it_is_written_to_parquet(run: PostsRun) -> None:
    sinks = run.pipeline().sinks

    assert [type(sink) for sink in sinks] == [MongoUpsertSink, ParquetChunkSink]


def test_the_sms_pipeline_counts_llm_calls_tokens_and_reused_results_beside_the_loops_metrics(
    sms_run: SmsRun,
) -> None:
    pipeline = sms_run.pipeline(RulesExtractor())
    metrics = LoopMetrics(pipeline.loop.group, pipeline.loop.topic)

    pipeline.metrics(metrics)

    names = {family.name for family in metrics.registry.collect()}
    assert {"offsetflow_llm_calls", "offsetflow_llm_tokens", "offsetflow_llm_results_reused"} <= names
    assert "offsetflow_records" in names


def test_a_pipeline_built_in_process_consumes_its_topic_and_reports_where_the_results_went(
    sms_run: SmsRun, kafka: KafkaSettings, mongo: MongoClient[dict[str, Any]]
) -> None:
    sms_run.seed(users=2, per_user=10)
    sms_run.produce()
    pipeline = sms_run.pipeline(RulesExtractor())

    with ProgressReporter("sms", interactive=False) as progress:
        summary = pipeline.run(kafka, progress)

    assert summary.records == 20
    assert summary.rows == len(sms_run.results()) == 20
    assert sms_run.db[RAW].count_documents({"isprocessed": False}) == 0
    assert pipeline.report(summary)[-1] == f"dead letters: 0 in {sms_run.topic}.dlq"
