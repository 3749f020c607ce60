"""Where chunk files live and what their names say; shared by the Parquet sink, `status` and `clean`.

Layout (as Kafka Connect's S3 sink, one folder per partition), under a local directory or an object-store
URL (``s3://bucket/prefix``)::

    OUT/<topic>/partition=<p>/<topic>+<p>+<first offset>+<last offset>.parquet

A chunk's name is a function of the records it holds, so writing it again (a retry, a rerun after a crash)
overwrites it with the same content. How a chunk appears whole differs:

- on a local disk it is written to a hidden temp name (``.<final name>.<pid>.tmp``), fsynced and renamed;
- on an object store it is written straight to its final key: a PUT is atomic there (readers see the whole
  object or none) and a rename would be a copy plus a delete, i.e. two requests that a crash can split.

Overlapping chunks, and the one rule every reader follows
---------------------------------------------------------
Chunk files of one partition may overlap in offset range: `offsetflow compact` writes a merged file before it
deletes the parts (a kill in between leaves both), and a member that lost its partitions by session timeout
(a zombie) may write a late chunk over offsets the new owner writes too. Both hold the same records, so any
one copy of an offset's rows is right; what matters is that a reader takes exactly one. The rule:

1. **Shadowed**: a chunk whose range lies within another chunk's range of the same partition is ignored by
   readers (`list_chunks`, `read_chunks`, `status`'s counts) and deleted by `compact`. What is left, the
   *visible* chunks, sorted by first offset, have strictly increasing last offsets too (equal firsts, or a
   later first with a last not beyond, would be containment).
2. **Partial overlap**: of two visible chunks that overlap, the earlier one owns the overlap. Each visible chunk
   owns the offsets above the previous visible chunk's last offset up to its own last; `read_chunks` reads a
   chunk's rows only at offsets it owns (rows carry their offset in ``source_offset``).

Proof of exactly once: the owned windows ``(previous last, last]`` of the visible chunks are disjoint and,
as lasts increase, cover every offset up to the greatest; an offset's rows therefore come from one chunk,
the visible one whose window holds it. Rule 1 needs only names, so readers that read the listed files whole
(polars or DuckDB on `list_chunks`) are exact whenever no partial overlap exists, which is the normal state:
compaction only creates containment, and merges a partial overlap into one file that contains both. Rows
without ``source_offset`` (SMS rows so far) cannot be split by offset: there a partial overlap is read from
both chunks (at least once, not exactly once, for the overlapping offsets) and `compact` leaves the pair alone
and reports it rather than guess.

Cleanup on assignment (``ParquetChunkSink.assigned``) deletes every chunk file, shadowed or not, that starts
at or past the first offset to redo; it never leaves a shadowed part whose container it removed.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import polars as pl

from offsetflow import redact
from offsetflow.sinks.storage import Location, StorageError, filesystem, is_url, local_path, object_store_errors

_CHUNK = re.compile(r"^(?P<topic>.+)\+(?P<partition>\d+)\+(?P<first>\d+)\+(?P<last>\d+)\.parquet$")
OFFSET_COLUMN = "source_offset"  # rows that carry their record's offset can be split by rule 2
_TEMP = re.compile(r"^\.(?P<final>.+\.parquet)\.\d+\.tmp$")

_LIST_ATTEMPTS = 100  # listings until two in a row agree, while files are merged or cleaned next to us
_READ_ATTEMPTS = 100  # listings of a partition a reader tries while its files are merged or cleaned

Compression = Literal["zstd", "lz4", "snappy", "gzip", "uncompressed"]


@dataclass(frozen=True)
class Chunk:
    url: str  # a local file's path, or the object's URL (s3://bucket/key)
    partition: int
    first: int
    last: int
    size: int

    @property
    def path(self) -> Path:
        """The local file; a chunk on an object store has a ``url`` only."""
        if is_url(self.url):
            raise StorageError(f"{self.url} is not a local file")
        return Path(self.url)


@dataclass(frozen=True)
class Removed:
    files: int
    bytes: int


def contains(outer: Chunk, inner: Chunk) -> bool:
    """Whether ``inner`` is shadowed by ``outer`` (rule 1): same partition, range within, not the same file."""
    return (
        outer.partition == inner.partition
        and outer.first <= inner.first
        and inner.last <= outer.last
        and (outer.first, outer.last) != (inner.first, inner.last)
    )


def visible(chunks: Sequence[Chunk]) -> list[Chunk]:
    """The chunks readers see (rule 1), in partition and offset order: those no other chunk contains.

    Sorted by (partition, first, -last), a chunk is contained in another iff some earlier chunk of its
    partition reaches at least as far, so one pass keeping the greatest last so far decides it."""
    shown: list[Chunk] = []
    reach: dict[int, int] = {}
    for chunk in sorted(chunks, key=lambda c: (c.partition, c.first, -c.last)):
        if chunk.last > reach.get(chunk.partition, -1):
            shown.append(chunk)
            reach[chunk.partition] = chunk.last
    return shown


def shadowed(chunks: Sequence[Chunk]) -> list[Chunk]:
    """The chunks rule 1 hides: each lies within a visible one."""
    shown = set(visible(chunks))
    return sorted((c for c in chunks if c not in shown), key=lambda c: (c.partition, c.first))


def owned_from(chunks: Sequence[Chunk]) -> list[tuple[Chunk, int]]:
    """Each visible chunk with the lowest offset it owns (rule 2): one past the previous visible chunk's last
    of its partition. A chunk starting at or above that owns all of its rows."""
    owned = []
    previous: dict[int, int] = {}
    for chunk in visible(chunks):
        owned.append((chunk, max(chunk.first, previous.get(chunk.partition, -1) + 1)))
        previous[chunk.partition] = chunk.last
    return owned


def chunk_name(topic: str, partition: int, first: int, last: int) -> str:
    return f"{topic}+{partition}+{first:019d}+{last:019d}.parquet"


def partition_dir(directory: Path, topic: str, partition: int) -> Path:
    return directory / topic / f"partition={partition}"


def _parse(topic: str, folder: str, name: str) -> tuple[int, int, int] | None:
    match = _CHUNK.match(name)
    if not folder.startswith("partition=") or not match or match["topic"] != topic:
        return None
    return int(match["partition"]), int(match["first"]), int(match["last"])


class ChunkStore(ABC):
    """The chunk files of one output location, wherever it is."""

    location: str

    @abstractmethod
    def list_files(self, topic: str, partition: int | None = None) -> list[Chunk]:
        """Every complete chunk file of a topic (or one partition), shadowed ones included, in offset order:
        what cleanup and compaction work on."""

    def snapshot(self, topic: str, partition: int | None = None) -> list[Chunk]:
        """``list_files`` as of one moment. One pass is not atomic (a directory is scanned, then each file's
        size read, and a file gone by then is left out; an object listing comes in pages): while a compaction
        writes a merged file and then removes its parts, one pass can miss both the merged file (created after
        the scan) and the parts (removed before their stat). The next pass then differs (it has the merged
        file, or lacks parts the first had), so passes are repeated until two in a row agree."""
        listed = self.list_files(topic, partition)
        for _ in range(_LIST_ATTEMPTS):
            again = self.list_files(topic, partition)
            if {c.url for c in again} == {c.url for c in listed}:
                return again
            listed = again
        return listed

    def list_chunks(self, topic: str, partition: int | None = None) -> list[Chunk]:
        """The visible chunk files of a topic (or one partition), in offset order: what readers read."""
        return visible(self.snapshot(topic, partition))

    def read_rows(self, chunks: Sequence[Chunk], columns: Sequence[str] | None = None) -> pl.DataFrame:
        """The rows of these chunks as readers see them: shadowed chunks skipped, and each visible chunk's
        rows only at the offsets it owns (both rules of the module docstring)."""
        owned = owned_from(chunks)
        if all(low == c.first for c, low in owned):  # no partial overlap: whole files, read at once
            return self.read([c for c, _ in owned], columns)
        wanted = list(columns) if columns is not None else None
        frames = []
        for chunk, low in owned:
            frame = self.read([chunk])  # rare (an overlap); all columns, as OFFSET_COLUMN may be absent
            if low > chunk.first and OFFSET_COLUMN in frame.columns:
                frame = frame.filter(pl.col(OFFSET_COLUMN) >= low)
            frames.append(frame.select(wanted) if wanted is not None else frame)
        return pl.concat(frames, how="vertical")

    @abstractmethod
    def topics(self) -> list[str]:
        """Topics that have chunk files here."""

    @abstractmethod
    def write(
        self, topic: str, partition: int, first: int, last: int, frame: pl.DataFrame, compression: Compression
    ) -> Chunk:
        """Make one chunk durable under its final name; when this returns, every reader sees all of it."""

    @abstractmethod
    def delete(self, chunks: Sequence[Chunk]) -> None:
        """Remove chunks durably (missing ones are fine: another consumer may have removed them first)."""

    @abstractmethod
    def clear_leftovers(self, topic: str, partition: int) -> int:
        """Remove what an interrupted write left that is not a chunk; returns how many."""

    @abstractmethod
    def read(self, chunks: Sequence[Chunk], columns: Sequence[str] | None = None) -> pl.DataFrame:
        """The rows of these chunks, in the given order."""

    def topic_location(self, topic: str) -> str:
        return f"{self.location.rstrip('/')}/{topic}"

    def check(self) -> None:
        """Fail at start with one line saying what to fix, rather than at the first chunk (a missing bucket
        or a wrong key would otherwise show up as writes that keep failing and offsets that never move)."""
        return None

    def remove_topic(self, topic: str) -> Removed:
        """Delete a topic's chunk files and leftovers; nothing else is touched."""
        chunks = self.list_files(topic)
        leftovers = sum(self.clear_leftovers(topic, p) for p in {c.partition for c in chunks} | self._partitions(topic))
        self.delete(chunks)
        return Removed(len(chunks) + leftovers, sum(c.size for c in chunks))

    def _partitions(self, topic: str) -> set[int]:
        return set()


