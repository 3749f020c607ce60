"""Producing a deterministic sequence exactly once, with the progress kept in Kafka itself.

Each transaction holds a slice of the sequence *and* a progress marker (records produced so far) on a
compacted topic. A producer killed at any point and started again uses the same ``transactional.id``, so
``init_transactions`` fences the dead instance and aborts its open transaction; the last committed marker
then says exactly where to continue. ``read_committed`` consumers never see aborted records.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from confluent_kafka import Consumer, Producer, TopicPartition

from offsetflow import codec
from offsetflow.config import KafkaSettings
from offsetflow.topics import PRODUCER_PROGRESS, ensure_compacted


@dataclass(frozen=True)
class Outgoing:
    key: bytes
    value: bytes


def job_id(*parts: object) -> str:
    """A stable id for a job: the same inputs give the same id, so a rerun finds its progress."""
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:16]


def read_progress(kafka: KafkaSettings, job: str, timeout: float = 30.0) -> int:
    """Records of ``job`` already committed to Kafka (0 if it never ran)."""
    schema = codec.load("producer_progress")
    consumer = Consumer(
        kafka.client_config(
            group_id=f"_offsetflow.progress-reader.{job}", enable_auto_commit=False, isolation_level="read_committed"
        )
    )
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(PRODUCER_PROGRESS, 0), timeout=timeout)
        if high <= low:
            return 0
        consumer.assign([TopicPartition(PRODUCER_PROGRESS, 0, low)])
        produced, deadline = 0, time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error() and msg.key() == job.encode():
                produced = int(schema.decode(msg.value())["produced"])
            [position] = consumer.position([TopicPartition(PRODUCER_PROGRESS, 0)])
            if position.offset >= high:
                return produced
        raise RuntimeError(f"could not read {PRODUCER_PROGRESS} to its end within {timeout:.0f}s")
    finally:
        consumer.close()


class TransactionalSequenceProducer:
    def __init__(self, kafka: KafkaSettings, topic: str, job: str, description: str, transaction_size: int) -> None:
        self.kafka = kafka
        self.topic = topic
        self.job = job
        self.description = description
        self.transaction_size = transaction_size
        self.schema = codec.load("producer_progress")

    def run(
        self, records: Sequence[Outgoing], on_progress: Callable[[int, int], None] = lambda done, total: None
    ) -> tuple[int, int]:
        """Produce what the job has not produced yet; returns (produced before this run, produced now)."""
        ensure_compacted(self.kafka.client_config(), PRODUCER_PROGRESS)
        producer = Producer(
            self.kafka.client_config(
                {"linger.ms": 20, "transaction.timeout.ms": 60_000},
                transactional_id=f"offsetflow.{self.job}",
                enable_idempotence=True,
            )
        )
        producer.init_transactions(60)  # fences a killed predecessor and aborts its open transaction
        before = read_progress(self.kafka, self.job)
        total = len(records)
        done = before
        on_progress(done, total)
        for batch in _slices(records, before, self.transaction_size):
            producer.begin_transaction()
            for rec in batch:
                producer.produce(self.topic, key=rec.key, value=rec.value)
                producer.poll(0)
            done += len(batch)
            marker = {
                "job_id": self.job,
                "description": self.description,
                "produced": done,
                "total": total,
                "updated_at": int(time.time() * 1000),
            }
            producer.produce(PRODUCER_PROGRESS, key=self.job.encode(), value=self.schema.encode(marker))
            producer.commit_transaction(60)
            on_progress(done, total)
        return before, done - before


def _slices(records: Sequence[Outgoing], start: int, size: int) -> Iterator[Sequence[Outgoing]]:
    for i in range(start, len(records), size):
        yield records[i : i + size]
