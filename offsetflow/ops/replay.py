"""Replaying a group: moving its committed offsets back (or forward) so its consumers process the data again.

The consumers make this safe: sinks upsert by natural key, and chunk files at or past the new offsets are
replaced on the next assignment, so a replay rewrites outputs instead of duplicating them. Nothing here touches
the outputs: the member a partition is assigned to lists its chunks (in a directory or a bucket, wherever that
member runs) and deletes those the rewound offset no longer covers, so a replay works the same on object storage.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from offsetflow.config import ConfigError
from offsetflow.ops.groups import Groups, PartitionState

TargetKind = Literal["earliest", "latest", "time", "offset"]


@dataclass(frozen=True)
class ReplayTarget:
    kind: TargetKind
    value: int = 0  # the offset, or the time in ms since the epoch
    text: str = ""

    def describe(self) -> str:
        if self.kind == "time":
            return datetime.fromtimestamp(self.value / 1000).astimezone().isoformat(timespec="seconds")
        return self.text


def parse_target(text: str) -> ReplayTarget:
    """``earliest`` | ``latest`` | an offset | an ISO date-time (local time unless it carries a zone)."""
    t = text.strip()
    if t.lower() in ("earliest", "beginning"):
        return ReplayTarget("earliest", text="earliest")
    if t.lower() in ("latest", "end"):
        return ReplayTarget("latest", text="latest")
    if re.fullmatch(r"\d+", t):
        return ReplayTarget("offset", int(t), t)
    try:
        when = datetime.fromisoformat(t)
    except ValueError:
        raise BadTarget(text) from None
    return ReplayTarget("time", int(when.astimezone().timestamp() * 1000), t)


class BadTarget(ConfigError):
    """Where to replay to is none of the forms ``parse_target`` reads."""

    def __init__(self, text: str) -> None:
        self.text = text
        super().__init__(
            f"{text!r}: use earliest, latest, an offset such as 1200, or a date-time such as 2026-11-23T09:30 "
            "(local time) or 2026-11-23T08:30Z"
        )


class UnknownGroup(ConfigError):
    """The group has never committed and has no consumer: most likely a typo, and replaying would create it."""

    def __init__(self, group: str, known: Sequence[str]) -> None:
        self.group = group
        self.known = tuple(known)  # the groups that do exist, to spot the typo
        super().__init__(f"group {group} has no committed offsets and no running consumer, so replay would create it")


class NoTopics(ConfigError):
    """The group has committed nothing yet, so which topic to replay must be given."""

    def __init__(self, group: str) -> None:
        self.group = group
        super().__init__(f"group {group} has no committed offsets yet: name the topic to replay")


@dataclass(frozen=True)
class Move:
    topic: str
    partition: int
    current: int | None
    new: int
    end: int
    note: str = ""

    @property
    def to_process(self) -> int:
        """Records the group will consume from its new offset (transaction markers counted as records)."""
        return max(0, self.end - self.new)


def plan(
    groups: Groups,
    group: str,
    target: ReplayTarget,
    topics: Sequence[str] = (),
    partition: int | None = None,
    create: bool = False,
) -> list[Move]:
    state = groups.describe(group, topics)
    if not create and not state.members and all(p.committed is None for p in state.partitions):
        raise UnknownGroup(group, groups.names())
    chosen = list(topics) or state.topics
    if not chosen:
        raise NoTopics(group)
    moves = []
    for topic in chosen:
        parts = [p for p in state.partitions if p.topic == topic and partition in (None, p.partition)]
        if not parts:
            raise ConfigError(f"{topic} has no partition {partition}" if partition is not None else f"no topic {topic}")
        times = groups.offsets(topic, target.value, [p.partition for p in parts]) if target.kind == "time" else {}
        moves += [_move(p, target, times) for p in parts]
    return moves


def _move(p: PartitionState, target: ReplayTarget, times: dict[int, int]) -> Move:
    note = ""
    if target.kind == "earliest":
        new = p.start
    elif target.kind == "latest":
        new = p.end
    elif target.kind == "time":
        new = times[p.partition]
        note = "no record that new: end" if new >= p.end else ""
    else:
        new = min(max(target.value, p.start), p.end)
        if new != target.value:
            note = f"offset {target.value} is outside {p.start}..{p.end}: clamped"
    return Move(p.topic, p.partition, p.committed, new, p.end, note)


def apply(groups: Groups, group: str, moves: Sequence[Move]) -> None:
    groups.require_idle(group, "replay")
    groups.set_offsets(group, {(m.topic, m.partition): m.new for m in moves})
