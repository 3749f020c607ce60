"""Dead letters as users handle them: list, inspect, and redrive to their source topic once the cause is fixed.

A redrive re-publishes the original key and value, byte for byte, to the partition the record came from, and
in the same transaction writes a marker keyed by the dead letter's own position to a compacted topic. So a
dead letter is redriven once (a second `redrive` skips it), a crashed redrive leaves nothing half done, and
the consumer's idempotent sinks keep the outputs single even if a record is consumed twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from confluent_kafka.admin import AdminClient

from offsetflow import codec
from offsetflow.config import KafkaSettings
from offsetflow.topic_reader import read_topic
from offsetflow.topics import DLQ_SUFFIX, REDRIVEN
from offsetflow.transactional import MarkedProducer, Outgoing

log = logging.getLogger("offsetflow")

REDRIVEN_HEADER = "offsetflow.redriven-from"


@dataclass(frozen=True)
class DeadLetter:
    topic: str
    partition: int
    offset: int
    reason: str
    error_type: str
    source_topic: str
    source_partition: int
    source_offset: int
    source_timestamp: datetime | None
    consumer_group: str
    key: bytes | None
    value: bytes
    failed_at: datetime
    redriven_at: datetime | None = None

    @property
    def marker(self) -> str:
        """Where this dead letter sits: the key of its redrive marker."""
        return f"{self.topic}|{self.partition}|{self.offset}"

    @property
    def origin(self) -> str:
        return f"{self.source_topic}[{self.source_partition}]@{self.source_offset}"

    def payload(self) -> tuple[str, Any]:
        """The original value decoded when it is a record of ours, else its raw bytes."""
        try:
            return codec.decode_any(self.value)
        except codec.DecodeError:
            return "raw bytes", self.value

    def preview(self, width: int = 60) -> str:
        _, value = self.payload()
        text = repr(value) if isinstance(value, bytes) else ", ".join(f"{k}={v!r}" for k, v in value.items())
        return text if len(text) <= width else text[: width - 1] + "…"


def dead_letter_topics(kafka: KafkaSettings) -> list[str]:
    topics = AdminClient(kafka.client_config()).list_topics(timeout=30).topics
    return sorted(name for name in topics if name.endswith(DLQ_SUFFIX))


def load(kafka: KafkaSettings, topic: str) -> list[DeadLetter]:
    """Every dead letter on ``topic``, oldest first, each with when it was redriven (if it was)."""
    schema = codec.load(codec.DEAD_LETTER)
    redriven = {r.key.decode(): r.value for r in read_topic(kafka, REDRIVEN) if r.key and r.value}
    letters, names = [], schema.field_names
    for record in read_topic(kafka, topic):
        try:
            raw = schema.decode(record.value)
        except codec.DecodeError as exc:
            log.warning("%s[%d]@%d is not a dead letter (%s): skipped", topic, record.partition, record.offset, exc)
            continue
        fields = {name: raw[name] for name in names}
        letter = DeadLetter(topic, record.partition, record.offset, **fields)
        marker = redriven.get(letter.marker)
        when = datetime.fromtimestamp(int(marker) / 1000, UTC) if marker else None
        letters.append(_with_redriven(letter, when))
    return sorted(letters, key=lambda d: (d.failed_at, d.partition, d.offset))


def _with_redriven(letter: DeadLetter, at: datetime | None) -> DeadLetter:
    return letter if at is None else DeadLetter(**{**letter.__dict__, "redriven_at": at})


def redrive(kafka: KafkaSettings, letters: Sequence[DeadLetter]) -> int:
    """Re-publish ``letters`` to their source partitions, marking each redriven, in one transaction."""
    if not letters:
        return 0
    dlqs = sorted({d.topic for d in letters})
    # Fences a redrive of the same topics that died half way.
    producer = MarkedProducer(kafka, f"offsetflow.redrive.{'+'.join(dlqs)}", REDRIVEN, {"linger.ms": 5})
    admin = AdminClient(kafka.client_config())
    sources = {d.source_topic for d in letters}
    partitions = {t: set(admin.list_topics(t, timeout=30).topics[t].partitions) for t in sources}
    now = str(int(time.time() * 1000)).encode()
    records = [
        (
            letter.source_topic,
            Outgoing(
                letter.key,
                letter.value,
                letter.source_partition if letter.source_partition in partitions[letter.source_topic] else None,
                ((REDRIVEN_HEADER, letter.marker.encode()),),
            ),
        )
        for letter in letters
    ]
    producer.commit(records, [(letter.marker.encode(), now) for letter in letters])
    return len(letters)
