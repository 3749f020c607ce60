"""Where everything stands: groups and their lag, chunk files (on disk or in a bucket), dead letters waiting."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException

from offsetflow.config import KafkaSettings
from offsetflow.ops import dlq
from offsetflow.ops.groups import Groups, GroupState, NoSuchTopic, as_json
from offsetflow.sinks.chunks import open_store
from offsetflow.sinks.storage import Location
from offsetflow.sms.batch_ledger import JobEntry, recorded
from offsetflow.topic_reader import read_topic
from offsetflow.topics import LLM_BATCHES, REDRIVEN


@dataclass(frozen=True)
class ChunkFiles:
    directory: str  # a local directory or an object-store URL, as the store names it
    topic: str
    partitions: int
    files: int
    bytes: int
    last_offset: int


@dataclass(frozen=True)
class DeadLetterCount:
    topic: str
    total: int
    redriven: int

    @property
    def waiting(self) -> int:
        return max(0, self.total - self.redriven)


@dataclass(frozen=True)
class Status:
    groups: list[GroupState]
    outputs: list[ChunkFiles]
    dead_letters: list[DeadLetterCount]
    batch_jobs: list[JobEntry]  # LLM batch jobs paid for whose records their group has not committed yet

    def as_json(self) -> dict[str, Any]:
        return {
            "groups": [as_json(g) for g in self.groups],
            "outputs": [o.__dict__ for o in self.outputs],
            "dead_letters": [{**d.__dict__, "waiting": d.waiting} for d in self.dead_letters],
            "batch_jobs": [asdict(j) for j in self.batch_jobs],
        }


def chunk_files(locations: Sequence[Location]) -> list[ChunkFiles]:
    """Sizes come from the listing itself (an object store's listing carries them), so a bucket costs one
    listing per topic, never a request per chunk."""
    found = []
    for location in locations:
        store = open_store(location)
        store.check()  # a missing bucket or a refused key says so, rather than showing no chunk files
        for topic in store.topics():
            chunks = store.list_chunks(topic)
            if not chunks:  # removed by a consumer's cleanup between the two listings
                continue
            found.append(
                ChunkFiles(
                    store.location,
                    topic,
                    len({c.partition for c in chunks}),
                    len(chunks),
                    sum(c.size for c in chunks),
                    max(c.last for c in chunks),
                )
            )
    return found


def dead_letter_counts(kafka: KafkaSettings, groups: Groups) -> list[DeadLetterCount]:
    """Counted from offsets (dead letters are written without transactions, one offset each)."""
    redriven = [r.key.decode().split("|", 1)[0] for r in read_topic(kafka, REDRIVEN) if r.key]
    counts = []
    for topic in dlq.dead_letter_topics(kafka):
        try:
            starts, ends = groups.offsets(topic, "earliest"), groups.offsets(topic, "latest")
        except NoSuchTopic:  # deleted between the listing and now: nothing waits in it any more
            continue
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise
            continue
        total = sum(ends[p] - starts[p] for p in ends)
        counts.append(DeadLetterCount(topic, total, redriven.count(topic)))
    return counts


def open_batch_jobs(kafka: KafkaSettings, states: Sequence[GroupState], group: str | None) -> list[JobEntry]:
    """Jobs recorded by ``--llm-mode batch`` whose records their group has not committed past: running, or
    finished and waiting for a consumer to collect them."""
    committed = {(s.group, p.topic, p.partition): p.committed for s in states for p in s.partitions}
    return [
        e
        for e in recorded(kafka, LLM_BATCHES)
        if (group is None or e.group == group)
        and (committed.get((e.group, e.topic, e.partition)) or 0) <= e.last_offset
    ]


def collect(kafka: KafkaSettings, group: str | None, out_dirs: Sequence[Location]) -> Status:
    groups = Groups(kafka)
    names = [group] if group else groups.names()
    states = [s for s in map(groups.describe, names) if s.partitions or s.members]  # else: no such group
    jobs = open_batch_jobs(kafka, states, group)
    return Status(states, chunk_files(out_dirs), dead_letter_counts(kafka, groups), jobs)
