"""Consumer groups seen and changed through the Kafka admin API: the checkpoints, as users manage them.

A group's committed offsets are where its consumers resume. Reading them needs no running consumer; changing
them (replay, clean) is only safe while no consumer of the group runs, because a live member would overwrite
the change with its next commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import ConsumerGroupTopicPartitions, IsolationLevel, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from offsetflow.config import KafkaSettings
from offsetflow.stream.commits import CommitInfo
from offsetflow.topics import INTERNAL_PREFIX


class NoSuchTopic(RuntimeError):
    """A topic named by the user, or listed a moment ago and deleted since."""


class GroupActive(RuntimeError):
    """The group has running members, so its offsets must not be changed now."""


@dataclass(frozen=True)
class Member:
    client_id: str
    host: str
    partitions: tuple[tuple[str, int], ...]

    @property
    def name(self) -> str:
        return f"{self.client_id}@{self.host.lstrip('/')}"


@dataclass(frozen=True)
class PartitionState:
    topic: str
    partition: int
    committed: int | None
    start: int  # first offset still in the log
    end: int  # last stable offset: what read_committed consumers can reach
    member: str | None
    commit: CommitInfo | None

    @property
    def lag(self) -> int:
        return max(0, self.end - (self.committed if self.committed is not None else self.start))

    @property
    def rate(self) -> float | None:
        return self.commit.rate if self.commit is not None else None

    @property
    def eta_seconds(self) -> float | None:
        """None while no consumer runs: a rate from a past run says nothing about when the rest gets done."""
        if not self.lag:
            return 0.0
        return self.lag / self.rate if self.rate and self.member else None


@dataclass(frozen=True)
class GroupState:
    group: str
    state: str
    members: tuple[Member, ...]
    partitions: tuple[PartitionState, ...]

    @property
    def active(self) -> bool:
        return bool(self.members)

    @property
    def topics(self) -> list[str]:
        return sorted({p.topic for p in self.partitions})

    @property
    def lag(self) -> int:
        return sum(p.lag for p in self.partitions)


class Groups:
    def __init__(self, kafka: KafkaSettings, timeout: float = 30.0) -> None:
        self.admin = AdminClient(kafka.client_config())
        self.timeout = timeout

    # -- reading ----------------------------------------------------------------------------------------
    def names(self) -> list[str]:
        result = self.admin.list_consumer_groups(request_timeout=self.timeout).result()
        return sorted(g.group_id for g in result.valid if not g.group_id.startswith(INTERNAL_PREFIX))

    def committed(self, group: str) -> dict[tuple[str, int], TopicPartition]:
        request = [ConsumerGroupTopicPartitions(group)]
        found = self.admin.list_consumer_group_offsets(request, request_timeout=self.timeout)[group].result()
        return {(tp.topic, tp.partition): tp for tp in found.topic_partitions or [] if tp.offset >= 0}

    def members(self, group: str) -> tuple[str, tuple[Member, ...]]:
        described = self.admin.describe_consumer_groups([group], request_timeout=self.timeout)[group].result()
        members = tuple(
            Member(
                m.client_id,
                m.host,
                tuple((tp.topic, tp.partition) for tp in (m.assignment.topic_partitions if m.assignment else [])),
            )
            for m in described.members
        )
        return described.state.name.lower(), members

    def partitions(self, topic: str) -> list[int]:
        """The topic's partitions; ``NoSuchTopic`` if it does not exist (or was deleted a moment ago)."""
        meta = self.admin.list_topics(topic, timeout=self.timeout).topics.get(topic)
        if meta is None or meta.error is not None:
            raise NoSuchTopic(f"topic {topic} does not exist (offsetflow topics create makes the project's topics)")
        return sorted(meta.partitions)

    def offsets(self, topic: str, spec: str | int, partitions: Iterable[int] | None = None) -> dict[int, int]:
        """Offsets of ``topic``: ``"earliest"``, ``"latest"`` (last stable offset) or the first offset at or
        after a timestamp in ms (the end offset where no record is that new)."""
        parts = list(partitions) if partitions is not None else self.partitions(topic)
        if not parts:
            return {}
        offset_spec = (
            OffsetSpec.earliest()  # type: ignore[no-untyped-call]
            if spec == "earliest"
            else OffsetSpec.latest()  # type: ignore[no-untyped-call]
            if spec == "latest"
            else OffsetSpec.for_timestamp(int(spec))
        )
        futures = self.admin.list_offsets(
            {TopicPartition(topic, p): offset_spec for p in parts},
            isolation_level=IsolationLevel.READ_COMMITTED,
            request_timeout=self.timeout,
        )
        found = {tp.partition: future.result().offset for tp, future in futures.items()}
        if spec not in ("earliest", "latest") and any(offset < 0 for offset in found.values()):
            ends = self.offsets(topic, "latest", [p for p, offset in found.items() if offset < 0])
            found.update(ends)
        return found

    def describe(self, group: str, topics: Sequence[str] = ()) -> GroupState:
        """Every partition of every topic the group has committed to, is assigned, or is asked about."""
        committed = self.committed(group)
        state, members = self.members(group)
        owner = {tp: m.name for m in members for tp in m.partitions}
        names = sorted({t for t, _ in committed} | {t for t, _ in owner} | set(topics))
        partitions = []
        for topic in names:
            try:
                parts = self.partitions(topic)
            except RuntimeError:
                continue  # a deleted topic the group still has offsets for
            starts, ends = self.offsets(topic, "earliest", parts), self.offsets(topic, "latest", parts)
            for p in parts:
                tp = committed.get((topic, p))
                partitions.append(
                    PartitionState(
                        topic,
                        p,
                        tp.offset if tp is not None else None,
                        starts[p],
                        ends[p],
                        owner.get((topic, p)),
                        CommitInfo.decode(tp.metadata) if tp is not None else None,
                    )
                )
        return GroupState(group, state, members, tuple(partitions))

    # -- changing ---------------------------------------------------------------------------------------
    def require_idle(self, group: str, doing: str) -> None:
        _, members = self.members(group)
        if members:
            names = ", ".join(sorted({m.name for m in members}))
            raise GroupActive(
                f"cannot {doing}: group {group} has {len(members)} running consumer(s) ({names}). "
                "Stop them first (Ctrl-C, or `docker compose stop <service>`); their last batch is committed on "
                "the way out. Then run this again."
            )

    def set_offsets(self, group: str, offsets: Mapping[tuple[str, int], int]) -> None:
        request = [ConsumerGroupTopicPartitions(group, [TopicPartition(t, p, o) for (t, p), o in offsets.items()])]
        result = self.admin.alter_consumer_group_offsets(request, request_timeout=self.timeout)[group].result()
        errors = [f"{tp.topic}[{tp.partition}]: {tp.error}" for tp in result.topic_partitions or [] if tp.error]
        if errors:
            raise RuntimeError(f"could not set offsets of group {group}: {'; '.join(errors)}")

    def delete(self, group: str) -> None:
        try:
            self.admin.delete_consumer_groups([group], request_timeout=self.timeout)[group].result()
        except KafkaException as exc:
            if exc.args[0].name() != "GROUP_ID_NOT_FOUND":
                raise


def as_json(state: GroupState) -> dict[str, Any]:
    return {
        "group": state.group,
        "state": state.state,
        "members": [{"client_id": m.client_id, "host": m.host, "partitions": m.partitions} for m in state.members],
        "lag": state.lag,
        "partitions": [
            {
                "topic": p.topic,
                "partition": p.partition,
                "committed": p.committed,
                "start": p.start,
                "end": p.end,
                "lag": p.lag,
                "member": p.member,
                "last_commit_ms": p.commit.at_ms if p.commit else None,
                "rate": p.rate,
                "eta_seconds": p.eta_seconds,
            }
            for p in state.partitions
        ],
    }