class LocalChunkStore(ChunkStore):
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.location = str(directory)

    def list_files(self, topic: str, partition: int | None = None) -> list[Chunk]:
        base = self.directory / topic
        pattern = f"partition={partition}/*.parquet" if partition is not None else "partition=*/*.parquet"
        chunks = []
        for path in base.glob(pattern):
            parsed = _parse(topic, path.parent.name, path.name)
            if parsed is None:
                continue
            try:
                size = path.stat().st_size
            except FileNotFoundError:  # removed by a consumer's cleanup while we listed
                continue
            chunks.append(Chunk(str(path), *parsed, size))
        return sorted(chunks, key=lambda c: (c.partition, c.first))

    def topics(self) -> list[str]:
        if not self.directory.is_dir():
            return []
        return sorted(d.name for d in self.directory.iterdir() if d.is_dir() and self.list_files(d.name))

    def write(
        self, topic: str, partition: int, first: int, last: int, frame: pl.DataFrame, compression: Compression
    ) -> Chunk:
        folder = partition_dir(self.directory, topic, partition)
        folder.mkdir(parents=True, exist_ok=True)
        final = folder / chunk_name(topic, partition, first, last)
        temp = folder / f".{final.name}.{os.getpid()}.tmp"
        try:
            frame.write_parquet(temp, compression=compression, statistics=True)
            _fsync(temp)
            os.replace(temp, final)
        finally:
            temp.unlink(missing_ok=True)
        _fsync(folder)
        return Chunk(str(final), partition, first, last, final.stat().st_size)

    def delete(self, chunks: Sequence[Chunk]) -> None:
        folders = set()
        for chunk in chunks:
            chunk.path.unlink(missing_ok=True)
            folders.add(chunk.path.parent)
        for folder in folders:  # empty folders stay: a consumer of the partition may be about to write there
            if folder.is_dir():
                _fsync(folder)

    def clear_leftovers(self, topic: str, partition: int) -> int:
        removed = 0
        for temp in partition_dir(self.directory, topic, partition).glob(".*.tmp"):
            if _TEMP.match(temp.name):
                temp.unlink(missing_ok=True)
                removed += 1
        return removed

    def read(self, chunks: Sequence[Chunk], columns: Sequence[str] | None = None) -> pl.DataFrame:
        if not chunks:
            return pl.DataFrame()
        frame = pl.scan_parquet([c.path for c in chunks])
        return (frame.select(list(columns)) if columns is not None else frame).collect()

    def remove_topic(self, topic: str) -> Removed:
        removed = super().remove_topic(topic)
        self._prune({self.directory / topic})
        return removed

    def _partitions(self, topic: str) -> set[int]:
        found = set()
        for folder in (self.directory / topic).glob("partition=*"):
            number = folder.name.removeprefix("partition=")
            if folder.is_dir() and number.isdigit():
                found.add(int(number))
        return found

    @staticmethod
    def _prune(topic_dirs: set[Path]) -> None:
        """Remove folders a removal left empty, so `clean` leaves no trace."""
        for topic_dir in topic_dirs:
            for folder in sorted(topic_dir.glob("partition=*")):
                if folder.is_dir() and not any(folder.iterdir()):
                    folder.rmdir()
            if topic_dir.is_dir() and not any(topic_dir.iterdir()):
                topic_dir.rmdir()


