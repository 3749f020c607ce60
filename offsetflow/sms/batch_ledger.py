"""The batch jobs a consumer group has paid for, recorded in Kafka before and after each job is created.

A batch job runs for hours and is paid for when it is created; the consumer's offsets move past its records
only once its results are stored. A consumer killed in between must not create the job again: it must find
the one it paid for and poll it. So every job is recorded on a compacted topic, keyed by the records it covers
(group, topic, partition, first and last offset), in three steps:

1. ``submitting`` with the job's key (``batch_mode.job_key``, also written in the job's metadata) and its input
   file, *before* the job is created;
2. ``open`` with the job's id, once created (a crash between 1 and 2 is covered by the metadata: the job is found
   by listing the account's jobs, ``BatchClient.find``);
3. removed (a tombstone) once its results are stored and the offsets committed.

Each partition's records are written by a transactional producer whose id names the group and partition,
so the member a partition moves to fences the one it left (a member that lost its partition but still runs
can no longer write its ledger). A restarted member reads the entries of the partitions it is assigned and
resumes each job before it creates any new one.

The topic is a ``MarkedProducer`` marker topic: one partition, compacted, kept for good; values are JSON.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from offsetflow.config import KafkaSettings
from offsetflow.topic_reader import read_topic
from offsetflow.transactional import MarkedProducer

STATES = ("submitting", "open")


@dataclass(frozen=True)
class JobEntry:
    group: str
    topic: str
    partition: int
    first_offset: int
    last_offset: int  # inclusive: the job covers the partition's records first_offset..last_offset
    job_key: str  # the job's requests, as written in its metadata
    state: str  # submitting | open
    file_id: str | None = None
    batch_id: str | None = None
    updated_at: int = 0  # epoch ms

    @property
    def key(self) -> bytes:
        """One entry per range of records: a later state of the same job replaces the earlier one."""
        return f"{self.group}|{self.topic}|{self.partition}|{self.first_offset}-{self.last_offset}".encode()

    @property
    def span(self) -> tuple[int, int]:
        return self.first_offset, self.last_offset

    def covers(self, partition: int, offset: int) -> bool:
        return partition == self.partition and self.first_offset <= offset <= self.last_offset

    def opened(self, batch_id: str) -> JobEntry:
        return replace(self, state="open", batch_id=batch_id)


class BatchLedger:
    """One consumer member's view of its group's ledger on ``topic``. Writing for a partition takes the
    partition's transactional id (fencing any earlier writer of it); reading sees committed entries only."""

    def __init__(self, kafka: KafkaSettings, topic: str, group: str) -> None:
        self.kafka = kafka
        self.topic = topic
        self.group = group
        self._producers: dict[tuple[str, int], MarkedProducer] = {}
        # A partition's producer runs one transaction at a time; the loop may process two batches at once.
        self._locks: dict[tuple[str, int], threading.Lock] = {}
        self._lock = threading.Lock()
        self._offsets: Consumer | None = None

    def claim(self, topic: str, partition: int) -> None:
        """Take the partition's writer (on assignment): from now on an earlier owner's writes are refused."""
        self._producer(topic, partition)

    def record(self, entry: JobEntry) -> None:
        """Write the entry's state, committed before this returns (so before the job is created or polled)."""
        stamped = replace(entry, updated_at=int(time.time() * 1000))
        with self._partition_lock(entry.topic, entry.partition):
            producer = self._producer(entry.topic, entry.partition)
            producer.commit([], [(entry.key, json.dumps(asdict(stamped)).encode())])

    def close(self, entry: JobEntry) -> None:
        """The job's results are stored and its offsets committed: nothing of it is left to resume."""
        with (
            self._partition_lock(entry.topic, entry.partition),
            self._producer(entry.topic, entry.partition).transaction() as producer,
        ):
            producer.produce(self.topic, key=entry.key, value=None)

    def committed(self, topic: str, partitions: Iterable[int], timeout: float = 30.0) -> dict[int, int | None]:
        """The group's committed offset of each partition (None: nothing committed yet). Entries below it are
        done: their results are in every sink."""
        with self._lock:
            if self._offsets is None:
                self._offsets = Consumer(self.kafka.client_config(group_id=self.group, enable_auto_commit=False))
            offsets = self._offsets
        asked = [TopicPartition(topic, p) for p in partitions]
        return {tp.partition: (tp.offset if tp.offset >= 0 else None) for tp in offsets.committed(asked, timeout)}

    def _partition_lock(self, topic: str, partition: int) -> threading.Lock:
        with self._lock:
            return self._locks.setdefault((topic, partition), threading.Lock())

    def entries(self, topic: str, partitions: Iterable[int], timeout: float = 30.0) -> list[JobEntry]:
        """The group's unfinished jobs on ``partitions`` of ``topic``, oldest first."""
        wanted = set(partitions)
        return [
            e
            for e in recorded(self.kafka, self.topic, timeout)
            if e.group == self.group and e.topic == topic and e.partition in wanted
        ]

    def _producer(self, topic: str, partition: int) -> MarkedProducer:
        if (topic, partition) not in self._producers:
            self._producers[(topic, partition)] = MarkedProducer(
                self.kafka,
                f"offsetflow.llm-batches.{self.group}.{topic}.{partition}",
                self.topic,
                {"linger.ms": 0, "transaction.timeout.ms": 60_000},
            )
        return self._producers[(topic, partition)]

    def release(self, topic: str, partition: int) -> None:
        """Let go of a partition's writer (on revocation): its next owner takes it."""
        producer = self._producers.pop((topic, partition), None)
        if producer is not None:
            producer.producer.flush(10)

    def shutdown(self) -> None:
        """Close the clients (at the consumer's exit)."""
        for key in list(self._producers):
            self.release(*key)
        if self._offsets is not None:
            self._offsets.close()
            self._offsets = None


def recorded(kafka: KafkaSettings, ledger_topic: str, timeout: float = 30.0) -> list[JobEntry]:
    """Every entry not yet removed, of every group, by group, topic, partition and offset. An entry whose
    records its group has committed past is done, only not removed yet (its group removes it lazily)."""
    latest: dict[bytes, bytes | None] = {}
    for stored in read_topic(kafka, ledger_topic, timeout):
        if stored.key is not None:
            latest[stored.key] = stored.value
    entries = [e for e in map(_entry, latest.values()) if e is not None]
    return sorted(entries, key=lambda e: (e.group, e.topic, e.partition, e.first_offset))


def _entry(value: bytes | None) -> JobEntry | None:
    """An entry as written, or None for a tombstone or a value this version cannot read (skipped, not fatal:
    the worst it can cost is a job created again)."""
    if value is None:
        return None
    try:
        raw: dict[str, Any] = json.loads(value)
        entry = JobEntry(**raw)
    except (ValueError, TypeError):
        return None
    return entry if entry.state in STATES else None
