"""Options shared by commands: every flag ``--foo-bar`` is also read from ``OFFSETFLOW_FOO_BAR``."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Annotated, Any

import typer

from offsetflow import topics
from offsetflow.config import (
    KafkaSettings,
    MongoSettings,
    env_name,
)
from offsetflow.sinks import delta


def opt(flag: str, help: str, **kwargs: Any) -> Any:
    """A typer option whose environment variable follows the project's one naming scheme."""
    return typer.Option(flag, envvar=env_name(flag), show_envvar=True, help=help, **kwargs)


def _positive(value: float | None) -> float | None:
    if value is not None and value <= 0:
        raise typer.BadParameter(f"{value:g} is not greater than 0")
    return value


# Numeric flags are checked before anything runs: a bad value is a one-line error with exit code 2.
COUNT: dict[str, Any] = {"min": 1}  # how many: at least one
NON_NEGATIVE: dict[str, Any] = {"min": 0}
POSITIVE: dict[str, Any] = {"callback": _positive}  # seconds, rates: more than zero
PORT: dict[str, Any] = {"min": 1, "max": 65535}


BootstrapServers = Annotated[str, opt("--bootstrap-servers", "Kafka bootstrap servers, host:port[,host:port].")]
KafkaConfig = Annotated[
    list[str] | None,
    opt(
        "--kafka-config",
        "Extra librdkafka setting KEY=VALUE, repeatable (TLS, SASL, ...). "
        "Also OFFSETFLOW_KAFKA_<KEY> with '_' for '.', e.g. OFFSETFLOW_KAFKA_SECURITY_PROTOCOL.",
        metavar="KEY=VALUE",
    ),
]
MongoUri = Annotated[str, opt("--mongo-uri", "MongoDB connection string (auth and TLS options may go here).")]
MongoOption = Annotated[
    list[str] | None,
    opt(
        "--mongo-option",
        "Extra MongoClient option KEY=VALUE, repeatable, e.g. tlsCAFile=/ca.pem. Also OFFSETFLOW_MONGO_<KEY>.",
        metavar="KEY=VALUE",
    ),
]
CacheDir = Annotated[
    Path | None, opt("--cache-dir", "Where downloads and builds are kept [default: ~/.cache/offsetflow].")
]
DataDir = Annotated[
    Path | None,
    opt("--data-dir", "Where the local stack keeps its data [default: ~/.local/share/offsetflow/dev]."),
]
KafkaPort = Annotated[int, opt("--kafka-port", "Local Kafka broker port.", **PORT)]
ControllerPort = Annotated[int, opt("--controller-port", "Local Kafka KRaft controller port.", **PORT)]
MongoPort = Annotated[int, opt("--mongo-port", "Local FerretDB (MongoDB protocol) port.", **PORT)]


def _platforms(value: str) -> str:
    from offsetflow.posts.synthetic import PLATFORMS

    names = [p.strip() for p in value.split(",") if p.strip()]
    unknown = [p for p in names if p not in PLATFORMS]
    if unknown or not names:
        raise typer.BadParameter(
            f"{', '.join(unknown) or 'none given'}: choose one or more of {','.join(PLATFORMS)}, comma-separated"
        )
    return ",".join(names)


Platforms = Annotated[
    str, opt("--platforms", "Comma-separated platforms: twitter,facebook,telegram.", callback=_platforms)
]
Seed = Annotated[int, opt("--seed", "Random seed; the same seed gives the same data or sample.")]
SourceDatabase = Annotated[str, opt("--source-database", "Database holding the source collections.")]
PostsTopic = Annotated[str, opt("--posts-topic", "Topic of post ids to fetch.")]
SmsTopic = Annotated[str, opt("--sms-topic", "Topic of raw SMS to process.")]
Group = Annotated[str, opt("--group", "Consumer group: its committed offsets are the checkpoint.")]
OutDir = Annotated[Path, opt("--out", "Directory for Parquet chunk files (one folder per topic and partition).")]


def _output_location(value: str) -> str:
    """Kept as text, not a Path: ``Path("s3://b/p")`` would fold the URL's ``//``."""
    from offsetflow.sinks.storage import StorageError, is_url, split_url

    if is_url(value):
        try:
            scheme, path = split_url(value)
        except StorageError as exc:
            raise typer.BadParameter(str(exc)) from exc
        return f"{scheme}://{path}"
    return value


def optional_output_location(value: str | None) -> str | None:
    """``--out`` where it may be left out (``clean``), kept as ``OutLocation`` keeps it."""
    return None if value is None else _output_location(value)


def output_locations(values: list[str] | None) -> list[str] | None:
    """A repeatable ``--out`` (``status``), each kept as ``OutLocation`` keeps it."""
    return None if values is None else [_output_location(v) for v in values]