class ObjectChunkStore(ChunkStore):
    """Chunks as objects. Listings are never cached: other consumers write and clean the same prefix."""

    def __init__(self, url: str) -> None:
        self.fs, self.root = filesystem(url)
        self.scheme = url.partition("://")[0].lower()
        self.location = f"{self.scheme}://{self.root}"

    def _url(self, key: str) -> str:
        return f"{self.scheme}://{key}"

    def check(self) -> None:
        bucket, _, prefix = self.root.partition("/")
        try:
            with object_store_errors(f"listing {self.location}"):
                if hasattr(self.fs, "call_s3"):  # one key at most, however big the bucket
                    self.fs.call_s3("list_objects_v2", Bucket=bucket, Prefix=prefix, MaxKeys=1)
                elif not self.fs.exists(bucket):
                    raise FileNotFoundError(bucket)
        except FileNotFoundError as exc:
            raise StorageError(
                f"{self.location}: bucket {bucket} not found ({exc}); create it, or check the endpoint "
                "(AWS_ENDPOINT_URL) and region (AWS_REGION)"
            ) from exc
        except OSError as exc:
            raise StorageError(
                redact.text(
                    f"{self.location} cannot be listed: {exc}; check the credentials (AWS_ACCESS_KEY_ID and "
                    "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE) and the endpoint (AWS_ENDPOINT_URL)"
                )
            ) from exc

    def _find(self, prefix: str) -> dict[str, Any]:
        try:
            with object_store_errors(f"listing {self._url(prefix)}"):
                found: dict[str, Any] = self.fs.find(prefix, detail=True)
        except FileNotFoundError:
            return {}
        return found

    def list_files(self, topic: str, partition: int | None = None) -> list[Chunk]:
        base = f"{self.root}/{topic}/"
        prefix = base + (f"partition={partition}/" if partition is not None else "")
        chunks = []
        for key, info in self._find(prefix).items():
            parts = key.removeprefix(base).split("/")
            parsed = _parse(topic, parts[0], parts[1]) if len(parts) == 2 else None
            if parsed is not None and (partition is None or parsed[0] == partition):
                chunks.append(Chunk(self._url(key), *parsed, int(info.get("size") or 0)))
        return sorted(chunks, key=lambda c: (c.partition, c.first))

    def topics(self) -> list[str]:
        base = f"{self.root}/"
        found = set()
        for key in self._find(base):
            parts = key.removeprefix(base).split("/")
            if len(parts) == 3 and _parse(parts[0], parts[1], parts[2]) is not None:
                found.add(parts[0])
        return sorted(found)

    def write(
        self, topic: str, partition: int, first: int, last: int, frame: pl.DataFrame, compression: Compression
    ) -> Chunk:
        key = f"{self.root}/{topic}/partition={partition}/{chunk_name(topic, partition, first, last)}"
        buffer = io.BytesIO()
        frame.write_parquet(buffer, compression=compression, statistics=True)
        data = buffer.getvalue()
        with object_store_errors(f"writing {self._url(key)}"):
            self.fs.pipe_file(key, data)
        return Chunk(self._url(key), partition, first, last, len(data))

    def delete(self, chunks: Sequence[Chunk]) -> None:
        keys = [self._key(c) for c in chunks]
        if keys:
            with contextlib.suppress(FileNotFoundError), object_store_errors(f"removing chunks from {self.location}"):
                self.fs.rm(keys)

    def clear_leftovers(self, topic: str, partition: int) -> int:
        return 0  # chunks are written in one PUT: an interrupted one leaves nothing behind

    def read(self, chunks: Sequence[Chunk], columns: Sequence[str] | None = None) -> pl.DataFrame:
        if not chunks:
            return pl.DataFrame()
        keys = [self._key(c) for c in chunks]
        with object_store_errors(f"reading chunks from {self.location}"):
            data = self.fs.cat(keys)  # fetched concurrently
        cols = list(columns) if columns is not None else None
        return pl.concat([pl.read_parquet(io.BytesIO(data[k]), columns=cols) for k in keys], how="vertical")

    def _key(self, chunk: Chunk) -> str:
        return chunk.url.partition("://")[2]


