"""`offsetflow dev`: the local Kafka + MongoDB-protocol stack, without Docker."""

from __future__ import annotations

import typer
from rich.console import Console

from offsetflow import redact
from offsetflow.cli.options import CacheDir, ControllerPort, DataDir, KafkaPort, MongoPort
from offsetflow.stack.local import LocalStack

app = typer.Typer(
    help="Run a local Kafka (KRaft) broker and FerretDB (MongoDB protocol, SQLite) without Docker.\n\n"
    "The first `up` fetches Kafka from Maven Central and builds FerretDB with Go into the cache; "
    "later starts take seconds. Data persists across `down`/`up`.",
    no_args_is_help=True,
)
console = Console(stderr=True)


def _stack(
    cache_dir: CacheDir, data_dir: DataDir, kafka_port: int, controller_port: int, mongo_port: int
) -> LocalStack:
    return LocalStack.create(cache_dir, data_dir, kafka_port, controller_port, mongo_port)


@app.command()
def up(
    cache_dir: CacheDir = None,
    data_dir: DataDir = None,
    kafka_port: KafkaPort = 9092,
    controller_port: ControllerPort = 9093,
    mongo_port: MongoPort = 27017,
) -> None:
    """Start the stack (a no-op if it runs); return once Kafka can create topics and MongoDB answers."""
    stack = _stack(cache_dir, data_dir, kafka_port, controller_port, mongo_port)
    with console.status("starting Kafka and FerretDB ..."):
        stack.up(say=console.print)
    console.print("[green]local stack is up[/green]")
    print(f"OFFSETFLOW_BOOTSTRAP_SERVERS={stack.kafka.bootstrap_servers}")
    print(f"OFFSETFLOW_MONGO_URI={redact.uri(stack.ferretdb.uri)}")


@app.command()
def down(
    cache_dir: CacheDir = None,
    data_dir: DataDir = None,
    kafka_port: KafkaPort = 9092,
    controller_port: ControllerPort = 9093,
    mongo_port: MongoPort = 27017,
) -> None:
    """Stop the servers `up` started (SIGTERM, then SIGKILL after a timeout). Data is kept."""
    _stack(cache_dir, data_dir, kafka_port, controller_port, mongo_port).down(say=console.print)


@app.command()
def status(
    cache_dir: CacheDir = None,
    data_dir: DataDir = None,
    kafka_port: KafkaPort = 9092,
    controller_port: ControllerPort = 9093,
    mongo_port: MongoPort = 27017,
) -> None:
    """Show whether each server runs, where it listens and where its log is. Exit 1 if any is down."""
    rows = _stack(cache_dir, data_dir, kafka_port, controller_port, mongo_port).status()
    out = Console(soft_wrap=True)
    for row in rows:
        state = f"[green]running[/green] (pid {row.pid})" if row.pid else "[red]stopped[/red]"
        out.print(f"{row.name:<9} {state}  {redact.uri(row.address)}  log: {row.log_file}", highlight=False)
    if not all(row.pid for row in rows):
        raise typer.Exit(1)
