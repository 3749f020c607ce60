"""Where chunk files live and what their names say; shared by the Parquet sink, `status` and `clean`.

Layout (as Kafka Connect's S3 sink, one folder per partition)::

    DIR/<topic>/partition=<p>/<topic>+<p>+<first offset>+<last offset>.parquet

Temp files being written are hidden (``.<final name>.<pid>.tmp``) next to their final name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_CHUNK = re.compile(r"^(?P<topic>.+)\+(?P<partition>\d+)\+(?P<first>\d+)\+(?P<last>\d+)\.parquet$")
_TEMP = re.compile(r"^\.(?P<final>.+\.parquet)\.\d+\.tmp$")


@dataclass(frozen=True)
class Chunk:
    path: Path
    partition: int
    first: int
    last: int


@dataclass(frozen=True)
class Removed:
    files: int
    bytes: int


def chunk_name(topic: str, partition: int, first: int, last: int) -> str:
    return f"{topic}+{partition}+{first:019d}+{last:019d}.parquet"


def partition_dir(directory: Path, topic: str, partition: int) -> Path:
    return directory / topic / f"partition={partition}"


def list_chunks(directory: Path, topic: str, partition: int | None = None) -> list[Chunk]:
    """The complete chunk files of a topic (or one partition), in offset order."""
    base = directory / topic
    pattern = f"partition={partition}/*.parquet" if partition is not None else "partition=*/*.parquet"
    chunks = []
    for path in base.glob(pattern):
        match = _CHUNK.match(path.name)
        if match and match["topic"] == topic:
            chunks.append(Chunk(path, int(match["partition"]), int(match["first"]), int(match["last"])))
    return sorted(chunks, key=lambda c: (c.partition, c.first))


def chunk_topics(directory: Path) -> list[str]:
    """Topics that have chunk files under ``directory``."""
    if not directory.is_dir():
        return []
    return sorted(d.name for d in directory.iterdir() if d.is_dir() and list_chunks(directory, d.name))


def remove_chunks(directory: Path, topic: str) -> Removed:
    """Delete a topic's chunk files and temp leftovers, then its empty folders; nothing else is touched."""
    files = size = 0
    targets = [c.path for c in list_chunks(directory, topic)]
    targets += [p for p in (directory / topic).glob("partition=*/.*.tmp") if _TEMP.match(p.name)]
    for path in targets:
        size += path.stat().st_size
        path.unlink()
        files += 1
    for folder in sorted((directory / topic).glob("partition=*")):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    if (directory / topic).is_dir() and not any((directory / topic).iterdir()):
        (directory / topic).rmdir()
    return Removed(files, size)
