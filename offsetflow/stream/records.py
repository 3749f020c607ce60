"""What flows through the loop: consumed records, the rows made of them, and the ones that failed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Origin:
    """Where a record came from: enough to find it again, or to redrive it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int | None


def origin_of(msg: Any) -> Origin:
    """The origin of a consumed ``confluent_kafka.Message`` (always has topic/partition/offset)."""
    ts_type, ts = msg.timestamp()
    return Origin(msg.topic(), msg.partition(), msg.offset(), msg.key(), msg.value(), ts if ts_type else None)


@dataclass(frozen=True)
class Record:
    origin: Origin
    value: dict[str, Any]


@dataclass(frozen=True)
class Output:
    """One row for the sinks; ``key`` is its natural key, which makes every write idempotent."""

    origin: Origin
    key: str
    row: dict[str, Any]


@dataclass(frozen=True)
class Failure:
    """A record that goes to the dead-letter topic: ``kind`` is stable, ``reason`` is for people."""

    origin: Origin
    kind: str
    reason: str


@dataclass
class Processed:
    outputs: list[Output] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