def open_store(location: Location) -> ChunkStore:
    """The chunk store of ``--out``: a local directory, or an object store for a URL."""
    return ObjectChunkStore(str(location)) if is_url(location) else LocalChunkStore(local_path(location))


def list_chunks(directory: Location, topic: str, partition: int | None = None) -> list[Chunk]:
    """The visible chunk files of a topic (or one partition), in offset order (shadowed ones left out)."""
    return open_store(directory).list_chunks(topic, partition)


def chunk_topics(directory: Location) -> list[str]:
    """Topics that have chunk files under ``directory``."""
    return open_store(directory).topics()


def remove_chunks(directory: Location, topic: str) -> Removed:
    """Delete a topic's chunk files and temp leftovers, then its empty folders; nothing else is touched."""
    return open_store(directory).remove_topic(topic)


def topic_location(directory: Location, topic: str) -> str:
    """Where a topic's chunk files are, for messages: ``out/posts/posts.ids``, ``s3://bucket/prefix/posts.ids``."""
    return open_store(directory).topic_location(topic)


def read_chunks(directory: Location, topic: str, columns: Sequence[str] | None = None) -> pl.DataFrame:
    """All rows of a topic's chunk files, in partition and offset order, each offset's rows once.

    A file listed but gone when read was merged by `compact` (its merged file exists by then) or cleaned up
    by a consumer: that partition is listed and read again. Each retry follows a finished step of theirs
    (a merge or a cleanup, both finite), so a reader running next to them gets through."""
    store = open_store(directory)
    files = store.snapshot(topic)
    frames = []
    for partition in sorted({c.partition for c in files}):
        listed = [c for c in files if c.partition == partition]
        for attempt in range(_READ_ATTEMPTS):
            try:
                frames.append(store.read_rows(listed, columns))
                break
            except FileNotFoundError:
                if attempt == _READ_ATTEMPTS - 1:
                    raise
                listed = store.snapshot(topic, partition)
    frames = [f for f in frames if f.width]
    return pl.concat(frames, how="vertical") if frames else pl.DataFrame()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
