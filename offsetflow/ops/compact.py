"""Compaction: many small chunk files of a partition become a few of about N rows each, crash-safe throughout.

Only chunks wholly below the committed offset of their partition are touched (the writing group's, or the
lowest of every group committed on the topic when the group is not named). Those are settled: the consumer
never deletes or rewrites them (its cleanup on assignment removes chunks from the committed offset
on, or from the first offset of a chunk straddling it), and committed offsets only grow while consumers run.
Merging uncommitted chunks too would also keep every row once (a merged file straddling the committed offset
is redone whole, like any straddling chunk) but at a price: a consumer's next assignment would delete the
merged file and re-consume up to N records, LLM calls included, and records gone from Kafka by retention
could not be redone at all. So compaction and consumer cleanup work on disjoint chunks, and compaction never
needs to stop the consumers.

Each merge is made durable before its parts go: the merged file, named by the combined offset range, is
written whole (local: temp file, fsync, rename; object store: one PUT), then the parts are deleted. A kill in
between leaves parts inside the merged file's range, which readers ignore (rule 1 of
``offsetflow.sinks.chunks``); the next run deletes them first. A rerun of an interrupted merge writes the same
name with the same rows.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from offsetflow.ops.groups import Groups
from offsetflow.sinks.chunks import (
    OFFSET_COLUMN,
    Chunk,
    ChunkStore,
    Compression,
    owned_from,
    shadowed,
    visible,
)


@dataclass(frozen=True)
class Merge:
    """Consecutive visible chunks of one partition to become one file named by their combined range."""

    topic: str
    partition: int
    parts: tuple[Chunk, ...]

    @property
    def first(self) -> int:
        return self.parts[0].first

    @property
    def last(self) -> int:
        return self.parts[-1].last

    @property
    def span(self) -> int:
        return sum(offsets(c) for c in self.parts)


@dataclass(frozen=True)
class PartitionPlan:
    topic: str
    partition: int
    committed: int | None  # None: the group has not committed here, so nothing is settled
    files: int  # chunk files now, shadowed ones included
    leftovers: tuple[Chunk, ...]  # shadowed chunks below the committed offset: deleted
    merges: tuple[Merge, ...]
    unsettled: int  # chunk files at or past the committed offset, left to the consumer
    overlaps: int  # partial overlaps that cannot be merged (rows without OFFSET_COLUMN), left as they are

    @property
    def files_after(self) -> int:
        return self.files - len(self.leftovers) - sum(len(m.parts) - 1 for m in self.merges)


@dataclass(frozen=True)
class Plan:
    location: str
    groups: tuple[str, ...]  # whose committed offsets decided what is settled
    partitions: tuple[PartitionPlan, ...]

    @property
    def files(self) -> int:
        return sum(p.files for p in self.partitions)

    @property
    def files_after(self) -> int:
        return sum(p.files_after for p in self.partitions)

    @property
    def merges(self) -> list[Merge]:
        return [m for p in self.partitions for m in p.merges]

    @property
    def leftovers(self) -> list[Chunk]:
        return [c for p in self.partitions for c in p.leftovers]


def offsets(chunk: Chunk) -> int:
    """Offsets a chunk's range spans: an upper bound on its rows (a record gives one row at most), known from
    its name alone, so planning reads no file."""
    return chunk.last - chunk.first + 1


def plan_partition(
    topic: str,
    partition: int,
    files: Sequence[Chunk],
    committed: int | None,
    target_rows: int,
    splittable: bool = True,
) -> PartitionPlan:
    """Which chunks of one partition merge, and which shadowed ones go. Pure: names and offsets only.

    Settled visible chunks (last offset below ``committed``) are taken in offset order into runs of at most
    ``target_rows`` offsets (a chunk that alone reaches that stays as it is); a run of two or more is one
    merge. Chunks that overlap partially are always merged together, whatever the size, as that is how an
    overlap disappears; unless their rows cannot be split by offset (``splittable`` false), then the pair
    is left alone and counted in ``overlaps``."""
    limit = committed if committed is not None else 0
    settled = [c for c in visible(files) if c.last < limit]
    leftovers = tuple(c for c in shadowed(files) if c.last < limit)
    runs: list[list[Chunk]] = []
    overlaps = 0
    for chunk in settled:
        run = runs[-1] if runs else None
        overlapping = run is not None and chunk.first <= run[-1].last
        if overlapping and not splittable:
            overlaps += 1
            runs.append([chunk])
        elif run is not None and (overlapping or sum(map(offsets, run)) + offsets(chunk) <= target_rows):
            run.append(chunk)
        else:
            runs.append([chunk])
    merges = tuple(Merge(topic, partition, tuple(run)) for run in runs if len(run) > 1)
    unsettled = sum(1 for c in files if c.last >= limit)
    return PartitionPlan(topic, partition, committed, len(files), leftovers, merges, unsettled, overlaps)


def plan(
    store: ChunkStore,
    groups: Sequence[str],
    topics: Sequence[str],
    committed: Mapping[tuple[str, int], int],
    target_rows: int,
) -> Plan:
    """The compaction of ``topics`` (all topics with chunk files if empty) at ``store``, given the settled
    offsets by (topic, partition) that ``groups`` committed."""
    partitions = []
    for topic in list(topics) or store.topics():
        files = store.snapshot(topic)  # a listing that missed a file could merge around it and hide it
        splittable = _splittable(store, files)
        for p in sorted({c.partition for c in files}):
            mine = [c for c in files if c.partition == p]
            partitions.append(plan_partition(topic, p, mine, committed.get((topic, p)), target_rows, splittable))
    return Plan(store.location, tuple(groups), tuple(partitions))


def _splittable(store: ChunkStore, files: Sequence[Chunk]) -> bool:
    """Whether rows carry their offset, so a partial overlap can be cut (one file's schema speaks for all)."""
    if not any(low > c.first for c, low in owned_from(files)):
        return True  # no partial overlap: the question does not arise, no need to read anything
    return OFFSET_COLUMN in store.read(files[:1]).columns


@dataclass(frozen=True)
class LeftoversRemoved:
    files: int


@dataclass(frozen=True)
class Merged:
    merge: Merge
    rows: int
    bytes: int
    seconds: float
    done: int  # merges done so far, this one included
    total: int


@dataclass(frozen=True)
class Skipped:
    """A merge whose files changed under it: a part gone (another compaction, `clean`), or the temp file of
    a local write removed by a consumer's cleanup of leftovers. Nothing of it became visible."""

    merge: Merge
    reason: str
    done: int
    total: int


def apply(
    store: ChunkStore, plan: Plan, compression: Compression = "zstd"
) -> Iterator[LeftoversRemoved | Merged | Skipped]:
    """Carry out ``plan``, leftovers of an interrupted run first, yielding each step as it is done."""
    if plan.leftovers:
        store.delete(plan.leftovers)
        yield LeftoversRemoved(len(plan.leftovers))
    merges = plan.merges
    for done, merge in enumerate(merges, 1):
        started = time.monotonic()
        try:
            frame = store.read_rows(merge.parts)  # rule 2 applied: an overlap's rows once, in offset order
            written = store.write(merge.topic, merge.partition, merge.first, merge.last, frame, compression)
        except FileNotFoundError as exc:
            yield Skipped(merge, str(exc), done, len(merges))
            continue
        store.delete(merge.parts)  # only now: until here every part is still there, or shadowed by the merge
        yield Merged(merge, frame.height, written.size, time.monotonic() - started, done, len(merges))


def settled_offsets(
    groups: Groups, topics: Sequence[str], group: str | None = None
) -> tuple[dict[tuple[str, int], int], list[str]]:
    """Offsets below which chunks are settled, by (topic, partition), and the groups they come from.

    With ``group``, its committed offsets. Without, the lowest committed offset of every group on each
    partition of ``topics``: the group that writes these files is among them, and a lower offset only merges
    less, never a chunk its consumers may still redo. A partition that a group has not committed yet (while
    others have, or while that group's running consumer owns it) is not settled at all."""
    if group is not None:
        committed = {key: tp.offset for key, tp in groups.committed(group).items()}
        if not committed:
            raise NothingCommitted(group, groups.names())
        return committed, [group]
    lowest: dict[tuple[str, int], int] = {}
    unsettled: set[tuple[str, int]] = set()
    found: list[str] = []
    by_topic: dict[str, list[dict[tuple[str, int], int]]] = {}
    for name in groups.names():
        mine = {key: tp.offset for key, tp in groups.committed(name).items() if key[0] in topics}
        owned = {key for m in groups.members(name)[1] for key in m.partitions if key[0] in topics}
        unsettled |= owned - set(mine)  # a running consumer's first commit may not have come yet
        if mine:
            found.append(name)
        for key, offset in mine.items():
            lowest[key] = min(offset, lowest.get(key, offset))
        for topic in {t for t, _ in mine}:
            by_topic.setdefault(topic, []).append(mine)
    for key in lowest:
        if any(key not in mine for mine in by_topic.get(key[0], [])):
            unsettled.add(key)  # a group that reads this topic has not committed this partition yet
    if not found:
        raise NothingCommitted(None, groups.names(), topics)
    return {k: v for k, v in lowest.items() if k not in unsettled}, found


class NothingCommitted(RuntimeError):
    """No offset is committed where it matters: nothing is settled, and a named group is most likely a typo."""

    def __init__(self, group: str | None, known: Sequence[str], topics: Sequence[str] = ()) -> None:
        self.group = group
        self.known = tuple(known)
        self.topics = tuple(topics)
        listed = f"known groups: {', '.join(known)}" if 0 < len(known) <= 10 else f"{len(known)} groups exist"
        if group is not None:
            super().__init__(
                f"group {group} has committed no offsets, so no chunk is settled and there is nothing to compact "
                f"({listed if known else 'no group has committed yet'}); name the group whose consumers write here"
            )
        else:
            super().__init__(
                f"no consumer group has committed offsets on {', '.join(topics) or 'any topic with chunk files'}, "
                "so no chunk is settled yet and there is nothing to compact; run their consumer first"
            )
