"""The local stack: Kafka and MongoDB-protocol servers that behave like the real thing."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition
from pymongo import MongoClient

from offsetflow import codec
from offsetflow.config import KafkaSettings
from offsetflow.sinks.storage import s3_filesystem
from offsetflow.stack.local import LocalStack
from offsetflow.stack.s3 import DEV_BUCKET
from offsetflow.topics import ensure_topics
from tests.cli import REPO, offsetflow


def _produce_posts(kafka: KafkaSettings, topic: str, count: int) -> None:
    schema = codec.load(codec.POST_ID)
    producer = Producer(kafka.client_config(enable_idempotence=True))
    for i in range(count):
        producer.produce(
            topic, value=schema.encode({"post_id": f"p{i}", "platform": "t", "actor_id": "a", "sample_seed": 1})
        )
    assert producer.flush(30) == 0


def test_up_when_already_up_is_a_no_op(stack: LocalStack) -> None:
    pids = [row.pid for row in stack.status()]
    offsetflow("dev", "up")
    assert [row.pid for row in stack.status()] == pids
    status = offsetflow("dev", "status").stdout
    assert str(stack.kafka.process.log_file) in status
    assert str(stack.ferretdb.process.log_file) in status


def test_sigkilled_consumer_is_resumed_exactly_at_the_committed_offset(kafka: KafkaSettings, unique: str) -> None:
    topic, group = f"test.resume.{unique}", f"test-resume-{unique}"
    ensure_topics(kafka.client_config(), [topic], partitions=1, retention_ms=3_600_000)
    _produce_posts(kafka, topic, 50)
    program = [
        sys.executable,
        str(REPO / "tests" / "programs" / "committing_consumer.py"),
        kafka.bootstrap_servers,
        topic,
        group,
    ]

    first = subprocess.Popen([*program, "20"], stdout=subprocess.PIPE, text=True, cwd=REPO)
    assert first.stdout is not None
    lines = [first.stdout.readline().strip() for _ in range(21)]
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert lines[0] == "first 0"
    assert lines[-1] == "committed 19"

    probe = Consumer(kafka.client_config(group_id=group))
    [committed] = probe.committed([TopicPartition(topic, 0)], timeout=10)
    probe.close()
    assert committed.offset == 20  # the next record to read

    second = subprocess.Popen([*program, "5"], stdout=subprocess.PIPE, text=True, cwd=REPO)
    assert second.stdout is not None
    resumed_at = second.stdout.readline().strip()
    second.kill()
    second.wait()
    assert resumed_at == "first 20"


def test_mongo_write_read_and_upsert(mongo: MongoClient[dict[str, Any]], unique: str) -> None:
    coll = mongo[f"test_{unique}"]["docs"]
    coll.insert_one({"_id": "a", "text": "héllo 👋", "n": 1})
    assert coll.find_one({"_id": "a"}) == {"_id": "a", "text": "héllo 👋", "n": 1}
    coll.replace_one({"_id": "a"}, {"_id": "a", "text": "again", "n": 2}, upsert=True)
    coll.replace_one({"_id": "b"}, {"_id": "b", "n": 3}, upsert=True)
    assert coll.count_documents({}) == 2
    assert coll.find_one({"_id": "a"}) == {"_id": "a", "text": "again", "n": 2}
    mongo.drop_database(f"test_{unique}")


def test_stopped_and_started_stack_keeps_topics_documents_and_objects(tmp_path: Path, unique: str) -> None:
    """A stack of its own on other ports: killed broker, then down + up, lose nothing."""
    own = ["--data-dir", str(tmp_path), "--kafka-port", "19092", "--controller-port", "19093", "--mongo-port", "27117"]
    own += ["--s3-port", "19000"]
    local = LocalStack.create(
        data_dir=tmp_path, kafka_port=19092, controller_port=19093, mongo_port=27117, s3_port=19000
    )
    offsetflow("dev", "up", "--s3", *own)
    try:
        kafka = KafkaSettings(local.kafka.bootstrap_servers)
        ensure_topics(kafka.client_config(), ["keep"], partitions=2, retention_ms=-1)
        _produce_posts(kafka, "keep", 30)
        with MongoClient[dict[str, Any]](local.ferretdb.uri) as client:
            client.keep.docs.insert_many([{"_id": str(i)} for i in range(10)])
        s3_filesystem(local.s3.client_env()).pipe_file(f"{DEV_BUCKET}/keep/object", b"kept")

        local.kafka.process.kill()  # a crash, not a clean shutdown
        offsetflow("dev", "up", *own)
        offsetflow("dev", "down", *own)
        assert all(row.pid is None for row in local.status()) and local.s3.process.pid() is None
        offsetflow("dev", "up", "--s3", *own)

        consumer = Consumer(kafka.client_config(group_id=f"g{unique}", auto_offset_reset="earliest"))
        consumer.subscribe(["keep"])
        got, deadline = 0, time.monotonic() + 60
        while got < 30 and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            got += msg is not None and not msg.error()
        consumer.close()
        assert got == 30
        with MongoClient[dict[str, Any]](local.ferretdb.uri) as client:
            assert client.keep.docs.count_documents({}) == 10
        assert s3_filesystem(local.s3.client_env()).cat_file(f"{DEV_BUCKET}/keep/object") == b"kept"
    finally:
        offsetflow("dev", "down", *own)
