"""`offsetflow produce sms`: unprocessed SMS onto `sms.raw`, keyed by user, each SMS queued once.

"Queued" lives in Kafka: a compacted topic keyed by sms_id gets a marker in the same transaction as the SMS
record, so a rerun (even after SIGKILL) skips exactly the SMS already on the topic; `isprocessed` skips done ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bson import json_util
from pymongo.database import Database

from offsetflow import codec
from offsetflow.config import KafkaSettings
from offsetflow.sms.raw import FIELDS, sms_record
from offsetflow.sms.source import RAW
from offsetflow.stream.dead_letters import DeadLetterWriter
from offsetflow.stream.isolate import describe
from offsetflow.stream.records import Failure, Origin
from offsetflow.topic_reader import read_topic
from offsetflow.topics import SMS_QUEUED, dlq_for
from offsetflow.transactional import MarkedProducer, Outgoing


@dataclass(frozen=True)
class SmsProduceResult:
    unprocessed: int
    already_queued: int
    produced: int
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (source _id, why): dead-lettered documents


def _dead_letter(doc: dict[str, Any], where: str, reason: str) -> Failure:
    """A source document that cannot be queued, as a dead letter whose origin is the source collection."""
    key = str(doc.get("_id"))[:200].encode()
    value = json_util.dumps(doc)[:100_000].encode()
    return Failure(Origin(f"mongodb:{where}", -1, -1, key, value, None), "source", reason)


def queued_key(topic: str, database: str, sms_id: str) -> str:
    """What a marker records: this SMS of this source database is on this topic."""
    return f"{topic}|{database}|{sms_id}"


def queued_ids(kafka: KafkaSettings) -> set[str]:
    """Every marker key ever committed, read from the compacted marker topic."""
    return {record.key.decode() for record in read_topic(kafka, SMS_QUEUED) if record.key}


def produce_sms(
    kafka: KafkaSettings,
    source: Database[dict[str, Any]],
    topic: str,
    user_id: str | None = None,
    limit: int | None = None,
    transaction_size: int = 500,
    on_progress: Callable[[int, int], None] = lambda done, total: None,
) -> SmsProduceResult:
    # Fences a killed predecessor (its open transaction is aborted) before the markers are read.
    producer = MarkedProducer(kafka, f"offsetflow.sms.{topic}", SMS_QUEUED, {"linger.ms": 20})
    queued = queued_ids(kafka)
    query: dict[str, Any] = {"isprocessed": False} if user_id is None else {"isprocessed": False, "user_id": user_id}
    projection = dict.fromkeys(FIELDS, 1)
    where = f"{source.name}.{RAW}"
    schema = codec.load(codec.SMS_RAW)
    docs, bad = [], []
    for doc in source[RAW].find(query, projection):
        try:
            record = sms_record(doc)
            docs.append((record, schema.encode(record)))
        except Exception as exc:  # one malformed document is reported and dead-lettered; the rest goes on
            bad.append((doc, f"cannot queue source document {str(doc.get('_id'))[:200]!r}: {describe(exc)}"))
    docs.sort(key=lambda pair: (pair[0]["user_id"], pair[0]["received_at"]))
    fresh = [d for d in docs if queued_key(topic, source.name, d[0]["sms_id"]) not in queued]
    todo = fresh[:limit]
    on_progress(0, len(todo))
    if bad:
        # Dead letters of the source go out in a transaction of their own, with no marker: a rerun after the
        # document is fixed queues it, and reports it again while it is still broken.
        with producer.transaction() as kafka_producer:
            dead_letters = DeadLetterWriter(kafka_producer, dlq_for(topic), "produce sms")
            dead_letters.send([_dead_letter(doc, where, reason) for doc, reason in bad])
    for start in range(0, len(todo), transaction_size):
        batch = todo[start : start + transaction_size]
        producer.commit(
            [(topic, Outgoing(record["user_id"].encode(), value)) for record, value in batch],  # per-user order kept
            [(queued_key(topic, source.name, record["sms_id"]).encode(), b"1") for record, _ in batch],
        )
        on_progress(min(len(todo), start + transaction_size), len(todo))
    skipped = [(str(doc.get("_id")), reason) for doc, reason in bad]
    return SmsProduceResult(len(docs) + len(bad), len(docs) - len(fresh), len(todo), skipped)
