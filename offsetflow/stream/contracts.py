"""What the consumer loop needs from the parts a pipeline plugs into it: a processor, sinks, a progress view.

They are Protocols: any object with these methods fits. ``Sink`` carries default bodies for the optional
methods, so a sink that writes durably in ``write`` (an upsert) may subclass it and implement ``write`` alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from offsetflow.stream.records import Output, Processed, Record


class Processor(Protocol):
    """Turns a batch of decoded records into outputs and failures. Must be safe to run again on the same
    records (after a crash, or on each half of a batch that failed): the sinks make the outputs idempotent."""

    def process(self, records: Sequence[Record]) -> Processed: ...


@dataclass(frozen=True)
class PartitionResume:
    """What a sink found for a partition on assignment: reported to the user, and maybe an earlier start."""

    existing: int = 0  # chunk files already there, covering committed records
    removed: int = 0  # leftovers of an uncommitted run, deleted
    rewind_to: int | None = None  # start reading here instead of the committed offset


class Sink(Protocol):
    """A durable, idempotent output. ``write`` either makes rows durable or buffers them; ``pending`` reports
    the lowest offset a partition still has buffered, so the loop never commits past it. A buffer is released
    only once its write is durable."""

    name: str

    def write(self, outputs: Sequence[Output]) -> None: ...

    def pending(self, partition: int) -> int | None:
        return None

    def flush(self, partitions: Sequence[int] | None = None, *, aged_only: bool = False) -> bool:
        """Make buffered rows durable; returns whether anything was written."""
        return False

    def assigned(self, partition: int, committed: int) -> PartitionResume:
        return PartitionResume()

    def revoked(self, partition: int) -> None:
        """Forget a partition's buffered rows (after a flush, or when the partition was lost)."""
        return None

    def close(self) -> None:
        return None


class Progress(Protocol):
    """Where the loop reports to its user (a live bar, log lines, nothing in a bench)."""

    def say(self, text: str) -> None: ...

    def update(self, records: int, rows: int, failed: int, lag: int) -> None: ...
