"""`offsetflow status`: every group's checkpoint, lag and ETA, chunk files (on disk or in a bucket), dead letters."""

from __future__ import annotations

import json
import time
from typing import Annotated

from rich.console import Console
from rich.table import Table

from offsetflow.cli import options
from offsetflow.cli.options import BootstrapServers, KafkaConfig, opt
from offsetflow.config import DEFAULT_BOOTSTRAP_SERVERS
from offsetflow.ops.groups import GroupState
from offsetflow.ops.status import Status, collect
from offsetflow.stream.progress import format_duration

DEFAULT_OUT_DIRS = ["out/posts", "out/sms"]


def ago(ms: int | None) -> str:
    if ms is None:
        return "-"
    return format_duration(max(0.0, time.time() - ms / 1000)) + " ago"


def size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{value:,.0f} B" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    return f"{value:,.1f} GiB"


def status(
    group: Annotated[str | None, opt("--group", "Only this consumer group [default: every group].")] = None,
    out: Annotated[
        list[str] | None,
        opt(
            "--out",
            "Where chunk files to report are: a directory or an object-store URL (s3://bucket/prefix), repeatable "
            "[default: out/posts, out/sms].",
            metavar="DIR|URL",
            callback=options.output_locations,
        ),
    ] = None,
    as_json: Annotated[bool, opt("--json", "Print JSON for scripts instead of tables.")] = False,
    bootstrap_servers: BootstrapServers = DEFAULT_BOOTSTRAP_SERVERS,
    kafka_config: KafkaConfig = None,
) -> None:
    """Where every pipeline stands: checkpoints, lag, ETA, chunk files, dead letters.

    Per consumer group and partition: committed offset, end offset, lag, the consumer that owns it, the last
    commit, the recent rate and an ETA. Then chunk files per output (a directory, or a bucket prefix: one listing
    per topic) and dead letters per dead-letter topic. It only reads, so it is safe while consumers run.
    """
    report = collect(options.reachable_kafka(bootstrap_servers, kafka_config), group, out or DEFAULT_OUT_DIRS)
    if as_json:
        print(json.dumps(report.as_json(), indent=2))
        return
    console = Console(width=140)
    if not report.groups:
        console.print(f"no group {group}: nothing committed, no consumer running" if group else "no consumer groups")
    for state in report.groups:
        console.print(_group_table(state))
    _print_outputs(console, report)
    _print_dead_letters(console, report)
    _print_batch_jobs(console, report)


def _group_table(state: GroupState) -> Table:
    running = ", ".join(sorted({m.name for m in state.members})) or "no consumer running"
    table = Table(
        "topic",
        "partition",
        "committed",
        "end",
        "lag",
        "consumer",
        "last commit",
        "rate/s",
        "ETA",
        title=f"group [bold]{state.group}[/bold] ({state.state}; {running}), lag {state.lag:,}",
        title_justify="left",
    )
    for p in state.partitions:
        eta = p.eta_seconds
        table.add_row(
            p.topic,
            str(p.partition),
            f"{p.committed:,}" if p.committed is not None else "-",
            f"{p.end:,}",
            f"{p.lag:,}",
            p.member or "-",
            ago(p.commit.at_ms if p.commit else None),
            f"{p.rate:,.1f}" if p.rate is not None else "-",
            "done" if eta == 0 else format_duration(eta) if eta is not None else "-",
        )
    return table


def _print_outputs(console: Console, report: Status) -> None:
    if not report.outputs:
        console.print("chunk files: none in the outputs (--out)")
        return
    table = Table("output", "topic", "partitions", "files", "size", "up to offset", title="chunk files")
    for o in report.outputs:
        table.add_row(str(o.directory), o.topic, str(o.partitions), f"{o.files:,}", size(o.bytes), f"{o.last_offset:,}")
    console.print(table)


def _print_dead_letters(console: Console, report: Status) -> None:
    if not report.dead_letters:
        console.print("dead letters: no dead-letter topics")
        return
    table = Table("topic", "dead letters", "redriven", "waiting", title="dead letters")
    for d in report.dead_letters:
        table.add_row(d.topic, f"{d.total:,}", f"{d.redriven:,}", f"{d.waiting:,}")
    console.print(table)
    if any(d.waiting for d in report.dead_letters):
        console.print("see them with `offsetflow dlq list --topic <topic>`; redrive with `offsetflow dlq redrive`")


def _print_batch_jobs(console: Console, report: Status) -> None:
    if not report.batch_jobs:
        return  # none recorded: the consumers run online, or their jobs are collected and committed
    table = Table("group", "topic", "partition", "offsets", "job", "state", "recorded", title="LLM batch jobs open")
    for j in report.batch_jobs:
        table.add_row(
            j.group,
            j.topic,
            str(j.partition),
            f"{j.first_offset:,}-{j.last_offset:,}",
            j.batch_id or "(being created)",
            j.state,
            ago(j.updated_at),
        )
    console.print(table)
    console.print("a consumer of the group collects each job when it finishes; a restart resumes them, paying nothing")
