"""`offsetflow replay`: move a group's committed offsets so its consumers process the data again."""

from __future__ import annotations

from typing import Annotated

from rich.console import Console
from rich.table import Table

from offsetflow.cli import options
from offsetflow.cli.options import BootstrapServers, KafkaConfig, opt
from offsetflow.config import DEFAULT_BOOTSTRAP_SERVERS
from offsetflow.ops import replay as replays
from offsetflow.ops.groups import Groups


def replay(
    group: Annotated[str, opt("--group", "Consumer group whose offsets are reset.")],
    to: Annotated[
        str,
        opt(
            "--to",
            "earliest | latest | OFFSET | DATETIME. A date-time (2026-11-23T09:30, local time, or with Z/+hh:mm) "
            "moves each partition to its first record written at or after it.",
        ),
    ],
    topic: Annotated[
        list[str] | None, opt("--topic", "Topic to replay, repeatable [default: every topic the group committed].")
    ] = None,
    partition: Annotated[int | None, opt("--partition", "Only this partition.", min=0)] = None,
    dry_run: Annotated[bool, opt("--dry-run", "Show the new offsets without changing anything.")] = False,
    create: Annotated[
        bool,
        opt(
            "--create",
            "Allow a group that has no committed offsets and no consumer: it is created with these offsets "
            "(without it, such a group is refused as a likely typo).",
        ),
    ] = False,
    bootstrap_servers: BootstrapServers = DEFAULT_BOOTSTRAP_SERVERS,
    kafka_config: KafkaConfig = None,
) -> None:
    """Reset a consumer group's committed offsets so the data is processed again.

    The group's consumers must be stopped: a running consumer would commit over the reset, so replay refuses
    while the group has members. Afterwards start the consumer again; outputs are rewritten idempotently (MongoDB
    upserts by key; chunk files at or past the new offsets are replaced, in a directory or a bucket alike). For
    SMS, `consume sms --force` re-extracts instead of reusing the stored results.

    Examples:

      offsetflow replay --group posts-fetcher --to earliest --dry-run

      offsetflow replay --group sms-processor --to 2026-11-23T09:30 --topic sms.raw
    """
    target = replays.parse_target(to)
    groups = Groups(options.reachable_kafka(bootstrap_servers, kafka_config))
    moves = replays.plan(groups, group, target, topic or (), partition, create=create)
    console = Console(stderr=True)
    table = Table(
        "topic",
        "partition",
        "committed",
        "new offset",
        "to process",
        "note",
        title=f"replay of group {group} to {target.describe()}" + (" (dry run)" if dry_run else ""),
        title_justify="left",
    )
    for m in moves:
        current = f"{m.current:,}" if m.current is not None else "-"
        table.add_row(m.topic, str(m.partition), current, f"{m.new:,}", f"{m.to_process:,}", m.note)
    Console(width=140).print(table)
    total = sum(m.to_process for m in moves)
    if dry_run:
        console.print(f"dry run: nothing changed; {total:,} records would be processed")
        return
    replays.apply(groups, group, moves)
    console.print(
        f"offsets of group {group} reset on {len(moves)} partitions: {total:,} records to process.\n"
        "Start its consumer again to reprocess (outputs are rewritten, not duplicated); for SMS add --force to "
        "re-extract instead of reusing stored results."
    )
