"""Dead letters: records that cannot be processed, kept with the reason and their origin."""

from __future__ import annotations

import time
from collections.abc import Sequence

from confluent_kafka import Producer

from offsetflow import codec
from offsetflow.stream.records import Failure, Origin

# A dead letter must always fit in one Kafka message (the producer's message.max.bytes defaults to 1,000,000
# bytes, and a letter that cannot be written would stop the pipeline on every restart). Past this budget the
# original key/value are left out and the letter says where the record still is.
MAX_LETTER_BYTES = 900_000
MAX_REASON_CHARS = 2_000


def fit_reason(reason: str, limit: int = MAX_REASON_CHARS) -> str:
    return reason if len(reason) <= limit else reason[: limit - 40] + f"… ({len(reason):,} chars in all)"


def fit_original(origin: Origin, budget: int = MAX_LETTER_BYTES) -> tuple[bytes | None, bytes, str]:
    """The original key and value when they fit in ``budget``, else what can be kept and a note on the rest."""
    key, value = origin.key, origin.value or b""
    notes = []
    if key is not None and len(key) > budget // 10:
        notes.append(f"key of {len(key):,} bytes")
        key = None
    if len(value) + len(key or b"") > budget:
        notes.append(f"value of {len(value):,} bytes")
        value = b""
    if not notes:
        return key, value, ""
    where = f"{origin.topic}[{origin.partition}]@{origin.offset}"
    return key, value, f" [original {' and '.join(notes)} not kept here: read it at {where} while retention lasts]"


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
            key, original, note = fit_original(origin)
            value = self.schema.encode(
                {
                    "reason": fit_reason(failure.reason) + note,
                    "error_type": failure.kind,
                    "source_topic": origin.topic,
                    "source_partition": origin.partition,
                    "source_offset": origin.offset,
                    "source_timestamp": origin.timestamp_ms,
                    "consumer_group": self.group,
                    "key": key,
                    "value": original,
                    "failed_at": int(time.time() * 1000),
                }
            )
            self.producer.produce(self.topic, key=key, value=value, on_delivery=self._delivered)
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
