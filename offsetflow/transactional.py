"""Records and their markers on a compacted topic, committed together in one Kafka transaction.

Every transactional producer of offsetflow works this way (``MarkedProducer``): the posts producer job below
(a slice of a sequence + a progress marker), ``produce sms`` (each SMS + a queued marker) and ``dlq redrive``
(each original record + a redriven marker). A producer killed at any point and started again uses the same
``transactional.id``, so ``init_transactions`` fences the dead instance and aborts its open transaction; the
committed markers then say exactly what is done. ``read_committed`` consumers never see aborted records.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Producer

from offsetflow import codec
from offsetflow.config import KafkaSettings
from offsetflow.topic_reader import read_topic
from offsetflow.topics import PRODUCER_PROGRESS, ensure_compacted


@dataclass(frozen=True)
class Outgoing:
    """A record to produce; ``partition`` None lets the partitioner choose by key."""

    key: bytes | None
    value: bytes
    partition: int | None = None
    headers: tuple[tuple[str, bytes], ...] = ()


Marker = tuple[bytes, bytes]  # key and value on the compacted marker topic


class MarkedProducer:
    """A transactional producer whose transactions carry records together with markers on ``marker_topic``.

    Creating it makes sure the compacted marker topic exists and fences any earlier producer with the same
    ``transactional_id`` (its open transaction is aborted): read the markers only after that."""

    def __init__(
        self, kafka: KafkaSettings, transactional_id: str, marker_topic: str, defaults: Mapping[str, Any]
    ) -> None:
        self.marker_topic = marker_topic
        ensure_compacted(kafka.client_config(), marker_topic)
        self.producer = Producer(
            kafka.client_config(defaults, transactional_id=transactional_id, enable_idempotence=True)
        )
        self.producer.init_transactions(60)  # fences a killed predecessor and aborts its open transaction

    @contextmanager
    def transaction(self) -> Iterator[Producer]:
        """One transaction around what the block produces with the yielded producer; committed at its end."""
        self.producer.begin_transaction()
        yield self.producer
        self.producer.commit_transaction(60)

    def commit(self, records: Iterable[tuple[str, Outgoing]], markers: Iterable[Marker]) -> None:
        """``records`` (topic, record) and ``markers`` in one transaction: all of them are visible, or none."""
        with self.transaction() as producer:
            for topic, rec in records:
                extra: dict[str, Any] = {} if rec.partition is None else {"partition": rec.partition}
                if rec.headers:
                    extra["headers"] = list(rec.headers)
                producer.produce(topic, key=rec.key, value=rec.value, **extra)
                producer.poll(0)
            for key, value in markers:
                producer.produce(self.marker_topic, key=key, value=value)


def job_id(*parts: object) -> str:
    """A stable id for a job: the same inputs give the same id, so a rerun finds its progress."""
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:16]


def read_progress(kafka: KafkaSettings, job: str, timeout: float = 30.0) -> int:
    """Records of ``job`` already committed to Kafka (0 if it never ran)."""
    schema = codec.load("producer_progress")
    markers = [r.value for r in read_topic(kafka, PRODUCER_PROGRESS, timeout) if r.key == job.encode()]
    return int(schema.decode(markers[-1])["produced"]) if markers else 0


class TransactionalSequenceProducer:
    """Produces a deterministic sequence exactly once: each transaction holds a slice of it and a progress
    marker (records produced so far) on ``PRODUCER_PROGRESS``, where a rerun continues."""

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
        producer = MarkedProducer(
            self.kafka,
            f"offsetflow.{self.job}",
            PRODUCER_PROGRESS,
            {"linger.ms": 20, "transaction.timeout.ms": 60_000},
        )
        before = read_progress(self.kafka, self.job)
        total = len(records)
        done = before
        on_progress(done, total)
        for batch in _slices(records, before, self.transaction_size):
            done += len(batch)
            marker = {
                "job_id": self.job,
                "description": self.description,
                "produced": done,
                "total": total,
                "updated_at": int(time.time() * 1000),
            }
            producer.commit([(self.topic, rec) for rec in batch], [(self.job.encode(), self.schema.encode(marker))])
            on_progress(done, total)
        return before, done - before


def _slices(records: Sequence[Outgoing], start: int, size: int) -> Iterator[Sequence[Outgoing]]:
    for i in range(start, len(records), size):
        yield records[i : i + size]
