"""`offsetflow dev`: the local Kafka + MongoDB-protocol stack, without Docker."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from offsetflow import redact
from offsetflow.cli.options import PORT, CacheDir, ControllerPort, DataDir, KafkaPort, MongoPort, opt
from offsetflow.stack.local import LocalStack
from offsetflow.stack.s3 import DEV_BUCKET

S3Port = Annotated[int, opt("--s3-port", "Local S3-compatible server (versitygw) port.", **PORT)]
WithS3 = Annotated[
    bool,
    opt(
        "--s3",
        "Also run the S3-compatible server (versitygw, posix backend, data in the data dir) with fixed "
        f"development credentials and a bucket `{DEV_BUCKET}`. Off by default: its first start builds it "
        "with Go.",
    ),
]

app = typer.Typer(
    help="Run a local Kafka (KRaft) broker and FerretDB (MongoDB protocol, SQLite) without Docker, and with "
    "--s3 an S3-compatible server (versitygw).\n\n"
    "The first `up` fetches Kafka from Maven Central and builds FerretDB (and versitygw) with Go into the cache; "
    "later starts take seconds. Data persists across `down`/`up`.",
    no_args_is_help=True,
)
console = Console(stderr=True)


def _stack(
    cache_dir: CacheDir,
    data_dir: DataDir,
    kafka_port: int,
    controller_port: int,
    mongo_port: int,
    s3_port: int,
    with_s3: bool = False,
) -> LocalStack:
    return LocalStack.create(cache_dir, data_dir, kafka_port, controller_port, mongo_port, s3_port, with_s3)


@app.command()
def up(
    cache_dir: CacheDir = None,
    data_dir: DataDir = None,
    kafka_port: KafkaPort = 9092,
    controller_port: ControllerPort = 9093,
    mongo_port: MongoPort = 27017,
    s3_port: S3Port = 9000,
    s3: WithS3 = False,
) -> None:
    """Start the stack (a no-op if it runs); return once Kafka can create topics and MongoDB answers (and,
    with --s3, the S3 server lists its bucket)."""
    stack = _stack(cache_dir, data_dir, kafka_port, controller_port, mongo_port, s3_port, s3)
    with console.status("starting Kafka and FerretDB" + (" and the S3 server" if s3 else "") + " ..."):
        stack.up(say=console.print)
    console.print("[green]local stack is up[/green]")
    print(f"OFFSETFLOW_BOOTSTRAP_SERVERS={stack.kafka.bootstrap_servers}")
    print(f"OFFSETFLOW_MONGO_URI={redact.uri(stack.ferretdb.uri)}")
    if s3:
        for name, value in stack.s3.client_env().items():
            print(f"{name}={redact.MASK if redact.is_secret_name(name) else value}")
        print(
            f"# bucket: s3://{DEV_BUCKET}; the fixed development keys are DEV_ACCESS_KEY_ID and "
            "DEV_SECRET_ACCESS_KEY in offsetflow/stack/s3.py"
        )


@app.command()
def down(
    cache_dir: CacheDir = None,
    data_dir: DataDir = None,
    kafka_port: KafkaPort = 9092,
    controller_port: ControllerPort = 9093,
    mongo_port: MongoPort = 27017,
    s3_port: S3Port = 9000,
) -> None:
    """Stop the servers `up` started (SIGTERM, then SIGKILL after a timeout). Data is kept."""
    _stack(cache_dir, data_dir, kafka_port, controller_port, mongo_port, s3_port).down(say=console.print)


@app.command()
def status(
    cache_dir: CacheDir = None,
    data_dir: DataDir = None,
    kafka_port: KafkaPort = 9092,
    controller_port: ControllerPort = 9093,
    mongo_port: MongoPort = 27017,
    s3_port: S3Port = 9000,
    s3: WithS3 = False,
) -> None:
    """Show whether each server runs, where it listens and where its log is. Exit 1 if any is down (the S3
    server counts when it runs or --s3 is given)."""
    rows = _stack(cache_dir, data_dir, kafka_port, controller_port, mongo_port, s3_port, s3).status()
    out = Console(soft_wrap=True)
    for row in rows:
        state = f"[green]running[/green] (pid {row.pid})" if row.pid else "[red]stopped[/red]"
        out.print(f"{row.name:<9} {state}  {redact.uri(row.address)}  log: {row.log_file}", highlight=False)
    if not all(row.pid for row in rows):
        raise typer.Exit(1)
