"""`offsetflow clean`: forget a group's checkpoint and/or remove chunk files, without surprises."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console

from offsetflow.cli import options
from offsetflow.cli.options import BootstrapServers, KafkaConfig, opt
from offsetflow.config import DEFAULT_BOOTSTRAP_SERVERS
from offsetflow.ops import clean as cleaning
from offsetflow.ops.groups import Groups

console = Console(stderr=True)


class NotConfirmed(RuntimeError):
    """Deleting needs a yes: from a terminal, or --yes."""


def clean(
    group: Annotated[str | None, opt("--group", "Delete this consumer group and its committed offsets.")] = None,
    out: Annotated[
        str | None,
        opt(
            "--out",
            "Remove the chunk files under this output: a directory or an object-store URL (s3://bucket/prefix).",
            metavar="DIR|URL",
            callback=options.optional_output_location,
        ),
    ] = None,
    topic: Annotated[
        list[str] | None,
        opt("--topic", "With --out: only these topics' chunk files [default: the group's topics, or all]."),
    ] = None,
    yes: Annotated[bool, opt("--yes", "Do not ask for confirmation.")] = False,
    bootstrap_servers: BootstrapServers = DEFAULT_BOOTSTRAP_SERVERS,
    kafka_config: KafkaConfig = None,
) -> None:
    """Delete a group's checkpoint and/or an output's chunk files.

    --group deletes the consumer group and its committed offsets: its next run starts from the earliest record.
    --out removes chunk files, from a directory or a bucket prefix (only offsetflow's own chunk and temp files,
    nothing else there). Together, `--group G --out DIR|URL` starts that pipeline over from scratch. Refuses
    while a consumer of the group, or of the chunk files' topics, runs; asks before deleting unless --yes.
    """
    if group is None and out is None:
        raise typer.BadParameter("name --group, --out, or both")
    groups = Groups(options.reachable_kafka(bootstrap_servers, kafka_config))
    plan = cleaning.plan(groups, group, out, topic or ())
    if plan.group is not None:
        committed = ", ".join(f"{t} ({n} partitions)" for t, n in plan.group.committed)
        console.print(
            f"delete consumer group {plan.group.group}" + (f": committed offsets on {committed}" if committed else "")
        )
    for chunks in plan.chunks:
        console.print(f"remove {chunks.files:,} chunk files of {chunks.topic} under {chunks.directory}")
        for name in chunks.readers:
            console.print(
                f"  note: group {name} has committed past these chunks and will not write them again; "
                f"`offsetflow replay --group {name} --to earliest` (or clean --group {name}) makes it redo them"
            )
    _confirm(yes)
    for done in cleaning.apply(groups, plan):
        if isinstance(done, cleaning.GroupDeleted):
            console.print(f"deleted group {done.group}")
        else:
            console.print(f"removed {done.files:,} files ({done.bytes:,} bytes) of {done.topic} under {done.directory}")


def _confirm(yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise NotConfirmed("not asking without a terminal: pass --yes to go ahead")
    if not typer.confirm("go ahead?", default=False):
        raise typer.Abort()
