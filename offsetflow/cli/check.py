"""`offsetflow check`: prove that Kafka and MongoDB are reachable and usable with these settings."""

from __future__ import annotations

import time
import uuid
from typing import Annotated

from confluent_kafka import Consumer, Producer
from rich.console import Console

from offsetflow import codec
from offsetflow.cli import options
from offsetflow.cli.options import COUNT, BootstrapServers, KafkaConfig, MongoOption, MongoUri, opt
from offsetflow.config import DEFAULT_BOOTSTRAP_SERVERS, DEFAULT_MONGO_URI
from offsetflow.topics import CHECK_TOPIC, ensure_topics


def check(
    records: Annotated[int, opt("--records", "Avro records to send through Kafka and read back.", **COUNT)] = 100,
    bootstrap_servers: BootstrapServers = DEFAULT_BOOTSTRAP_SERVERS,
    kafka_config: KafkaConfig = None,
    mongo_uri: MongoUri = DEFAULT_MONGO_URI,
    mongo_option: MongoOption = None,
) -> None:
    """Round-trip Avro records through Kafka and a document through MongoDB, and report timings."""
    console = Console(soft_wrap=True)
    mongo = options.mongo(mongo_uri, mongo_option)
    mongo.client(connect=False).close()  # a URI pymongo cannot use fails here, before any round trip
    kafka = options.reachable_kafka(bootstrap_servers, kafka_config)
    schema = codec.load(codec.POST_ID)
    run = uuid.uuid4().hex[:12]

    started = time.perf_counter()
    ensure_topics(kafka.client_config(), [CHECK_TOPIC], partitions=1, retention_ms=3_600_000)
    producer = Producer(kafka.client_config(enable_idempotence=True))
    for i in range(records):
        value = schema.encode({"post_id": f"{run}-{i}", "platform": "check", "actor_id": run, "sample_seed": i})
        producer.produce(CHECK_TOPIC, key=run.encode(), value=value)
    if producer.flush(30) != 0:
        raise RuntimeError(f"could not deliver {records} records to {kafka.describe()} within 30s")
    consumer = Consumer(
        kafka.client_config(
            group_id=f"{CHECK_TOPIC}.{run}",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
    )
    consumer.subscribe([CHECK_TOPIC])
    seen = 0
    deadline = time.monotonic() + 60
    while seen < records and time.monotonic() < deadline:
        msg = consumer.poll(1.0)
        if msg is None or msg.error():
            continue
        if schema.decode(msg.value())["actor_id"] == run:
            seen += 1
    consumer.close()
    if seen < records:
        raise RuntimeError(f"read back {seen} of {records} records from {CHECK_TOPIC}")
    kafka_s = time.perf_counter() - started
    console.print(
        f"[green]kafka[/green]   {kafka.describe()}: {records} Avro records produced and consumed in {kafka_s:.2f}s",
        highlight=False,
    )

    started = time.perf_counter()
    with mongo.client() as client:
        coll = client["offsetflow"]["_check"]
        coll.replace_one({"_id": run}, {"_id": run, "n": 1}, upsert=True)
        coll.replace_one({"_id": run}, {"_id": run, "n": 2}, upsert=True)
        doc = coll.find_one({"_id": run})
        coll.delete_one({"_id": run})
        version = client.server_info().get("version", "?")
    if doc is None or doc["n"] != 2:
        raise RuntimeError(f"MongoDB upsert read back {doc!r}")
    console.print(
        f"[green]mongodb[/green] {mongo.describe()}: upsert + read (server {version}) "
        f"in {time.perf_counter() - started:.2f}s",
        highlight=False,
    )
