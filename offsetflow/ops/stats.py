"""Where the SMS work stands per user: the source's counts joined with the dead letters still failed.

A dead letter that was redriven is back on the SMS topic (pending or processed again), so only those never
redriven count as failed. The user is read from the original record the dead letter keeps. Money is what the
user's stored results cost (``llm_cost_usd`` on each), so it outlives the consumer that spent it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from pymongo.database import Database

from offsetflow import codec, topics
from offsetflow.config import KafkaSettings
from offsetflow.ops import dlq
from offsetflow.sms.source import UserStats, sms_stats

COUNTS = ("total", "processed", "transactions", "failed", "pending")

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
    """Per user (or only ``user_id``): SMS total, processed, transactions found, failed, pending, LLM cost."""
    return sms_stats(source, failed_per_user(kafka, sms_topic), user_id)


def as_json(rows: Sequence[UserStats]) -> dict[str, Any]:
    """For scripts: per user, and ``all`` summed the way the table's last line is (pending per user). Money is
    rounded to a billionth of a dollar, below what one token costs, so sums read without floating-point noise."""

    def counts(r: UserStats) -> dict[str, Any]:
        return {**{name: getattr(r, name) for name in COUNTS}, "llm_cost_usd": round(r.llm_cost, 9)}

    return {
        "users": [{"user_id": r.user_id, **counts(r)} for r in rows],
        "all": {
            **{name: sum(getattr(r, name) for r in rows) for name in COUNTS},
            "llm_cost_usd": round(sum(r.llm_cost for r in rows), 9),
        },
    }
