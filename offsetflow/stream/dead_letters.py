"""Dead letters: records that cannot be processed, kept with the reason and their origin."""

from __future__ import annotations

import time
from collections.abc import Sequence

from confluent_kafka import Producer

from offsetflow import codec
from offsetflow.stream.records import Failure


class DeadLetterWriter:
    """Publishes failures to ``<topic>.dlq``; ``flush`` returns only once they are acknowledged."""

    def __init__(self, producer: Producer, topic: str, group: str) -> None:
        self.producer = producer
        self.topic = topic
        self.group = group
        self.schema = codec.load(codec.DEAD_LETTER)
        self.sent = 0
        self.errors: list[str] = []

    def send(self, failures: Sequence[Failure]) -> None:
        for failure in failures:
            origin = failure.origin
            value = self.schema.encode(
                {
                    "reason": failure.reason,
                    "error_type": failure.kind,
                    "source_topic": origin.topic,
                    "source_partition": origin.partition,
                    "source_offset": origin.offset,
                    "source_timestamp": origin.timestamp_ms,
                    "consumer_group": self.group,
                    "key": origin.key,
                    "value": origin.value or b"",
                    "failed_at": int(time.time() * 1000),
                }
            )
            self.producer.produce(self.topic, key=origin.key, value=value, on_delivery=self._delivered)
            self.sent += 1

    def _delivered(self, err: object, _msg: object) -> None:
        if err is not None:
            self.errors.append(str(err))

    def flush(self, timeout: float = 30.0) -> None:
        """Block until every dead letter is acknowledged; raise so the batch is not committed otherwise."""
        remaining = self.producer.flush(timeout)
        if remaining or self.errors:
            errors, self.errors = self.errors, []
            raise RuntimeError(
                f"{remaining} dead letters to {self.topic} unacknowledged after {timeout:.0f}s"
                + (f"; errors: {errors[:3]}" if errors else "")
            )
