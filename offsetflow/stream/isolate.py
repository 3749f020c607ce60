"""Split and isolate: one bad record fails alone, never the batch it arrived in.

A batch step (process, or a sink's write) that raises an error caused by its data is retried on each half of
the batch, down to single items; an item that still fails alone is that item's failure (a dead letter), and
the rest goes on. Errors of the infrastructure are not the data's fault: transient ones are retried where the
step is called (``retry``), and the others (a refused login, a full disk) are raised so the process stops
rather than dead-letter every record it reads.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from confluent_kafka import KafkaException
from pymongo.errors import BulkWriteError, DocumentTooLarge, PyMongoError, WriteError

from offsetflow.stream.retry import InfrastructureError, Stopped, is_transient

T = TypeVar("T")
R = TypeVar("R")

# pymongo errors that describe a document rather than the server or the connection.
_DOCUMENT_ERRORS = (WriteError, BulkWriteError, DocumentTooLarge)


def caused_by_data(exc: BaseException) -> bool:
    """Whether ``exc`` can be the fault of the records handed to a step (so isolating them makes sense)."""
    if isinstance(exc, Stopped | InfrastructureError | KafkaException | OSError) or is_transient(exc):
        return False
    if isinstance(exc, PyMongoError):
        return isinstance(exc, _DOCUMENT_ERRORS)
    return isinstance(exc, Exception)


def describe(exc: BaseException, limit: int = 500) -> str:
    """``Type: message`` on one line, bounded: reasons end up in dead letters and log lines."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class Isolated(Generic[T, R]):
    """What a step returned for the parts that succeeded, and each item that failed alone with its error."""

    results: list[R] = field(default_factory=list)
    failed: list[tuple[T, BaseException]] = field(default_factory=list)


def isolate(step: Callable[[Sequence[T]], R], items: Sequence[T]) -> Isolated[T, R]:
    """Run ``step`` on ``items``; on an error caused by data, bisect until the culprits stand alone."""
    out: Isolated[T, R] = Isolated()
    pending: list[Sequence[T]] = [items]
    while pending:
        part = pending.pop()
        try:
            out.results.append(step(part))
        except Exception as exc:
            if not caused_by_data(exc):
                raise
            if len(part) == 1:
                out.failed.append((part[0], exc))
            else:
                middle = len(part) // 2
                pending += [part[middle:], part[:middle]]
    return out
