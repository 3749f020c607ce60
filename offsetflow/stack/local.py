"""`offsetflow dev up|down|status`: the servers together, ready only when clients can use them.

The S3 server is opt-in (``--s3``): its first start builds it with Go (minutes on a cold cache), and only
object-storage outputs need it. Once running it is stopped by ``down`` and shown by ``status`` like the others.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from offsetflow.stack.ferretdb import FerretDBServer
from offsetflow.stack.kafka import KafkaServer
from offsetflow.stack.process import ManagedProcess, StackError
from offsetflow.stack.s3 import S3Server, wait_s3_usable
from offsetflow.topics import STACK_READY

READY_TOPIC = STACK_READY


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "offsetflow"


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "offsetflow" / "dev"


@dataclass(frozen=True)
class ServerStatus:
    name: str
    address: str
    pid: int | None
    log_file: Path


@dataclass(frozen=True)
class LocalStack:
    kafka: KafkaServer
    ferretdb: FerretDBServer
    s3: S3Server
    with_s3: bool = False

    @classmethod
    def create(
        cls,
        cache_dir: Path | None = None,
        data_dir: Path | None = None,
        kafka_port: int = 9092,
        controller_port: int = 9093,
        mongo_port: int = 27017,
        s3_port: int = 9000,
        with_s3: bool = False,
    ) -> LocalStack:
        cache = (cache_dir or default_cache_dir()).expanduser().resolve()
        data = (data_dir or default_data_dir()).expanduser().resolve()
        return cls(
            kafka=KafkaServer(cache, data, port=kafka_port, controller_port=controller_port),
            ferretdb=FerretDBServer(cache, data, port=mongo_port),
            s3=S3Server(cache, data, port=s3_port),
            with_s3=with_s3,
        )

    def s3_wanted(self) -> bool:
        """Asked for, or already running (so ``down`` and ``status`` never lose sight of it)."""
        return self.with_s3 or self.s3.process.pid() is not None

    def _processes(self) -> list[ManagedProcess]:
        return [self.kafka.process, self.ferretdb.process, *([self.s3.process] if self.s3_wanted() else [])]

    def up(self, say: Callable[[str], None] = print, timeout: float = 120.0) -> None:
        """Install what is missing, start what is not running, and wait until all serve clients."""
        servers: list[tuple[KafkaServer | FerretDBServer | S3Server, str]] = [
            (self.kafka, "Kafka jars"),
            (self.ferretdb, "FerretDB"),
        ]
        if self.with_s3:
            servers.append((self.s3, "the S3 server (versitygw)"))
        for server, what in servers:
            if server.process.pid() is None and not server.installed():
                say(f"first start: fetching {what} into {server.cache_dir} (once; takes a minute or two)")
            server.install()
        self.kafka.start()
        self.ferretdb.start()
        if self.with_s3:
            self.s3.start()
        deadline = time.monotonic() + timeout
        wait_kafka_usable(self.kafka.bootstrap_servers, deadline)
        wait_mongo_usable(self.ferretdb.uri, deadline)
        if self.with_s3:
            wait_s3_usable(self.s3, deadline)

    def down(self, say: Callable[[str], None] = print) -> None:
        # Kafka first: it may still be flushing; FerretDB has no dependency on it.
        for proc in self._processes():
            say(f"{proc.name}: {proc.stop()}")

    def status(self) -> list[ServerStatus]:
        return [
            ServerStatus("kafka", self.kafka.bootstrap_servers, self.kafka.process.pid(), self.kafka.process.log_file),
            ServerStatus("ferretdb", self.ferretdb.uri, self.ferretdb.process.pid(), self.ferretdb.process.log_file),
            *(
                [ServerStatus("s3", self.s3.endpoint_url, self.s3.process.pid(), self.s3.process.log_file)]
                if self.s3_wanted()
                else []
            ),
        ]


def wait_kafka_usable(bootstrap: str, deadline: float) -> None:
    """Ready means a topic can be created and its leader is known, and a group's offsets can be committed (a
    fresh broker creates ``__consumer_offsets`` on the first group request and answers "coordinator not
    available" meanwhile), not merely an open port."""
    from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    last = ""
    while time.monotonic() < deadline:
        try:
            fut = admin.create_topics([NewTopic(READY_TOPIC, 1, 1)], operation_timeout=10)[READY_TOPIC]
            try:
                fut.result(timeout=15)
            except KafkaException as exc:
                if "TOPIC_ALREADY_EXISTS" not in str(exc.args[0]):
                    raise
            meta = admin.list_topics(READY_TOPIC, timeout=10).topics[READY_TOPIC]
            if meta.error is None and all(p.leader >= 0 for p in meta.partitions.values()):
                probe = [ConsumerGroupTopicPartitions(READY_TOPIC, [TopicPartition(READY_TOPIC, 0, 0)])]
                admin.alter_consumer_group_offsets(probe, request_timeout=10)[READY_TOPIC].result()
                return
        except Exception as exc:
            last = str(exc)
        time.sleep(0.5)
    raise StackError(f"Kafka at {bootstrap} did not become usable in time: {last}")


def wait_mongo_usable(uri: str, deadline: float) -> None:
    from pymongo import MongoClient

    client: MongoClient[dict[str, Any]]

    last = ""
    while time.monotonic() < deadline:
        try:
            with MongoClient(uri, serverSelectionTimeoutMS=2000) as client:
                client.admin.command("ping")
                return
        except Exception as exc:
            last = str(exc)
            time.sleep(0.3)
    raise StackError(f"MongoDB at {uri} did not answer ping in time: {last}")
