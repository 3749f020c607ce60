"""The `offsetflow` command line."""

from __future__ import annotations

import sys

import typer
from confluent_kafka import KafkaException
from pymongo.errors import PyMongoError
from rich.console import Console

from offsetflow.cli import check, clean, consume, dev, dlq, logs, produce, replay, seed, stats, status, topics
from offsetflow.config import ConfigError
from offsetflow.stack.process import StackError

app = typer.Typer(
    help="Resumable data pipelines over Kafka: consumer-group offsets are the checkpoints.\n\n"
    "Every flag --foo-bar can also be set as OFFSETFLOW_FOO_BAR.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(dev.app, name="dev")
app.add_typer(topics.app, name="topics")
app.add_typer(seed.app, name="seed")
app.add_typer(produce.app, name="produce")
app.add_typer(consume.app, name="consume")
app.add_typer(stats.app, name="stats")
app.command()(check.check)
app.command()(status.status)
app.command()(replay.replay)
app.add_typer(dlq.app, name="dlq")
app.command()(clean.clean)

# Errors a user can act on: one line, no traceback.
_USER_ERRORS = (StackError, ConfigError, KafkaException, PyMongoError, RuntimeError)


def main() -> None:
    logs.setup()
    try:
        app()
    except _USER_ERRORS as exc:
        Console(stderr=True).print(f"[red]error:[/red] {exc}", highlight=False)
        sys.exit(1)
