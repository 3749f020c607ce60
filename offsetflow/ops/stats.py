"""Where the SMS work stands per user: the source's counts joined with the dead letters still failed.

A dead letter that was redriven is back on the SMS topic (pending or processed again), so only those never
redriven count as failed. The user is read from the original record the dead letter keeps.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from pymongo.database import Database

from offsetflow import codec, topics
from offsetflow.config import KafkaSettings
from offsetflow.ops import dlq
from offsetflow.sms.source import UserStats, sms_stats

UNDECODABLE = "(undecodable)"  # dead letters whose original is not an SMS record: no user to count them under


def failed_per_user(kafka: KafkaSettings, sms_topic: str) -> Counter[str]:
    """Dead letters of ``sms_topic`` not redriven, per user (``UNDECODABLE`` for those with no readable user)."""
    schema = codec.load(codec.SMS_RAW)
    failed: Counter[str] = Counter()
    for letter in dlq.load(kafka, topics.dlq_for(sms_topic)):
        if letter.redriven_at is not None:
            continue
        try:
            failed[schema.decode(letter.value)["user_id"]] += 1
        except codec.DecodeError:
            failed[UNDECODABLE] += 1
    return failed


def sms_per_user(
    kafka: KafkaSettings, source: Database[dict[str, Any]], sms_topic: str, user_id: str | None = None
) -> list[UserStats]:
    """Per user (or only ``user_id``): SMS total, processed, transactions found, failed and pending."""
    return sms_stats(source, failed_per_user(kafka, sms_topic), user_id)
