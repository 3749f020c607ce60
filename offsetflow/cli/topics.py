"""`offsetflow topics`: the project's topics."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from offsetflow import topics as topic_names
from offsetflow.cli import options
from offsetflow.cli.options import COUNT, BootstrapServers, KafkaConfig, PostsTopic, SmsTopic, opt
from offsetflow.config import DEFAULT_BOOTSTRAP_SERVERS

app = typer.Typer(help="Create and inspect the project's Kafka topics.", no_args_is_help=True)


@app.command()
def create(
    partitions: Annotated[
        int, opt("--partitions", "Partitions per topic: the most consumers a group can use.", **COUNT)
    ] = 6,
    retention: Annotated[str, opt("--retention", "How long records are kept for replay: 7d, 12h, forever.")] = "7d",
    replication_factor: Annotated[int, opt("--replication-factor", "Copies of each partition.", **COUNT)] = 1,
    posts_topic: PostsTopic = topic_names.POSTS_IDS,
    sms_topic: SmsTopic = topic_names.SMS_RAW,
    bootstrap_servers: BootstrapServers = DEFAULT_BOOTSTRAP_SERVERS,
    kafka_config: KafkaConfig = None,
) -> None:
    """Create the input topics and their dead-letter topics (`<topic>.dlq`); existing ones are kept."""
    kafka = options.reachable_kafka(bootstrap_servers, kafka_config)
    names = [posts_topic, topic_names.dlq_for(posts_topic), sms_topic, topic_names.dlq_for(sms_topic)]
    results = topic_names.ensure_topics(
        kafka.client_config(), names, partitions, topic_names.parse_retention(retention), replication_factor
    )
    console = Console(soft_wrap=True)
    for result in results:
        colour = "green" if result.outcome == "created" else "dim"
        note = f"  [yellow]{result.note}[/yellow]" if result.note else ""
        console.print(
            f"[{colour}]{result.outcome:>7}[/{colour}]  {result.name}  ({result.partitions} partitions){note}"
        )
