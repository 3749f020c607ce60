"""`offsetflow stats`: where the work stands, per user."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from offsetflow import topics
from offsetflow.cli import options
from offsetflow.cli.options import BootstrapServers, KafkaConfig, MongoOption, MongoUri, SmsTopic, SourceDatabase, opt
from offsetflow.config import DEFAULT_BOOTSTRAP_SERVERS, DEFAULT_MONGO_URI
from offsetflow.ops import stats

app = typer.Typer(help="Progress and outcomes of the pipelines.")


@app.command()
def sms(
    user_id: Annotated[str | None, opt("--user-id", "Only this user.")] = None,
    sms_topic: SmsTopic = topics.SMS_RAW,
    source_database: SourceDatabase = "sms",
    bootstrap_servers: BootstrapServers = DEFAULT_BOOTSTRAP_SERVERS,
    kafka_config: KafkaConfig = None,
    mongo_uri: MongoUri = DEFAULT_MONGO_URI,
    mongo_option: MongoOption = None,
) -> None:
    """Per user: SMS total, processed, transactions found, failed (dead letters) and pending."""
    kafka = options.reachable_kafka(bootstrap_servers, kafka_config)
    with options.mongo(mongo_uri, mongo_option).client() as client:
        rows = stats.sms_per_user(kafka, client[source_database], sms_topic, user_id)
    table = Table("user", "total", "processed", "transactions", "failed", "pending")
    for r in rows:
        table.add_row(r.user_id, *(f"{n:,}" for n in (r.total, r.processed, r.transactions, r.failed, r.pending)))
    if len(rows) > 1:
        sums = [sum(getattr(r, f) for r in rows) for f in ("total", "processed", "transactions", "failed", "pending")]
        table.add_row("[bold]all[/bold]", *(f"{n:,}" for n in sums))
    Console(width=120).print(table)
