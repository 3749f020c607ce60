"""What the file-writing sinks (Parquet chunks, Delta commits) share: rows typed on arrival and held per
partition until a size or age rule writes them, released only once the write is durable.

A subclass says which outputs it already holds (``_already``), how a partition's new rows become a frame
(``_frame``) and how a partition's buffer is written (``_write_partition``, which must call ``_release`` only
once durable). ``pending`` is then the lowest offset still held, which keeps the loop from committing past it.
"""

from __future__ import annotations

import time
from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from offsetflow.stream.contracts import Sink
from offsetflow.stream.records import Output


@dataclass
class PartitionBuffer:
    """A partition's rows not yet written, already typed (a row that does not fit the schema fails in
    ``write``, where it can be isolated, never at flush time)."""

    frames: list[pl.DataFrame] = field(default_factory=list)
    rows: int = 0
    keys: set[str] = field(default_factory=set)
    first: int = -1
    last: int = -1
    started: float = field(default_factory=time.monotonic)


class BufferedSink(Sink):
    def __init__(self, schema: dict[str, Any], chunk_rows: int, max_age: float) -> None:
        self.schema = pl.Schema(schema)
        self.chunk_rows = chunk_rows  # rows that make a partition's buffer due at once
        self.max_age = max_age  # seconds after which a buffer is due however small (aged flushes)
        self._buffers: dict[int, PartitionBuffer] = {}

    @abstractmethod
    def _already(self, out: Output) -> bool:
        """Whether ``out`` is written already (its key or its offset), so a redelivery is written once."""

    def _frame(self, outputs: Sequence[Output]) -> pl.DataFrame:
        return pl.DataFrame([o.row for o in outputs], schema=self.schema, orient="row", strict=True)

    @abstractmethod
    def _write_partition(self, partition: int) -> None:
        """Write the partition's buffer durably, then ``_release`` it; on failure raise and keep it."""

    def write(self, outputs: Sequence[Output]) -> None:
        """Type the batch's new rows per partition first, then buffer them: a batch is taken whole or not at
        all, so a row that does not fit the schema leaves no trace and the loop can isolate it."""
        fresh: dict[int, dict[str, Output]] = {}
        for out in outputs:
            p = out.origin.partition
            buf = self._buffers.get(p)
            if self._already(out) or (buf is not None and out.key in buf.keys):
                continue
            fresh.setdefault(p, {}).setdefault(out.key, out)
        typed = {p: self._frame(list(outs.values())) for p, outs in fresh.items()}
        for p, frame in typed.items():
            offsets = [o.origin.offset for o in fresh[p].values()]
            buf = self._buffers.setdefault(p, PartitionBuffer())
            if not buf.rows:
                buf.first, buf.started = min(offsets), time.monotonic()
            buf.frames.append(frame)
            buf.rows += frame.height
            buf.keys.update(fresh[p])
            buf.last = max(buf.last, max(offsets))
            if buf.rows >= self.chunk_rows:
                self._write_partition(p)

    def pending(self, partition: int) -> int | None:
        buf = self._buffers.get(partition)
        return buf.first if buf is not None and buf.rows else None

    def flush(self, partitions: Sequence[int] | None = None, *, aged_only: bool = False) -> bool:
        now = time.monotonic()
        wrote = False
        for p in list(self._buffers if partitions is None else partitions):
            buf = self._buffers.get(p)
            if buf is None or not buf.rows or (aged_only and now - buf.started < self.max_age):
                continue
            self._write_partition(p)
            wrote = True
        return wrote

    def _release(self, partition: int) -> PartitionBuffer:
        """The partition's buffer, forgotten: call once its rows are durable."""
        return self._buffers.pop(partition)

    def _drop(self, partition: int) -> None:
        """Forget a partition's buffer unwritten (assignment, revocation): its records are consumed again."""
        self._buffers.pop(partition, None)
