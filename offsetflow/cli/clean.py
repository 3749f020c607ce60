"""`offsetflow clean`: forget a group's checkpoint and/or remove chunk files, without surprises."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from offsetflow.cli import options
from offsetflow.cli.options import BootstrapServers, KafkaConfig, opt
from offsetflow.config import DEFAULT_BOOTSTRAP_SERVERS
from offsetflow.ops.groups import Groups
from offsetflow.sinks.chunks import chunk_topics, list_chunks, remove_chunks

console = Console(stderr=True)


class NotConfirmed(RuntimeError):
    """Deleting needs a yes: from a terminal, or --yes."""


def clean(
    group: Annotated[str | None, opt("--group", "Delete this consumer group and its committed offsets.")] = None,
    out: Annotated[Path | None, opt("--out", "Remove the chunk files under this output directory.")] = None,
    topic: Annotated[
        list[str] | None,
        opt("--topic", "With --out: only these topics' chunk files [default: the group's topics, or all]."),
    ] = None,
    yes: Annotated[bool, opt("--yes", "Do not ask for confirmation.")] = False,
    bootstrap_servers: BootstrapServers = DEFAULT_BOOTSTRAP_SERVERS,
    kafka_config: KafkaConfig = None,
) -> None:
    """Delete a group's checkpoint and/or an output directory's chunk files.

    --group deletes the consumer group and its committed offsets: its next run starts from the earliest record.
    --out removes chunk files (only offsetflow's own chunk and temp files, nothing else in the directory).
    Together, `--group G --out DIR` starts that pipeline over from scratch. Refuses while a consumer of the
    group, or of the chunk files' topics, runs; asks before deleting unless --yes.
    """
    if group is None and out is None:
        raise typer.BadParameter("name --group, --out, or both")
    groups = Groups(options.reachable_kafka(bootstrap_servers, kafka_config))
    plan: list[str] = []
    group_topics: list[str] = []
    if group is not None:
        groups.require_idle(group, f"delete group {group}")
        state = groups.describe(group)
        group_topics = state.topics
        committed = ", ".join(
            f"{t} ({sum(1 for p in state.partitions if p.topic == t)} partitions)" for t in state.topics
        )
        plan.append(f"delete consumer group {group}" + (f": committed offsets on {committed}" if committed else ""))
    chunk_topics_to_remove: list[str] = []
    if out is not None:
        chunk_topics_to_remove = topic or group_topics or chunk_topics(out)
        for t in chunk_topics_to_remove:
            readers = _groups_on(groups, t, exclude=group)
            for name, active in readers:
                if active:
                    groups.require_idle(name, f"remove chunk files of {t}")
            files = list_chunks(out, t)
            plan.append(f"remove {len(files):,} chunk files of {t} under {out}")
            for name, _ in readers:
                plan.append(
                    f"  note: group {name} has committed past these chunks and will not write them again; "
                    f"`offsetflow replay --group {name} --to earliest` (or clean --group {name}) makes it redo them"
                )
    for line in plan:
        console.print(line)
    _confirm(yes)
    if group is not None:
        groups.delete(group)
        console.print(f"deleted group {group}")
    for t in chunk_topics_to_remove:
        assert out is not None
        removed = remove_chunks(out, t)
        console.print(f"removed {removed.files:,} files ({removed.bytes:,} bytes) of {t} under {out}")


def _groups_on(groups: Groups, topic: str, exclude: str | None) -> list[tuple[str, bool]]:
    """Other groups with offsets committed on ``topic``, and whether each has running consumers."""
    found = []
    for name in groups.names():
        if name == exclude or not any(t == topic for t, _ in groups.committed(name)):
            continue
        found.append((name, bool(groups.members(name)[1])))
    return found


def _confirm(yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise NotConfirmed("not asking without a terminal: pass --yes to go ahead")
    if not typer.confirm("go ahead?", default=False):
        raise typer.Abort()