OutLocation = Annotated[
    str,
    opt(
        "--out",
        "Where Parquet chunk files go (one folder per topic and partition): a directory, or an object-store URL "
        "such as s3://bucket/prefix (credentials, endpoint and region from the AWS_* variables; gs:// and az:// "
        "with gcsfs or adlfs installed).",
        metavar="DIR|URL",
        callback=_output_location,
    ),
]
UntilIdle = Annotated[
    float | None,
    opt(
        "--until-idle", "Exit cleanly once no record arrived for this many seconds.", metavar="SECONDS", **NON_NEGATIVE
    ),
]
BatchSize = Annotated[int, opt("--batch-size", "Records consumed and processed per batch.", **COUNT)]
MaxInFlight = Annotated[
    int | None,
    opt(
        "--max-in-flight",
        "Records polled but not yet written, at most (memory stays flat): at the bound the consumer pauses its "
        "partitions, staying in its group, until half is written. Default: 4 batches, at least 2,000.",
        **COUNT,
    ),
]
RevokeGrace = Annotated[
    float,
    opt(
        "--revoke-grace",
        "On a rebalance, seconds to wait for batches still being processed (LLM calls, fetches) before leaving "
        "them uncommitted to the partitions' next owner; the whole group waits meanwhile. Writes already "
        "started always finish.",
        metavar="SECONDS",
        **NON_NEGATIVE,
    ),
]
ChunkRows = Annotated[int, opt("--chunk-rows", "Rows per Parquet chunk file (per partition).", **COUNT)]
ChunkMaxAge = Annotated[
    float, opt("--chunk-max-age", "Write a partial chunk after this many seconds, so offsets keep moving.", **POSITIVE)
]
MetricsPort = Annotated[
    int | None,
    opt(
        "--metrics-port",
        "Serve Prometheus metrics at http://0.0.0.0:PORT/metrics [default: off].",
        metavar="PORT",
        **PORT,
    ),
]


WaitForKafka = Annotated[
    float | None,
    opt(
        "--wait-for-kafka",
        "How long to wait at start for Kafka to answer, saying so every 30 s [default: for ever, so a consumer "
        "started before Kafka (docker compose, a reboot) simply begins once it is up].",
        metavar="SECONDS",
        **NON_NEGATIVE,
    ),
]
GroupInstanceId = Annotated[
    str | None,
    opt(
        "--group-instance-id",
        "Static group membership (Kafka group.instance.id): a consumer restarted with the same id gets its "
        "partitions back at once, instead of after the session timeout, with no rebalance of the others. Must be "
        "unique among the group's live consumers; {hostname} is replaced by this machine's host name, so each "
        "docker compose replica keeps a stable id of its own across restarts. [default: dynamic membership]",
        metavar="ID",
    ),
]


def group_instance_id(template: str | None) -> str | None:
    """``posts-{hostname}`` -> ``posts-3f2a9c1b0d4e``; blank means dynamic membership."""
    if template is None or not template.strip():
        return None
    return template.strip().replace("{hostname}", socket.gethostname())


def kafka(bootstrap_servers: str, kafka_config: list[str] | None) -> KafkaSettings:
    return KafkaSettings.resolve(bootstrap_servers, kafka_config or ())


def reachable_kafka(bootstrap_servers: str, kafka_config: list[str] | None) -> KafkaSettings:
    """Settings of a Kafka that answered within seconds, for commands that run once: an unreachable broker is a
    one-line error naming the address, not a minute and a half of timeouts."""
    settings = kafka(bootstrap_servers, kafka_config)
    topics.require_kafka(settings)
    return settings


def mongo(mongo_uri: str, mongo_option: list[str] | None) -> MongoSettings:
    return MongoSettings.resolve(mongo_uri, mongo_option or ())


TableFormat = Annotated[
    str,
    opt(
        "--format",
        "Table output under --out: `parquet` (chunk files, one per flush, named by topic/partition/offsets) or "
        "`delta` (one Delta Lake table, <out>/<topic>.delta: each flush is a Delta commit recording how far it "
        "holds each partition, so a replay is skipped by the table; read with polars.read_delta, DuckDB, Spark; "
        "needs `pip install 'offsetflow\\[delta]'`).",  # rich would read [delta] as markup
        metavar="parquet|delta",
    ),
]


def table_format(value: str) -> delta.TableFormat:
    """The --format asked for, with deltalake importable when it is `delta` (else one line saying how)."""
    if value not in delta.TABLE_FORMATS:
        raise typer.BadParameter(f"{value!r}: choose parquet or delta", param_hint="--format")
    if value == "delta":
        delta.require_deltalake()
    return "delta" if value == "delta" else "parquet"
