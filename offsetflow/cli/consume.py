"""`offsetflow consume`: the pipeline consumers, resumable from their group's committed offsets."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from offsetflow import redact, topics
from offsetflow.cli import errors, options
from offsetflow.cli.options import (
    COUNT,
    NON_NEGATIVE,
    POSITIVE,
    BatchSize,
    BootstrapServers,
    ChunkMaxAge,
    ChunkRows,
    Group,
    GroupInstanceId,
    KafkaConfig,
    MaxInFlight,
    MetricsPort,
    MongoOption,
    MongoUri,
    OutLocation,
    PostsTopic,
    RevokeGrace,
    SmsTopic,
    SourceDatabase,
    TableFormat,
    UntilIdle,
    WaitForKafka,
    opt,
    table_format,
)
from offsetflow.config import DEFAULT_BOOTSTRAP_SERVERS, DEFAULT_MONGO_URI, ConfigError, KafkaSettings, MongoSettings
from offsetflow.consumers import posts as posts_consumer
from offsetflow.consumers import sms as sms_consumer
from offsetflow.lookup import LookupMode
from offsetflow.sinks.chunks import open_store
from offsetflow.sms.batch_api import BatchClient
from offsetflow.sms.batch_ledger import BatchLedger
from offsetflow.sms.batch_mode import BatchExtractor
from offsetflow.sms.cost import meter_for
from offsetflow.sms.extractors import Extractor, OpenAIExtractor, OpenAISettings, RulesExtractor
from offsetflow.stream.loop import LoopSettings, RunSummary
from offsetflow.stream.metrics import LoopMetrics
from offsetflow.stream.pipeline import Pipeline
from offsetflow.stream.progress import ProgressReporter

app = typer.Typer(help="Run a pipeline consumer. Kill it any time: a restart resumes at the committed offset.")
console = Console(stderr=True)

SinkDatabase = Annotated[str, opt("--sink-database", "Database the results are upserted into.")]


def ready(kafka: KafkaSettings, mongo: MongoSettings, topic: str, flag: str, wait: float | None) -> None:
    """Before a consumer joins its group: Kafka answers (waiting for it, with a line every 30 s, up to ``wait``
    seconds, None for ever) and the input topic and its dead-letter topic exist (else a one-line error)."""
    console.print(f"Kafka at {kafka.describe()}, MongoDB at {mongo.describe()}", highlight=False)
    names = topics.wait_for_kafka(kafka, wait, say=console.print)
    for name in (topic, topics.dlq_for(topic)):
        errors.require_topic(names, kafka, name, flag)


def loop_settings(
    topic: str,
    group: str,
    batch_size: int,
    until_idle: float | None,
    group_instance_id: str | None,
    max_in_flight: int | None,
    revoke_grace: float,
) -> LoopSettings:
    return LoopSettings(
        topic,
        group,
        topics.dlq_for(topic),
        batch_size,
        until_idle=until_idle,
        group_instance_id=options.group_instance_id(group_instance_id),
        max_in_flight=max_in_flight,
        revoke_grace=revoke_grace,
    )


@contextmanager
def serving_metrics(group: str, topic: str, port: int | None) -> Iterator[LoopMetrics]:
    metrics = LoopMetrics(group, topic)
    if port:
        metrics.serve(port)
        console.print(f"metrics: http://0.0.0.0:{port}/metrics")
    try:
        yield metrics
    finally:
        metrics.close()


def print_summary(summary: RunSummary, where: list[str]) -> None:
    console.print(
        f"done in {summary.elapsed:.1f}s: {summary.records:,} records, {summary.rows:,} rows written, "
        f"{summary.dead_letters:,} dead letters"
    )
    for line in where:
        console.print(f"  {line}")


def run(pipeline: Pipeline, kafka: KafkaSettings, metrics_port: int | None) -> None:
    """What every consumer command does once its pipeline is built: say the plan, run with a progress view and
    metrics until stopped, then say where the results went."""
    loop = pipeline.loop
    console.print(pipeline.plan)
    with (
        serving_metrics(loop.group, loop.topic, metrics_port) as metrics,
        ProgressReporter(f"{pipeline.name} ({loop.group})") as bar,
    ):
        summary = pipeline.run(kafka, bar, metrics)
    print_summary(summary, pipeline.report(summary))


@app.command()
def posts(
    out: OutLocation = "out/posts",
    group: Group = "posts-fetcher",
    posts_topic: PostsTopic = topics.POSTS_IDS,
    source_database: SourceDatabase = "social",
    source_collection: Annotated[str, opt("--source-collection", "Collection holding the posts.")] = "posts",
    sink_database: SinkDatabase = "offsetflow",
    sink_collection: Annotated[str, opt("--sink-collection", "Collection the sampled posts go to.")] = "sampled_posts",
    sink_mongo_uri: Annotated[
        str | None,
        opt(
            "--sink-mongo-uri",
            "MongoDB the sampled posts are upserted into, when not the source's (default: the --mongo-uri server).",
        ),
    ] = None,
    batch_size: BatchSize = 1000,
    fetch_batch: Annotated[int, opt("--fetch-batch", "Post ids per MongoDB query (mode `in`).", **COUNT)] = 500,
    fetch_workers: Annotated[int, opt("--fetch-workers", "Parallel MongoDB fetches.", **COUNT)] = 8,
    fetch_mode: Annotated[
        str, opt("--fetch-mode", "`in` ($in batches), `by-id` (one indexed lookup each), `auto` (by server).")
    ] = "auto",
    chunk_rows: ChunkRows = 20_000,
    chunk_max_age: ChunkMaxAge = 30.0,
    output_format: TableFormat = "parquet",
    until_idle: UntilIdle = None,
    metrics_port: MetricsPort = None,
    group_instance_id: GroupInstanceId = None,
    max_in_flight: MaxInFlight = None,
    revoke_grace: RevokeGrace = 10.0,
    wait_for_kafka: WaitForKafka = None,
    bootstrap_servers: BootstrapServers = DEFAULT_BOOTSTRAP_SERVERS,
    kafka_config: KafkaConfig = None,
    mongo_uri: MongoUri = DEFAULT_MONGO_URI,
    mongo_option: MongoOption = None,
) -> None:
    """Fetch the posts named on the posts topic, write them as Parquet chunks (or a Delta table) under --out
    and upsert them into MongoDB, then commit. Missing posts go to `<topic>.dlq`. Stop with Ctrl-C / SIGTERM:
    the batch in hand is finished and committed first."""
    if fetch_mode not in ("auto", "in", "by-id"):
        raise typer.BadParameter("choose auto, in or by-id", param_hint="--fetch-mode")
    mode: LookupMode = fetch_mode  # type: ignore[assignment]
    kafka, mongo = options.kafka(bootstrap_servers, kafka_config), options.mongo(mongo_uri, mongo_option)
    settings = posts_consumer.PostsConsumer(
        loop=loop_settings(posts_topic, group, batch_size, until_idle, group_instance_id, max_in_flight, revoke_grace),
        out=out,
        source_database=source_database,
        source_collection=source_collection,
        sink_database=sink_database,
        sink_collection=sink_collection,
        fetch_batch=fetch_batch,
        fetch_workers=fetch_workers,
        fetch_mode=mode,
        chunk_rows=chunk_rows,
        chunk_max_age=chunk_max_age,
        table_format=table_format(output_format),
    )
    with mongo.client() as client, ExitStack() as closing:
        ready(kafka, mongo, posts_topic, "--posts-topic", wait_for_kafka)
        open_store(out).check()
        sink_client = (
            closing.enter_context(options.mongo(sink_mongo_uri, mongo_option).client()) if sink_mongo_uri else client
        )
        run(posts_consumer.build(settings, client, sink_client), kafka, metrics_port)


def _extractor(
    llm: str,
    base_url: str,
    model: str,
    api_key: str,
    batch: int,
    concurrency: int,
    rpm: float,
    tpm: float,
    timeout: float,
    retries: int,
    prices: Path | None = None,
    price_prompt: float | None = None,
    price_completion: float | None = None,
    budget: float | None = None,
    batch_mode: BatchMode | None = None,
) -> Extractor:
    if llm == "rules":
        if batch_mode is not None:
            raise typer.BadParameter("batch mode is for --llm openai", param_hint="--llm-mode")
        return RulesExtractor()
    if llm != "openai":
        raise typer.BadParameter("choose rules or openai", param_hint="--llm")
    if not base_url.startswith(("http://", "https://")):
        raise typer.BadParameter(f"{redact.uri(base_url)} is not an http(s) URL", param_hint="--llm-base-url")
    if not api_key and base_url.startswith("https://api.openai.com"):
        raise ConfigError(
            "--llm openai at api.openai.com needs an API key: set OFFSETFLOW_LLM_API_KEY (or --llm-api-key)"
        )
    meter = meter_for(model, prices, price_prompt, price_completion, budget)
    online = OpenAIExtractor(
        OpenAISettings(base_url, model, api_key, batch, concurrency, rpm, tpm, timeout, retries), meter
    )
    if batch_mode is None:
        return online
    client = BatchClient(base_url, api_key, timeout)
    return BatchExtractor(online, client, batch_mode.poll, batch_mode.ledger, batch_mode.topic)


@dataclass(frozen=True)
class BatchMode:
    """``--llm-mode batch``: where the jobs are recorded, and how often they are polled."""

    ledger: BatchLedger
    topic: str
    poll: float


@app.command()
def sms(
    llm: Annotated[str, opt("--llm", "`rules` (built in, offline) or `openai` (any OpenAI-compatible API).")] = "rules",
    llm_base_url: Annotated[
        str, opt("--llm-base-url", "Chat-completions base URL (OpenAI, vLLM, Ollama, llama.cpp server).")
    ] = "https://api.openai.com/v1",
    llm_model: Annotated[str, opt("--llm-model", "Model name sent to the endpoint.")] = "gpt-4o-mini",
    llm_api_key: Annotated[
        str, opt("--llm-api-key", "API key (or set OFFSETFLOW_LLM_API_KEY).", show_default=False)
    ] = "",
    llm_batch_size: Annotated[int, opt("--llm-batch-size", "SMS per LLM request.", **COUNT)] = 10,
    llm_concurrency: Annotated[int, opt("--llm-concurrency", "LLM requests in flight.", **COUNT)] = 4,
    llm_rpm: Annotated[float, opt("--llm-rpm", "Requests per minute limit.", **POSITIVE)] = 500,
    llm_tpm: Annotated[float, opt("--llm-tpm", "Tokens per minute limit.", **POSITIVE)] = 200_000,
    llm_timeout: Annotated[float, opt("--llm-timeout", "Seconds per LLM request.", **POSITIVE)] = 60,
    llm_mode: Annotated[
        str,
        opt(
            "--llm-mode",
            "`online` (chat completions as records arrive) or `batch` (the Batch API: about half the price and "
            "its own rate limits, answered within hours; each poll's SMS become one job per partition, recorded "
            "in Kafka before it is created, so a restarted consumer polls the job it paid for instead of paying "
            "again). Raise --batch-size for larger jobs.",
        ),
    ] = "online",
    llm_batch_poll: Annotated[
        float, opt("--llm-batch-poll", "Seconds between polls of a running batch job.", **POSITIVE)
    ] = 30.0,
    llm_max_retries: Annotated[
        int, opt("--llm-max-retries", "Retries on 429/5xx/timeouts/malformed output.", **NON_NEGATIVE)
    ] = 5,
    llm_prices: Annotated[
        Path | None,
        opt(
            "--llm-prices",
            "Price table, JSON or TOML: per model, prompt and completion USD per 1M tokens (batch_prompt, "
            "batch_completion optional). Without it, built-in examples for a few OpenAI models: not live prices.",
        ),
    ] = None,
    llm_price_prompt: Annotated[
        float | None,
        opt("--llm-price-prompt", "USD per 1M prompt tokens for --llm-model (overrides the table).", min=0),
    ] = None,
    llm_price_completion: Annotated[
        float | None,
        opt("--llm-price-completion", "USD per 1M completion tokens for --llm-model (overrides the table).", min=0),
    ] = None,
    llm_budget: Annotated[
        float | None,
        opt(
            "--llm-budget",
            "USD: stop before a call whose worst case could take spending past it: what is written is committed, "
            "the exit code is 1, and results paid for are kept, so a restart with a higher budget goes on without "
            "paying for them again.",
            **POSITIVE,
        ),
    ] = None,
    force: Annotated[
        bool,
        opt("--force", "Re-extract SMS whose result for this model and prompt is stored, or whose text was extracted."),
    ] = False,
    out: OutLocation = "out/sms",
    group: Group = "sms-processor",
    sms_topic: SmsTopic = topics.SMS_RAW,
    source_database: SourceDatabase = "sms",
    batch_size: BatchSize = 200,
    chunk_rows: ChunkRows = 20_000,
    chunk_max_age: ChunkMaxAge = 30.0,
    output_format: TableFormat = "parquet",
    until_idle: UntilIdle = None,
    metrics_port: MetricsPort = None,
    group_instance_id: GroupInstanceId = None,
    max_in_flight: MaxInFlight = None,
    revoke_grace: RevokeGrace = 10.0,
    wait_for_kafka: WaitForKafka = None,
    bootstrap_servers: BootstrapServers = DEFAULT_BOOTSTRAP_SERVERS,
    kafka_config: KafkaConfig = None,
    mongo_uri: MongoUri = DEFAULT_MONGO_URI,
    mongo_option: MongoOption = None,
) -> None:
    """Extract transactions from the SMS topic: upsert one result per SMS into `financial_transactions` (by
    sms_id), then mark the SMS `isprocessed: true`, write Parquet chunks (or a Delta table), and commit. Results
    already stored for the same model and prompt version are reused, not paid for again. Failures go to
    `<topic>.dlq`."""
    kafka, mongo = options.kafka(bootstrap_servers, kafka_config), options.mongo(mongo_uri, mongo_option)
    if llm_mode not in ("online", "batch"):
        raise typer.BadParameter("choose online or batch", param_hint="--llm-mode")
    ledger = BatchLedger(kafka, topics.LLM_BATCHES, group) if llm_mode == "batch" else None
    extractor = _extractor(
        llm,
        llm_base_url,
        llm_model,
        llm_api_key,
        llm_batch_size,
        llm_concurrency,
        llm_rpm,
        llm_tpm,
        llm_timeout,
        llm_max_retries,
        llm_prices,
        llm_price_prompt,
        llm_price_completion,
        llm_budget,
        BatchMode(ledger, sms_topic, llm_batch_poll) if ledger is not None else None,
    )
    settings = sms_consumer.SmsConsumer(
        loop=loop_settings(sms_topic, group, batch_size, until_idle, group_instance_id, max_in_flight, revoke_grace),
        out=out,
        source_database=source_database,
        force=force,
        chunk_rows=chunk_rows,
        chunk_max_age=chunk_max_age,
        table_format=table_format(output_format),
    )
    with mongo.client() as client:
        ready(kafka, mongo, sms_topic, "--sms-topic", wait_for_kafka)
        open_store(out).check()
        try:
            run(sms_consumer.build(settings, client, extractor), kafka, metrics_port)
        finally:
            if ledger is not None:
                ledger.shutdown()
