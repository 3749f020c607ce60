"""`offsetflow stats`: where the work stands, per user."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from offsetflow import topics
from offsetflow.cli import options
from offsetflow.cli.options import BootstrapServers, KafkaConfig, MongoOption, MongoUri, SmsTopic, SourceDatabase, opt
from offsetflow.config import DEFAULT_BOOTSTRAP_SERVERS, DEFAULT_MONGO_URI
from offsetflow.ops import stats
from offsetflow.sms.cost import usd

app = typer.Typer(help="Progress and outcomes of the pipelines.")


@app.command()
def sms(
    user_id: Annotated[str | None, opt("--user-id", "Only this user.")] = None,
    as_json: Annotated[bool, opt("--json", "Print JSON for scripts instead of a table.")] = False,
    sms_topic: SmsTopic = topics.SMS_RAW,
    source_database: SourceDatabase = "sms",
    bootstrap_servers: BootstrapServers = DEFAULT_BOOTSTRAP_SERVERS,
    kafka_config: KafkaConfig = None,
    mongo_uri: MongoUri = DEFAULT_MONGO_URI,
    mongo_option: MongoOption = None,
) -> None:
    """Per user: SMS total, processed, transactions found, failed (dead letters), pending, and what the LLM cost.

    The LLM cost adds up what the user's stored results cost (llm_cost_usd in financial_transactions), over
    every run, each result once; one stored without a cost (by an older version) counts as $0.00.
    """
    kafka = options.reachable_kafka(bootstrap_servers, kafka_config)
    with options.mongo(mongo_uri, mongo_option).client() as client:
        rows = stats.sms_per_user(kafka, client[source_database], sms_topic, user_id)
    if as_json:
        print(json.dumps(stats.as_json(rows), indent=2))
        return
    table = Table("user", *stats.COUNTS, "LLM cost")
    for r in rows:
        table.add_row(r.user_id, *(f"{getattr(r, name):,}" for name in stats.COUNTS), usd(r.llm_cost))
    if len(rows) > 1:
        sums = [sum(getattr(r, name) for r in rows) for name in stats.COUNTS]
        table.add_row("[bold]all[/bold]", *(f"{n:,}" for n in sums), usd(sum(r.llm_cost for r in rows)))
    Console(width=120).print(table)
