"""Parquet chunk files named by topic, partition and offset range, so a rerun rewrites the same names.

The file layout, and how a chunk becomes visible whole on a local disk (temp file, fsync, rename) or an object
store (one PUT to its final key), live in ``offsetflow.sinks.chunks``. On assignment, chunks holding offsets
at or past the committed offset come from a run that died before committing; they are deleted and their
records consumed again. On an object store every consumer sees the whole prefix, so the consumer a partition
moves to finds and removes what its previous owner left there, whichever machine that ran on.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from offsetflow.sinks.buffered import BufferedSink
from offsetflow.sinks.chunks import Compression, open_store, visible
from offsetflow.sinks.storage import Location
from offsetflow.stream.contracts import PartitionResume
from offsetflow.stream.records import Output


class ParquetChunkSink(BufferedSink):
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
        super().__init__(schema, chunk_rows, max_age)
        self.key_column = key_column
        self.compression = compression
        # Keys already in this partition's committed chunks: a key that Kafka delivers twice is written once.
        self._written: dict[int, set[str]] = {}
        self.chunks_written = 0

    def _already(self, out: Output) -> bool:
        return out.key in self._written.get(out.origin.partition, ())

    def _write_partition(self, partition: int) -> None:
        """Write one chunk; the buffer is released only once the chunk is durable under its final name, so
        a failed write leaves ``pending`` where it was and the loop cannot commit past these rows. A retry
        writes the same rows under the same name."""
        buf = self._buffers[partition]
        frame = pl.concat(buf.frames, how="vertical")
        self.store.write(self.topic, partition, buf.first, buf.last, frame, self.compression)
        self._release(partition)
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
        self._drop(partition)
        return PartitionResume(existing=len(kept), removed=len(stale), rewind_to=start if start != committed else None)

    def revoked(self, partition: int) -> None:
        self._drop(partition)
        self._written.pop(partition, None)
