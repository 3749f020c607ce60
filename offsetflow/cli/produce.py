"""`offsetflow produce`: put the work onto Kafka topics."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from offsetflow import topics
from offsetflow.cli import errors, options
from offsetflow.cli.options import (
    COUNT,
    BootstrapServers,
    KafkaConfig,
    MongoOption,
    MongoUri,
    Platforms,
    PostsTopic,
    Seed,
    SmsTopic,
    SourceDatabase,
    opt,
)
from offsetflow.cli.seed import progress_bar
from offsetflow.config import DEFAULT_BOOTSTRAP_SERVERS, DEFAULT_MONGO_URI, KafkaSettings, MongoSettings
from offsetflow.producers.posts import PostSample, produce_post_ids
from offsetflow.producers.sms import produce_sms

app = typer.Typer(help="Stream work items into Kafka; safe to rerun and to kill at any moment.")
console = Console(stderr=True)


def _settings(
    bootstrap_servers: str,
    kafka_config: list[str] | None,
    mongo_uri: str,
    mongo_option: list[str] | None,
    topic: str,
    flag: str,
) -> tuple[KafkaSettings, MongoSettings]:
    """Checked before anything is produced: the MongoDB settings are usable, Kafka answers within seconds (a
    producer is a job that runs once; `restart: on-failure` reruns it), and the output topic exists."""
    kafka, mongo = options.kafka(bootstrap_servers, kafka_config), options.mongo(mongo_uri, mongo_option)
    mongo.client(connect=False).close()
    errors.require_topic(topics.require_kafka(kafka), kafka, topic, flag)
    return kafka, mongo


@app.command()
def posts(
    platforms: Platforms = "twitter,facebook,telegram",
    sample_actors: Annotated[int, opt("--sample-actors", "Actors to sample per platform.", **COUNT)] = 50,
    seed: Seed = 42,
    transaction_size: Annotated[int, opt("--transaction-size", "Post ids per Kafka transaction.", **COUNT)] = 1000,
    posts_topic: PostsTopic = topics.POSTS_IDS,
    source_database: SourceDatabase = "social",
    bootstrap_servers: BootstrapServers = DEFAULT_BOOTSTRAP_SERVERS,
    kafka_config: KafkaConfig = None,
    mongo_uri: MongoUri = DEFAULT_MONGO_URI,
    mongo_option: MongoOption = None,
) -> None:
    """Sample actors per platform with a seed and produce one record per post id to the posts topic.

    Progress is committed to Kafka in the same transaction as the ids: a rerun after a crash (or after
    success) never puts an id in the topic twice.
    """
    names = [p.strip() for p in platforms.split(",") if p.strip()]
    kafka, mongo = _settings(bootstrap_servers, kafka_config, mongo_uri, mongo_option, posts_topic, "--posts-topic")
    sample = PostSample(names, sample_actors, seed)
    console.print(
        f"sampling {source_database} on MongoDB at {mongo.describe()} into {posts_topic} on {kafka.describe()}"
    )
    with mongo.client() as client, progress_bar() as bar:
        task = bar.add_task(f"producing to {posts_topic}", total=None)
        result = produce_post_ids(
            kafka,
            client[source_database],
            posts_topic,
            sample,
            transaction_size,
            say=console.print,
            on_progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    if result.already and not result.produced:
        console.print(f"job {result.job}: all {result.already:,} ids were already produced; nothing to do")
    elif result.already:
        console.print(f"job {result.job}: resumed after {result.already:,} ids, produced {result.produced:,} more")
    else:
        console.print(f"job {result.job}: produced {result.produced:,} post ids to {posts_topic}")


@app.command()
def sms(
    user_id: Annotated[str | None, opt("--user-id", "Only this user's SMS.")] = None,
    limit: Annotated[int | None, opt("--limit", "Queue at most this many SMS.", **COUNT)] = None,
    sms_topic: SmsTopic = topics.SMS_RAW,
    source_database: SourceDatabase = "sms",
    bootstrap_servers: BootstrapServers = DEFAULT_BOOTSTRAP_SERVERS,
    kafka_config: KafkaConfig = None,
    mongo_uri: MongoUri = DEFAULT_MONGO_URI,
    mongo_option: MongoOption = None,
) -> None:
    """Queue unprocessed SMS (`isprocessed: false`) on the SMS topic, keyed by user id so each user's order
    is kept. SMS already queued (recorded in Kafka, in the same transaction) or done are skipped."""
    kafka, mongo = _settings(bootstrap_servers, kafka_config, mongo_uri, mongo_option, sms_topic, "--sms-topic")
    console.print(
        f"queueing {source_database} on MongoDB at {mongo.describe()} onto {sms_topic} on {kafka.describe()}",
        highlight=False,
    )
    with mongo.client() as client, progress_bar() as bar:
        task = bar.add_task(f"producing to {sms_topic}", total=None)
        result = produce_sms(
            kafka,
            client[source_database],
            sms_topic,
            user_id,
            limit,
            on_progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    console.print(
        f"{result.unprocessed:,} unprocessed SMS, {result.already_queued:,} already queued; "
        f"queued {result.produced:,} on {sms_topic}"
    )
    if result.skipped:
        console.print(
            f"[yellow]skipped {len(result.skipped):,} source documents that cannot be queued[/yellow] (dead letters "
            f"on {topics.dlq_for(sms_topic)}; fix them and run this again):",
            highlight=False,
        )
        for source_id, reason in result.skipped[:10]:
            console.print(f"  {source_id}: {reason}", highlight=False, markup=False)
