"""Reading a topic back whole, without a consumer group: dead letters and compacted marker topics."""

from __future__ import annotations

import time
from dataclasses import dataclass

from confluent_kafka import Consumer, TopicPartition

from offsetflow.config import KafkaSettings
from offsetflow.topics import READER_GROUP


@dataclass(frozen=True)
class StoredRecord:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


def read_topic(kafka: KafkaSettings, topic: str, timeout: float = 60.0) -> list[StoredRecord]:
    """Every committed record now in ``topic`` (read_committed), without touching any group's offsets."""
    consumer = Consumer(
        kafka.client_config(group_id=READER_GROUP, enable_auto_commit=False, isolation_level="read_committed")
    )
    out: list[StoredRecord] = []
    try:
        meta = consumer.list_topics(topic, timeout=timeout).topics.get(topic)
        if meta is None or meta.error is not None:
            return out
        for p in meta.partitions:
            tp = TopicPartition(topic, p)
            low, high = consumer.get_watermark_offsets(tp, timeout=timeout)
            if high <= low:
                continue
            consumer.assign([TopicPartition(topic, p, low)])
            deadline = time.monotonic() + timeout
            while consumer.position([tp])[0].offset < high:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"could not read {topic} to its end within {timeout:.0f}s")
                for msg in consumer.consume(1000, timeout=0.5):
                    offset = msg.offset()
                    if not msg.error() and offset is not None:
                        out.append(StoredRecord(p, offset, msg.key(), msg.value()))
    finally:
        consumer.close()
    return out
