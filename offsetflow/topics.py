"""The project's topics and their idempotent creation."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from offsetflow import kafka_logs
from offsetflow.config import ConfigError, KafkaSettings

POSTS_IDS = "posts.ids"
SMS_RAW = "sms.raw"
DLQ_SUFFIX = ".dlq"

# offsetflow's own topics and consumer groups: all named under this prefix, never a pipeline's.
INTERNAL_PREFIX = "_offsetflow."
# Compacted: the latest progress marker of each producer job, written in the same transaction as its records.
PRODUCER_PROGRESS = INTERNAL_PREFIX + "producer-progress"
# Compacted: a marker per SMS on a topic, written in the same transaction as the SMS record (`produce sms`).
SMS_QUEUED = INTERNAL_PREFIX + "sms-queued"
# Compacted: a marker per redriven dead letter, written in the same transaction as the redriven record.
REDRIVEN = INTERNAL_PREFIX + "redriven"
# Compacted: the LLM batch jobs each consumer group has paid for and not yet committed (`--llm-mode batch`).
LLM_BATCHES = INTERNAL_PREFIX + "llm-batches"
# `offsetflow check`: its round-trip topic, and the prefix of its throwaway groups.
CHECK_TOPIC = INTERNAL_PREFIX + "check"
# The group id of readers that read a topic back by assignment, never committing (`topic_reader`).
READER_GROUP = INTERNAL_PREFIX + "reader"
# `offsetflow dev up`: created and read back to prove the local broker serves clients.
STACK_READY = INTERNAL_PREFIX + "ready"


def dlq_for(topic: str) -> str:
    return topic + DLQ_SUFFIX


_UNITS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


def parse_retention(text: str) -> int:
    """``7d`` / ``12h`` / ``90m`` / ``forever`` -> Kafka ``retention.ms`` (-1 keeps data forever)."""
    text = text.strip().lower()
    if text in {"forever", "infinite", "-1"}:
        return -1
    match = re.fullmatch(r"(\d+)\s*(ms|s|m|h|d|w)?", text)
    if not match:
        raise ConfigError(f"retention {text!r}: use a number with a unit (ms, s, m, h, d, w) or 'forever'")
    return int(match.group(1)) * _UNITS[match.group(2) or "ms"]


@dataclass(frozen=True)
class TopicResult:
    name: str
    outcome: str  # "created" | "exists"
    partitions: int
    note: str = ""


def ensure_topics(
    admin_config: dict[str, Any],
    names: Iterable[str],
    partitions: int,
    retention_ms: int,
    replication_factor: int = 1,
    extra_config: dict[str, str] | None = None,
) -> list[TopicResult]:
    """Create missing topics; existing ones are left alone and reported (never silently altered)."""
    admin = AdminClient(admin_config)
    wanted = list(dict.fromkeys(names))
    config = {"retention.ms": str(retention_ms), **(extra_config or {})}
    futures = admin.create_topics(
        [NewTopic(name, partitions, replication_factor, config=config) for name in wanted],
        operation_timeout=30,
    )
    results: list[TopicResult] = []
    existing = [name for name in wanted if _already_exists(futures[name])]
    meta = admin.list_topics(timeout=15).topics if existing else {}
    for name in wanted:
        if name not in existing:
            results.append(TopicResult(name, "created", partitions))
            continue
        have = len(meta[name].partitions) if name in meta else partitions
        note = f"has {have} partitions, {partitions} requested: left as is" if have != partitions else ""
        results.append(TopicResult(name, "exists", have, note))
    return results


def ensure_compacted(admin_config: dict[str, Any], name: str) -> None:
    """A one-partition, compacted, never-expiring topic: the latest value per key is kept for good."""
    ensure_topics(admin_config, [name], partitions=1, retention_ms=-1, extra_config={"cleanup.policy": "compact"})


def _already_exists(future: Any) -> bool:
    try:
        future.result(timeout=30)
    except KafkaException as exc:
        if exc.args[0].name() == "TOPIC_ALREADY_EXISTS":
            return True
        raise
    return False


# -- before a command starts: is Kafka there, and are its topics? ---------------------------------------------
PROBE_TIMEOUT = 10.0  # metadata requests for up to this long: room for a remote TLS/SASL handshake, short to wait


class KafkaUnreachable(RuntimeError):
    """No broker at the configured address answered. It carries the facts; the command line words the advice
    (which of its flags set the address, how to start the local stack: `offsetflow.cli.errors`)."""

    def __init__(self, address: str, reason: str, waited: float, local: bool, limit: float | None = None) -> None:
        self.address = address  # as `KafkaSettings.describe()` shows it: credentials masked
        self.reason = reason
        self.waited = waited  # seconds spent asking
        self.local = local  # every bootstrap server is on this machine
        self.limit = limit  # the wait a consumer was told to allow; None for a one-shot probe
        super().__init__(
            f"Kafka at {address} not reachable within {limit:g}s"
            if limit is not None
            else f"Kafka at {address} not reachable: {reason} (gave up after {waited:.0f}s)"
        )


class MissingTopic(ConfigError):
    """A topic the command reads or writes does not exist."""

    def __init__(self, topic: str, address: str) -> None:
        self.topic = topic
        self.address = address
        # How the user named the topic (a command-line flag), when the caller knows: set by the command line,
        # which words the error (`offsetflow.cli.errors`); this layer never names a flag.
        self.flag: str | None = None
        super().__init__(f"topic {topic} does not exist on Kafka at {address}")


def _local(kafka: KafkaSettings) -> bool:
    return any(host.split(":")[0] in ("127.0.0.1", "localhost") for host in kafka.bootstrap_servers.split(","))


def _topics_now(admin: AdminClient, timeout: float) -> tuple[set[str], set[str]]:
    """(topic names, broker addresses) from one metadata request."""
    meta = admin.list_topics(timeout=timeout)
    return set(meta.topics), {f"{b.host}:{b.port}" for b in meta.brokers.values()}


def require_kafka(kafka: KafkaSettings, timeout: float = PROBE_TIMEOUT) -> set[str]:
    """The cluster's topics, or ``KafkaUnreachable`` within ``timeout`` seconds: for commands that run once
    (status, replay, dlq, clean, check, topics, produce). The error line says why, in our words."""
    heard = kafka_logs.Recorder()
    conf = kafka.client_config()
    kafka_logs.attach(conf, heard.hub, replace=True)
    admin = AdminClient(conf)
    started = time.monotonic()
    while True:
        remaining = timeout - (time.monotonic() - started)
        try:
            names, _ = _topics_now(admin, max(0.5, min(2.0, remaining)))
            return names
        except KafkaException:
            admin.poll(0)  # serves the client's queued log lines into `heard`
        # Refused credentials, TLS or DNS failures do not mend in seconds: say so at once.
        if heard.settled() or time.monotonic() - started >= timeout:
            waited = time.monotonic() - started
            raise KafkaUnreachable(kafka.describe(), heard.reason() or "no answer", waited, _local(kafka))


def wait_for_kafka(
    kafka: KafkaSettings,
    timeout: float | None,
    say: Callable[[str], None],
    interval: float = 2.0,
) -> set[str]:
    """The cluster's topics once Kafka answers, for consumers: a consumer started before Kafka (docker compose,
    a reboot) waits, saying so every 30 s; ``timeout`` (None: for ever) bounds the wait."""
    admin = AdminClient(kafka.client_config())  # its lines go through the shared, rate-limited hub
    started = time.monotonic()
    waited = False
    while True:
        try:
            names, brokers = _topics_now(admin, interval)
        except KafkaException:
            admin.poll(0)
            waited = True
            elapsed = time.monotonic() - started
            if timeout is not None and elapsed >= timeout:
                raise KafkaUnreachable(kafka.describe(), "no answer", elapsed, _local(kafka), timeout) from None
            continue
        if waited and not kafka_logs.HUB.reachable(brokers, kafka.bootstrap_servers):
            say(f"Kafka at {kafka.describe()} answers after {time.monotonic() - started:.0f}s")
        return names


def require_topic(names: set[str], kafka: KafkaSettings, topic: str, settle: float = 5.0) -> None:
    """``MissingTopic`` unless ``topic`` exists.

    A topic created a moment ago (by `topics create` in the step before) can be missing from the metadata of
    the broker that answered: ask again for up to ``settle`` seconds before calling it missing."""
    deadline = time.monotonic() + settle
    while topic not in names and time.monotonic() < deadline:
        time.sleep(0.3)
        try:
            names, _ = _topics_now(AdminClient(kafka.client_config()), 2.0)
        except KafkaException:
            break
    if topic not in names:
        raise MissingTopic(topic, kafka.describe())
