"""Options shared by commands: every flag ``--foo-bar`` is also read from ``OFFSETFLOW_FOO_BAR``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from offsetflow.config import (
    KafkaSettings,
    MongoSettings,
    env_name,
)


def opt(flag: str, help: str, **kwargs: Any) -> Any:
    """A typer option whose environment variable follows the project's one naming scheme."""
    return typer.Option(flag, envvar=env_name(flag), show_envvar=True, help=help, **kwargs)


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
KafkaPort = Annotated[int, opt("--kafka-port", "Local Kafka broker port.")]
ControllerPort = Annotated[int, opt("--controller-port", "Local Kafka KRaft controller port.")]
MongoPort = Annotated[int, opt("--mongo-port", "Local FerretDB (MongoDB protocol) port.")]

Platforms = Annotated[str, opt("--platforms", "Comma-separated platforms: twitter,facebook,telegram.")]
Seed = Annotated[int, opt("--seed", "Random seed; the same seed gives the same data or sample.")]
SourceDatabase = Annotated[str, opt("--source-database", "Database holding the source collections.")]
PostsTopic = Annotated[str, opt("--posts-topic", "Topic of post ids to fetch.")]
SmsTopic = Annotated[str, opt("--sms-topic", "Topic of raw SMS to process.")]
Group = Annotated[str, opt("--group", "Consumer group: its committed offsets are the checkpoint.")]
OutDir = Annotated[Path, opt("--out", "Directory for Parquet chunk files (one folder per topic and partition).")]
UntilIdle = Annotated[
    float | None, opt("--until-idle", "Exit cleanly once no record arrived for this many seconds.", metavar="SECONDS")
]
BatchSize = Annotated[int, opt("--batch-size", "Records consumed and processed per batch.")]
ChunkRows = Annotated[int, opt("--chunk-rows", "Rows per Parquet chunk file (per partition).")]
ChunkMaxAge = Annotated[
    float, opt("--chunk-max-age", "Write a partial chunk after this many seconds, so offsets keep moving.")
]
MetricsPort = Annotated[
    int | None,
    opt("--metrics-port", "Serve Prometheus metrics at http://0.0.0.0:PORT/metrics [default: off].", metavar="PORT"),
]


def kafka(bootstrap_servers: str, kafka_config: list[str] | None) -> KafkaSettings:
    return KafkaSettings.resolve(bootstrap_servers, kafka_config or ())


def mongo(mongo_uri: str, mongo_option: list[str] | None) -> MongoSettings:
    return MongoSettings.resolve(mongo_uri, mongo_option or ())
