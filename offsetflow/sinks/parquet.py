"""Parquet chunk files named by topic, partition and offset range, so a rerun rewrites the same names.

The file layout, and how a chunk becomes visible whole on a local disk (temp file, fsync, rename) or an object
store (one PUT to its final key), live in ``offsetflow.sinks.chunks``. On assignment, chunks holding offsets
at or past the committed offset come from a run that died before committing; they are deleted and their
records consumed again. On an object store every consumer sees the whole prefix, so the consumer a partition
moves to finds and removes what its previous owner left there, whichever machine that ran on.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from offsetflow.sinks.chunks import Compression, open_store, visible
from offsetflow.sinks.storage import Location
from offsetflow.stream.contracts import PartitionResume, Sink
from offsetflow.stream.records import Output


@dataclass
class _Buffer:
    """A partition's rows not yet in a chunk file, already typed (a row that does not fit the schema fails in
    ``write``, where it can be isolated, never at flush time)."""

    frames: list[pl.DataFrame] = field(default_factory=list)
    rows: int = 0
    keys: set[str] = field(default_factory=set)
    first: int = -1
    last: int = -1
    started: float = field(default_factory=time.monotonic)


class ParquetChunkSink(Sink):
    name = "parquet"

    def __init__(
        self,
        directory: Location,
        topic: str,
        schema: dict[str, Any],
        key_column: str,
        chunk_rows: int = 20_000,
        max_age: float = 60.0,
        compression: Compression = "zstd",
    ) -> None:
        self.directory = directory
        self.store = open_store(directory)
        self.topic = topic
        self.schema = pl.Schema(schema)
        self.key_column = key_column
        self.chunk_rows = chunk_rows
        self.max_age = max_age
        self.compression = compression
        self._buffers: dict[int, _Buffer] = {}
        # Keys already in this partition's committed chunks: a key that Kafka delivers twice is written once.
        self._written: dict[int, set[str]] = {}
        self.chunks_written = 0

    def write(self, outputs: Sequence[Output]) -> None:
        """Type the batch's new rows per partition first, then buffer them: a batch is taken whole or not at
        all, so a row that does not fit the schema leaves no trace and the loop can isolate it."""
        fresh: dict[int, dict[str, Output]] = {}
        for out in outputs:
            p = out.origin.partition
            buf = self._buffers.get(p)
            if out.key in self._written.get(p, ()) or (buf is not None and out.key in buf.keys):
                continue
            fresh.setdefault(p, {}).setdefault(out.key, out)
        typed = {
            p: pl.DataFrame([o.row for o in outs.values()], schema=self.schema, orient="row", strict=True)
            for p, outs in fresh.items()
        }
        for p, frame in typed.items():
            outs = list(fresh[p].values())
            buf = self._buffers.setdefault(p, _Buffer())
            if not buf.rows:
                buf.first, buf.started = outs[0].origin.offset, time.monotonic()
            buf.frames.append(frame)
            buf.rows += frame.height
            buf.keys.update(fresh[p])
            buf.last = max(buf.last, outs[-1].origin.offset)
            if buf.rows >= self.chunk_rows:
                self._flush_partition(p)

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
            self._flush_partition(p)
            wrote = True
        return wrote

    def _flush_partition(self, partition: int) -> None:
        """Write one chunk; the buffer is released only once the chunk is durable under its final name, so
        a failed write leaves ``pending`` where it was and the loop cannot commit past these rows. A retry
        writes the same rows under the same name."""
        buf = self._buffers[partition]
        frame = pl.concat(buf.frames, how="vertical")
        self.store.write(self.topic, partition, buf.first, buf.last, frame, self.compression)
        del self._buffers[partition]
        self._written.setdefault(partition, set()).update(buf.keys)
        self.chunks_written += 1

    def assigned(self, partition: int, committed: int) -> PartitionResume:
        self.store.clear_leftovers(self.topic, partition)
        # Every file, shadowed ones included (see sinks.chunks): a compaction's parts or a zombie's late chunk
        # past the committed offset go with the rest, so no shadowed part outlives the file that hid it.
        chunks = self.store.snapshot(self.topic, partition)  # consistent while `compact` works below committed
        # A chunk straddling the committed offset (after a replay to a point inside it) is redone whole.
        start = min([c.first for c in chunks if c.first < committed <= c.last], default=committed)
        stale = [c for c in chunks if c.first >= start]
        self.store.delete(stale)
        kept = [c for c in chunks if c.first < start]
        keys = self.store.read(visible(kept), [self.key_column]) if kept else None
        self._written[partition] = set(keys.get_column(self.key_column).to_list()) if keys is not None else set()
        self._buffers.pop(partition, None)
        return PartitionResume(existing=len(kept), removed=len(stale), rewind_to=start if start != committed else None)

    def revoked(self, partition: int) -> None:
        self._buffers.pop(partition, None)
        self._written.pop(partition, None)
