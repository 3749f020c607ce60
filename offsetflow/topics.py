"""The project's topics and their idempotent creation."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from offsetflow.config import ConfigError

POSTS_IDS = "posts.ids"
SMS_RAW = "sms.raw"
DLQ_SUFFIX = ".dlq"
# Compacted: the latest progress marker of each producer job, written in the same transaction as its records.
PRODUCER_PROGRESS = "_offsetflow.producer-progress"


def dlq_for(topic: str) -> str:
    return topic + DLQ_SUFFIX


_UNITS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


def parse_retention(text: str) -> int:
    """``7d`` / ``12h`` / ``90m`` / ``forever`` -> Kafka ``retention.ms`` (-1 keeps data forever)."""
    text = text.strip().lower()
    if text in {"forever", "infinite", "-1"}:
        return -1
    match = re.fullmatch(r"(\d+)\s*(ms|s|m|h|d|w)?", text)
    if not match:
        raise ConfigError(f"retention {text!r}: use a number with a unit (ms, s, m, h, d, w) or 'forever'")
    return int(match.group(1)) * _UNITS[match.group(2) or "ms"]


@dataclass(frozen=True)
class TopicResult:
    name: str
    outcome: str  # "created" | "exists"
    partitions: int
    note: str = ""


def ensure_topics(
    admin_config: dict[str, Any],
    names: Iterable[str],
    partitions: int,
    retention_ms: int,
    replication_factor: int = 1,
    extra_config: dict[str, str] | None = None,
) -> list[TopicResult]:
    """Create missing topics; existing ones are left alone and reported (never silently altered)."""
    admin = AdminClient(admin_config)
    wanted = list(dict.fromkeys(names))
    config = {"retention.ms": str(retention_ms), **(extra_config or {})}
    futures = admin.create_topics(
        [NewTopic(name, partitions, replication_factor, config=config) for name in wanted],
        operation_timeout=30,
    )
    results: list[TopicResult] = []
    existing = [name for name in wanted if _already_exists(futures[name])]
    meta = admin.list_topics(timeout=15).topics if existing else {}
    for name in wanted:
        if name not in existing:
            results.append(TopicResult(name, "created", partitions))
            continue
        have = len(meta[name].partitions) if name in meta else partitions
        note = f"has {have} partitions, {partitions} requested: left as is" if have != partitions else ""
        results.append(TopicResult(name, "exists", have, note))
    return results


def ensure_compacted(admin_config: dict[str, Any], name: str) -> None:
    """A one-partition, compacted, never-expiring topic: the latest value per key is kept for good."""
    ensure_topics(admin_config, [name], partitions=1, retention_ms=-1, extra_config={"cleanup.policy": "compact"})


def _already_exists(future: Any) -> bool:
    try:
        future.result(timeout=30)
    except KafkaException as exc:
        if exc.args[0].name() == "TOPIC_ALREADY_EXISTS":
            return True
        raise
    return False
