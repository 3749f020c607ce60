"""`offsetflow produce sms`: unprocessed SMS onto `sms.raw`, keyed by user, each SMS queued once.

"Queued" lives in Kafka: a compacted topic keyed by sms_id gets a marker in the same transaction as the SMS
record, so a rerun (even after SIGKILL) skips exactly the SMS already on the topic; `isprocessed` skips done ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Producer
from pymongo.database import Database

from offsetflow import codec
from offsetflow.config import KafkaSettings
from offsetflow.topic_reader import read_topic
from offsetflow.topics import ensure_compacted

SMS_QUEUED = "_offsetflow.sms-queued"


@dataclass(frozen=True)
class SmsProduceResult:
    unprocessed: int
    already_queued: int
    produced: int


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
    ensure_compacted(kafka.client_config(), SMS_QUEUED)
    producer = Producer(
        kafka.client_config({"linger.ms": 20}, transactional_id=f"offsetflow.sms.{topic}", enable_idempotence=True)
    )
    producer.init_transactions(60)  # fences a killed predecessor: its open transaction is aborted
    queued = queued_ids(kafka)
    query: dict[str, Any] = {"isprocessed": False} if user_id is None else {"isprocessed": False, "user_id": user_id}
    projection = {"sms_id": 1, "user_id": 1, "sender": 1, "body": 1, "received_at": 1}
    docs = sorted(source["sms_fin_rawdata"].find(query, projection), key=lambda d: (d["user_id"], d["received_at"]))
    fresh = [d for d in docs if queued_key(topic, source.name, d["sms_id"]) not in queued]
    todo = fresh[:limit]
    schema = codec.load(codec.SMS_RAW)
    on_progress(0, len(todo))
    for start in range(0, len(todo), transaction_size):
        producer.begin_transaction()
        for doc in todo[start : start + transaction_size]:
            value = schema.encode({k: doc[k] for k in ("sms_id", "user_id", "sender", "body", "received_at")})
            producer.produce(topic, key=doc["user_id"].encode(), value=value)  # per-user order is kept
            producer.produce(SMS_QUEUED, key=queued_key(topic, source.name, doc["sms_id"]).encode(), value=b"1")
            producer.poll(0)
        producer.commit_transaction(60)
        on_progress(min(len(todo), start + transaction_size), len(todo))
    return SmsProduceResult(len(docs), len(docs) - len(fresh), len(todo))
