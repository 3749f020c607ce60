"""`offsetflow compact`: merge a partition's many small chunk files into few, while consumers keep running."""

from __future__ import annotations

import time
from typing import Annotated

from rich.console import Console
from rich.markup import escape

from offsetflow.cli import options
from offsetflow.cli.options import COUNT, BootstrapServers, KafkaConfig, OutLocation, TableFormat, opt, table_format
from offsetflow.config import DEFAULT_BOOTSTRAP_SERVERS
from offsetflow.ops import compact as compaction
from offsetflow.ops.groups import Groups
from offsetflow.sinks import delta
from offsetflow.sinks.chunks import open_store
from offsetflow.sinks.storage import Location


def compact_tables(out: Location, topics: list[str] | None, retention_hours: int, dry_run: bool) -> None:
    console = Console(stderr=True, soft_wrap=True)
    names = topics or delta.table_topics(out)
    if not names:
        console.print(f"no Delta tables under {out} (`consume --format delta` writes <out>/<topic>.delta)")
    for name in names:
        started = time.monotonic()
        done = delta.compact_table(delta.table_location(out, name), retention_hours=retention_hours, dry_run=dry_run)
        console.print(f"{escape(done.describe())} ({time.monotonic() - started:.1f} s)")


def compact(
    out: OutLocation,
    group: Annotated[
        str | None,
        opt(
            "--group",
            "Consumer group that writes these chunk files: only chunks below its committed offsets are merged "
            "[default: below the lowest committed offset of every group on each topic].",
        ),
    ] = None,
    topic: Annotated[
        list[str] | None, opt("--topic", "Only this topic's chunk files, repeatable [default: every topic there].")
    ] = None,
    target_rows: Annotated[
        int,
        opt(
            "--target-rows",
            "Rows per merged file, about (counted from the files' offset ranges, an upper bound on their rows).",
            **COUNT,
        ),
    ] = 1_000_000,
    dry_run: Annotated[bool, opt("--dry-run", "Show what would be merged without changing anything.")] = False,
    table: TableFormat = "parquet",
    retention_hours: Annotated[
        int,
        opt(
            "--retention-hours",
            "With --format delta: vacuum deletes files no table version of the last this-many hours references "
            "(readers of older versions need them; Delta's default is a week).",
            **COUNT,
        ),
    ] = 168,
    bootstrap_servers: BootstrapServers = DEFAULT_BOOTSTRAP_SERVERS,
    kafka_config: KafkaConfig = None,
) -> None:
    """Merge runs of small chunk files into files of about --target-rows rows, per topic and partition.

    Only chunks below the committed offset of the group writing them are touched: consumers keep running (they
    write above it and clean up from it), and nothing they might redo is merged. Name the group with --group;
    without it, the lowest committed offset of every group on the topic is used (safe, maybe merging less).

    Each merged file is named by its offset range and written whole before its parts are deleted, so a kill at
    any moment loses nothing and duplicates nothing for readers (a merged file hides the parts it contains);
    run it again to finish.

    Examples:

      offsetflow compact --out out/posts --dry-run

      offsetflow compact --out out/posts --group posts-fetcher --target-rows 200000

      offsetflow compact --out s3://bucket/offsetflow --group sms-processor --topic sms.raw --target-rows 500000

    With --format delta the Delta tables under --out (written by `consume --format delta`) are compacted and
    vacuumed by the table library instead: a compaction commit rewrites files without changing data, so it is
    safe next to running consumers.
    """
    if table_format(table) == "delta":
        compact_tables(out, topic, retention_hours, dry_run)
        return
    console = Console(stderr=True, soft_wrap=True)  # a line per step, whatever the terminal's width
    groups = Groups(options.reachable_kafka(bootstrap_servers, kafka_config))
    store = open_store(out)
    store.check()
    topics = topic or store.topics()
    committed, names = compaction.settled_offsets(groups, topics, group)
    if group is None:
        console.print(f"settled: below the lowest committed offset of group{'s' * (len(names) > 1)} {', '.join(names)}")
    plan = compaction.plan(store, names, topics, committed, target_rows)
    for p in plan.partitions:
        where = f"{p.topic}[{p.partition}]"
        if p.committed is None:
            console.print(f"{where}: {p.files:,} files, none settled (no offset committed here)")
            continue
        line = f"{where}: {p.files:,} files -> {p.files_after:,} ({len(p.merges):,} merges"
        line += f", {len(p.leftovers):,} left over from an interrupted run" if p.leftovers else ""
        line += f"; {p.unsettled:,} at or past committed offset {p.committed:,} left to the consumer)"
        console.print(line)
        if p.overlaps:
            console.print(
                f"  note: {p.overlaps} partially overlapping chunks are left as they are: their rows carry no "
                "source_offset to split them by (readers see those offsets from both)"
            )
    if dry_run:
        console.print(f"dry run: nothing changed; {plan.files:,} files would become {plan.files_after:,}")
        return
    started = time.monotonic()
    rows = 0
    for step in compaction.apply(store, plan):
        if isinstance(step, compaction.LeftoversRemoved):
            console.print(f"removed {step.files:,} parts an interrupted run had already merged")
            continue
        m = step.merge
        if isinstance(step, compaction.Skipped):
            console.print(
                f"[{step.done}/{step.total}] {m.topic}[{m.partition}] offsets {m.first:,}-{m.last:,}: skipped, its "
                f"files changed meanwhile ({escape(step.reason)}); run compact again to merge them"
            )
            continue
        rows += step.rows
        console.print(
            f"[{step.done}/{step.total}] {m.topic}[{m.partition}] offsets {m.first:,}-{m.last:,}: "
            f"{len(m.parts):,} files -> 1 ({step.rows:,} rows, {step.bytes:,} bytes, {step.seconds:.1f} s)"
        )
    seconds = time.monotonic() - started
    rate = f", {rows / seconds:,.0f} rows/s" if rows and seconds > 0 else ""
    console.print(
        f"compacted {out}: {plan.files:,} files -> {plan.files_after:,}; {rows:,} rows merged in {seconds:.1f} s{rate}"
    )
