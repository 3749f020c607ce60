"""The checkpoint: per partition, what is processed, what the sinks still hold, and what may be committed.

Consumer-group offsets are offsetflow's only checkpoint, so this object is where "nothing lost, nothing twice"
is decided. A batch moves through it in this order:

1. **Assigned.** A partition starts at its committed offset, or earlier when a sink asks to redo records whose
   outputs are incomplete (``assigned(p, start)``); nothing before ``start`` counts as processed.
2. **Processed.** Once every record of a batch has its outputs handed to every sink or its dead letter queued,
   ``processed(origin)`` moves the partition's *next* offset past it.
3. **Reached the end.** An end-of-partition event arrives after every record before it, so the next offset may
   jump to the end, past the transaction markers that follow the last record (``reached_end``).
4. **Held by sinks.** A sink that buffers rows reports the lowest offset it still holds; the commit target is
   ``min(next, every sink's pending offset)`` — never a record still in flight, never ``position()``.
5. **Dead letters acknowledged.** The loop flushes the dead-letter producer before it commits (not here: this
   object knows no Kafka client).
6. **Committed.** Only after the broker accepted the commit is the offset recorded (``committed``); a target that
   equals or falls behind the last commit is not committed again (offsets never go backwards). Commits made
   while running are asynchronous, so their answers can come late: a late answer never moves the record back.
7. **Revoked or lost.** The partition's state is forgotten; its next owner starts again from step 1.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from offsetflow.stream.commits import CommitInfo, RateWindow


@dataclass(frozen=True)
class CommitTarget:
    partition: int
    offset: int
    metadata: str  # when and how fast: shown by `offsetflow status`, never read to resume


class Checkpoint:
    def __init__(self) -> None:
        self._next: dict[int, int] = {}  # partition -> offset after the last processed record
        self._committed: dict[int, int] = {}
        self._rates: dict[int, RateWindow] = {}

    # 1. ----------------------------------------------------------------------------------------------------
    def assigned(self, partition: int, start: int) -> None:
        """Start (or restart) a partition at ``start``: the committed offset, or a sink's earlier rewind."""
        self._committed[partition] = start
        self._next.pop(partition, None)
        self._rates.pop(partition, None)

    # 2. ----------------------------------------------------------------------------------------------------
    def processed(self, partition: int, offset: int) -> None:
        self._next[partition] = max(self._next.get(partition, 0), offset + 1)

    # 3. ----------------------------------------------------------------------------------------------------
    def reached_end(self, partition: int, end: int) -> bool:
        """Move past the partition's end (transaction markers included); whether that moved anything."""
        current = self._next.get(partition, self._committed.get(partition))
        if current is None or end <= current:
            return False
        self._next[partition] = end
        return True

    # 4. and 6. -----------------------------------------------------------------------------------------------
    def targets(
        self, held: Callable[[int], Iterable[int | None]], partitions: Iterable[int] | None = None, now_ms: int = 0
    ) -> list[CommitTarget]:
        """What may be committed now: per partition ``min(next, offsets the sinks still hold)``, where that moved
        forward since the last commit. ``held(p)`` gives each sink's lowest buffered offset (None: nothing)."""
        out = []
        for p in self._next if partitions is None else partitions:
            if p not in self._next:
                continue
            target = min([self._next[p], *(off for off in held(p) if off is not None)])
            last = self._committed.get(p)
            if last is not None and target <= last:
                continue
            rate = self._rates.setdefault(p, RateWindow()).add(target)
            out.append(CommitTarget(p, target, CommitInfo(now_ms, rate).encode()))
        return out

    def committed(self, partition: int, offset: int) -> None:
        """The broker accepted ``offset`` for ``partition``."""
        if partition in self._committed or partition in self._next:
            self._committed[partition] = max(offset, self._committed.get(partition, offset))

    def committed_offset(self, partition: int) -> int | None:
        return self._committed.get(partition)

    def processed_offset(self, partition: int) -> int | None:
        """Where this member's processing of ``partition`` stands (its commit, when nothing moved since)."""
        return self._next.get(partition, self._committed.get(partition))

    # 7. ----------------------------------------------------------------------------------------------------
    def revoked(self, partition: int) -> None:
        self._next.pop(partition, None)
        self._committed.pop(partition, None)
        self._rates.pop(partition, None)
