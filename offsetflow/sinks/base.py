"""What the consumer loop needs from a sink."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from offsetflow.stream.records import Output


@dataclass(frozen=True)
class PartitionResume:
    """What a sink found for a partition on assignment: reported to the user, and maybe an earlier start."""

    existing: int = 0  # chunk files already there, covering committed records
    removed: int = 0  # leftovers of an uncommitted run, deleted
    rewind_to: int | None = None  # start reading here instead of the committed offset


class Sink:
    """A durable, idempotent output. ``write`` either makes rows durable or buffers them;
    ``pending`` reports the lowest buffered offset per partition so the loop never commits past it."""

    name = "sink"

    def write(self, outputs: Sequence[Output]) -> None:
        raise NotImplementedError

    def pending(self, partition: int) -> int | None:
        return None

    def flush(self, partitions: Sequence[int] | None = None, *, aged_only: bool = False) -> bool:
        """Make buffered rows durable; returns whether anything was written."""
        return False

    def assigned(self, partition: int, committed: int) -> PartitionResume:
        return PartitionResume()

    def revoked(self, partition: int) -> None:
        """Forget a partition's buffered rows (after a flush, or when the partition was lost)."""

    def close(self) -> None:
        pass
