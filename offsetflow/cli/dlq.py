"""`offsetflow dlq`: see what failed and why, and send it back once the cause is fixed."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from offsetflow.cli import options
from offsetflow.cli.options import BootstrapServers, KafkaConfig, opt
from offsetflow.config import DEFAULT_BOOTSTRAP_SERVERS, ConfigError, KafkaSettings
from offsetflow.ops import dlq
from offsetflow.ops.dlq import DeadLetter
from offsetflow.topics import DLQ_SUFFIX, dlq_for

app = typer.Typer(
    help="Dead letters: records a consumer could not process, kept with the reason and where they came from. "
    "A dead letter is named PARTITION:OFFSET on its dead-letter topic."
)
console = Console(stderr=True)

DlqTopic = Annotated[
    list[str] | None, opt("--topic", "Dead-letter topic, repeatable [default: every *.dlq topic].", metavar="TOPIC")
]


def _topics(kafka: KafkaSettings, topics: list[str] | None) -> list[str]:
    existing = dlq.dead_letter_topics(kafka)
    wanted = [t if t.endswith(DLQ_SUFFIX) else dlq_for(t) for t in topics or existing]  # `--topic posts.ids`: its DLQ
    missing = [t for t in wanted if t not in existing]
    if missing:  # a typo would otherwise read as "0 dead letters"
        known = ", ".join(existing) if len(existing) <= 10 else f"{len(existing)} of them (`offsetflow status`)"
        raise ConfigError(
            f"no dead-letter topic {', '.join(missing)}; the dead-letter topics are: {known or 'none yet'}"
        )
    return wanted


def _load(kafka: KafkaSettings, topics: list[str] | None) -> list[DeadLetter]:
    return [letter for topic in _topics(kafka, topics) for letter in dlq.load(kafka, topic)]


def _when(at: datetime | None) -> str:
    return at.astimezone().strftime("%Y-%m-%d %H:%M:%S") if at else "-"


def _id(letter: DeadLetter) -> str:
    return f"{letter.partition}:{letter.offset}"


def _summary(letter: DeadLetter) -> dict[str, Any]:
    kind, payload = letter.payload()
    return {
        "id": _id(letter),
        "topic": letter.topic,
        "reason": letter.reason,
        "error_type": letter.error_type,
        "origin": {"topic": letter.source_topic, "partition": letter.source_partition, "offset": letter.source_offset},
        "consumer_group": letter.consumer_group,
        "failed_at": _when(letter.failed_at),
        "redriven_at": _when(letter.redriven_at) if letter.redriven_at else None,
        "key": letter.key.decode(errors="replace") if letter.key is not None else None,
        "payload_schema": kind,
        "payload": payload.hex() if isinstance(payload, bytes) else payload,
    }


@app.command("list")
def list_(
    topic: DlqTopic = None,
    all_: Annotated[bool, opt("--all", "Include dead letters already redriven.")] = False,
    as_json: Annotated[bool, opt("--json", "Print JSON for scripts instead of a table.")] = False,
    bootstrap_servers: BootstrapServers = DEFAULT_BOOTSTRAP_SERVERS,
    kafka_config: KafkaConfig = None,
) -> None:
    """List dead letters waiting for a fix: reason, origin (topic[partition]@offset) and a payload preview."""
    letters = [
        d for d in _load(options.reachable_kafka(bootstrap_servers, kafka_config), topic) if all_ or not d.redriven_at
    ]
    if as_json:
        print(json.dumps([_summary(d) for d in letters], indent=2, default=str))
        return
    table = Table("topic", "id", "failed at", "kind", "reason", "origin", "payload", "redriven")
    for d in letters:
        table.add_row(
            d.topic, _id(d), _when(d.failed_at), d.error_type, d.reason, d.origin, d.preview(), _when(d.redriven_at)
        )
    Console(width=160).print(table)
    console.print(
        f"{len(letters):,} dead letters"
        + ("" if all_ else " waiting (--all shows redriven ones too)")
        + ("; details: offsetflow dlq show ID; send back: offsetflow dlq redrive" if letters else "")
    )


@app.command()
def show(
    ids: Annotated[list[str], typer.Argument(help="Dead letters to show, as PARTITION:OFFSET.", metavar="ID...")],
    topic: DlqTopic = None,
    bootstrap_servers: BootstrapServers = DEFAULT_BOOTSTRAP_SERVERS,
    kafka_config: KafkaConfig = None,
) -> None:
    """Show dead letters whole: reason, origin, consumer group, times, key and the decoded original record."""
    letters = _select(_load(options.reachable_kafka(bootstrap_servers, kafka_config), topic), ids)
    print(json.dumps([_summary(d) for d in letters], indent=2, ensure_ascii=False, default=str))


def _select(letters: Sequence[DeadLetter], ids: Sequence[str]) -> list[DeadLetter]:
    by_id: dict[str, list[DeadLetter]] = {}
    for letter in letters:
        by_id.setdefault(_id(letter), []).append(letter)
    chosen = []
    for wanted in ids:
        found = by_id.get(wanted.strip(), [])
        if not found:
            raise ConfigError(f"no dead letter {wanted} (ids are PARTITION:OFFSET, as `offsetflow dlq list` shows)")
        if len(found) > 1:
            raise ConfigError(f"{wanted} exists on {', '.join(d.topic for d in found)}: name one with --topic")
        chosen += found
    return chosen


@app.command()
def redrive(
    ids: Annotated[
        list[str] | None, typer.Argument(help="Dead letters to redrive [default: all waiting].", metavar="[ID...]")
    ] = None,
    topic: DlqTopic = None,
    error_type: Annotated[str | None, opt("--error-type", "Only dead letters of this kind (e.g. not_found).")] = None,
    again: Annotated[bool, opt("--again", "Also redrive dead letters that were redriven before.")] = False,
    dry_run: Annotated[bool, opt("--dry-run", "Show what would be redriven, change nothing.")] = False,
    as_json: Annotated[bool, opt("--json", "Also print what was redriven as JSON, for scripts.")] = False,
    bootstrap_servers: BootstrapServers = DEFAULT_BOOTSTRAP_SERVERS,
    kafka_config: KafkaConfig = None,
) -> None:
    """Re-publish dead letters to their source topic and partition, byte for byte, once the cause is fixed.

    Each dead letter is redriven once: a marker written in the same Kafka transaction makes a later redrive
    skip it (unless --again). The running (or next) consumer processes the records like any other; its sinks are
    idempotent, so nothing is written twice. A record that fails again gets a new dead letter.
    """
    kafka = options.reachable_kafka(bootstrap_servers, kafka_config)
    letters = _load(kafka, topic)
    candidates = _select(letters, ids) if ids else letters
    chosen = [d for d in candidates if (again or not d.redriven_at) and error_type in (None, d.error_type)]
    # A producer's dead letter holds a source document, not a record: there is nothing on Kafka to send back.
    sources = [d for d in chosen if d.error_type == "source"]
    chosen = [d for d in chosen if d.error_type != "source"]
    if sources:
        console.print(
            f"{len(sources):,} dead letters are source documents a producer could not queue: fix them in the "
            "source collection and run `offsetflow produce` again (they are not redriven)"
        )
    for d in chosen:
        console.print(f"  {d.topic} {_id(d)} -> {d.origin}: {d.error_type}: {d.reason}")
    if dry_run:
        console.print(f"dry run: {len(chosen):,} dead letters would be redriven")
        sent = 0
    else:
        sent = dlq.redrive(kafka, chosen)
        skipped = (
            " (already redriven ones skipped; --again sends them once more)" if len(chosen) < len(ids or []) else ""
        )
        console.print(f"redrove {sent:,} dead letters to their source topics{skipped}")
    if as_json:  # stdout: the lines above are on stderr
        report = {"dry_run": dry_run, "redriven": sent, "letters": [_summary(d) for d in chosen]}
        print(json.dumps({**report, "source_documents": len(sources)}, indent=2, default=str))
