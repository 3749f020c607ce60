"""Cleaning: forgetting a group's checkpoint and/or removing chunk files, planned in full before anything goes.

Chunk files may be in a local directory or under an object-store URL; either way only offsetflow's own chunk
files (and a local disk's temp leftovers) are removed, found by listing, never by deleting a whole prefix.

A plan is made first and shown, so a user sees every deletion before saying yes. Planning already refuses
while a consumer of the group, or of the chunk files' topics, runs: a live member would commit over the
deleted group, or go on writing next to files being removed. Other groups that committed past the removed
chunk files are named, because they will not write those files again unless replayed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from offsetflow.ops.groups import Groups
from offsetflow.sinks.chunks import open_store, remove_chunks
from offsetflow.sinks.storage import Location


@dataclass(frozen=True)
class GroupDeletion:
    group: str
    committed: tuple[tuple[str, int], ...]  # (topic, partitions) the group has offsets on


@dataclass(frozen=True)
class ChunkRemoval:
    directory: str  # a local directory or an object-store URL, as the store names it
    topic: str
    files: int
    readers: tuple[str, ...]  # other groups that committed past these chunks: they will not rewrite them


@dataclass(frozen=True)
class CleanPlan:
    group: GroupDeletion | None
    chunks: tuple[ChunkRemoval, ...]


@dataclass(frozen=True)
class GroupDeleted:
    group: str


@dataclass(frozen=True)
class ChunksRemoved:
    directory: str
    topic: str
    files: int
    bytes: int


def plan(groups: Groups, group: str | None, out: Location | None, topics: Sequence[str] = ()) -> CleanPlan:
    """What deleting ``group`` and/or the chunk files under ``out`` would remove; raises ``GroupActive``
    while a consumer that would be disturbed runs.

    The chunk files removed are those of ``topics``, else of the group's topics, else every topic's."""
    deletion = None
    group_topics: list[str] = []
    if group is not None:
        groups.require_idle(group, f"delete group {group}")
        state = groups.describe(group)
        group_topics = state.topics
        deletion = GroupDeletion(
            group, tuple((t, sum(1 for p in state.partitions if p.topic == t)) for t in state.topics)
        )
    removals = []
    if out is not None:
        store = open_store(out)
        store.check()  # a missing bucket or a refused key: one line before anything is deleted
        for topic in list(topics) or group_topics or store.topics():
            readers = _groups_on(groups, topic, exclude=group)
            for name, active in readers:
                if active:
                    groups.require_idle(name, f"remove chunk files of {topic}")
            files = len(store.list_files(topic))  # every file goes, shadowed copies too
            removals.append(ChunkRemoval(store.location, topic, files, tuple(name for name, _ in readers)))
    return CleanPlan(deletion, tuple(removals))


def apply(groups: Groups, plan: CleanPlan) -> Iterator[GroupDeleted | ChunksRemoved]:
    """Carry out ``plan``, the group first, yielding each step as it is done."""
    if plan.group is not None:
        groups.delete(plan.group.group)
        yield GroupDeleted(plan.group.group)
    for chunks in plan.chunks:
        removed = remove_chunks(chunks.directory, chunks.topic)
        yield ChunksRemoved(chunks.directory, chunks.topic, removed.files, removed.bytes)


def _groups_on(groups: Groups, topic: str, exclude: str | None) -> list[tuple[str, bool]]:
    """Other groups with offsets committed on ``topic``, and whether each has running consumers."""
    found = []
    for name in groups.names():
        if name == exclude or not any(t == topic for t, _ in groups.committed(name)):
            continue
        found.append((name, bool(groups.members(name)[1])))
    return found
