"""Waiting out outages: transient errors are retried with bounded backoff, never skipped."""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from typing import TypeVar

from confluent_kafka import KafkaError, KafkaException
from pymongo.errors import AutoReconnect, ConnectionFailure, NetworkTimeout, WriteConcernError

T = TypeVar("T")
log = logging.getLogger("offsetflow")


class Stopped(Exception):
    """Raised when a stop was requested while waiting out an outage; the batch in hand is not committed."""


# Errors librdkafka does not flag retriable but that only say the broker or the group coordinator is out of
# reach for now: a commit that meets them is tried again, not given up (the work it covers is durable).
_KAFKA_UNREACHABLE = frozenset(
    {
        KafkaError._WAIT_COORD,
        KafkaError._TRANSPORT,
        KafkaError._ALL_BROKERS_DOWN,
        KafkaError._TIMED_OUT,
        KafkaError._MSG_TIMED_OUT,
        KafkaError.COORDINATOR_NOT_AVAILABLE,
        KafkaError.NOT_COORDINATOR,
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
        KafkaError.REQUEST_TIMED_OUT,
        KafkaError.NETWORK_EXCEPTION,
    }
)


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, AutoReconnect | ConnectionFailure | NetworkTimeout | WriteConcernError):
        return True
    if isinstance(exc, KafkaException):
        err = exc.args[0] if exc.args else None
        if not isinstance(err, KafkaError):
            return False
        return bool(err.retriable()) or err.code() in _KAFKA_UNREACHABLE
    return isinstance(exc, TransientError)


class TransientError(RuntimeError):
    """Raise from a processor for failures worth retrying (the service will be back)."""


class InfrastructureError(RuntimeError):
    """Raise from a processor or sink for failures no record caused and no retry cures (a refused API key,
    a missing model): the consumer stops with this message instead of dead-lettering everything it reads."""


class StopCleanly(InfrastructureError):
    """Raise from a processor to stop the consumer on purpose, nobody's fault (a spending budget reached):
    what was written whole before it is flushed and committed, then the consumer exits with this message.
    An ``InfrastructureError`` commits nothing more, since what the sinks hold may be what failed."""

    exit_code = 1  # a stop nobody asked for (a budget) is not a success; one that was asked for may say 0


def retry(
    action: Callable[[], T],
    what: str,
    stop: threading.Event,
    first_delay: float = 0.5,
    max_delay: float = 30.0,
) -> T:
    """Run ``action`` until it succeeds; transient errors are logged and retried, others raised."""
    delay = first_delay
    attempt = 1
    while True:
        try:
            result = action()
        except Exception as exc:
            if not is_transient(exc):
                raise
            wait = min(max_delay, delay) * random.uniform(0.8, 1.2)
            brief = str(exc).split(", Timeout:")[0][:200]  # pymongo appends a whole topology description
            log.warning("%s failed (%s: %s); retry %d in %.1fs", what, type(exc).__name__, brief, attempt, wait)
            if stop.wait(wait):
                raise Stopped(what) from exc
            delay *= 2
            attempt += 1
            continue
        if attempt > 1:
            log.info("%s succeeded after %d retries", what, attempt - 1)
        return result
