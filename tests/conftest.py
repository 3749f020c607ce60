"""The real local stack for the whole session: reused if it runs, else started and stopped afterwards."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from offsetflow.config import KafkaSettings, MongoSettings
from offsetflow.sinks.storage import s3_filesystem
from offsetflow.stack.local import LocalStack
from offsetflow.stack.s3 import DEV_BUCKET, S3Server
from offsetflow.testing.llm_server import Behaviour
from tests.cli import offsetflow
from tests.pipelines import Llm, PostsRun, SmsRun


def _stack_from_env() -> LocalStack:
    """The stack `offsetflow dev up` would start with the same OFFSETFLOW_* variables."""
    env = os.environ
    return LocalStack.create(
        cache_dir=Path(env["OFFSETFLOW_CACHE_DIR"]) if "OFFSETFLOW_CACHE_DIR" in env else None,
        data_dir=Path(env["OFFSETFLOW_DATA_DIR"]) if "OFFSETFLOW_DATA_DIR" in env else None,
        kafka_port=int(env.get("OFFSETFLOW_KAFKA_PORT", 9092)),
        controller_port=int(env.get("OFFSETFLOW_CONTROLLER_PORT", 9093)),
        mongo_port=int(env.get("OFFSETFLOW_MONGO_PORT", 27017)),
        s3_port=int(env.get("OFFSETFLOW_S3_PORT", 9000)),
    )


@pytest.fixture(scope="session")
def stack() -> Iterator[LocalStack]:
    local = _stack_from_env()
    already_running = all(row.pid for row in local.status())
    offsetflow("dev", "up", timeout=1200)
    # Commands the tests run in child processes talk to this stack.
    os.environ["OFFSETFLOW_BOOTSTRAP_SERVERS"] = local.kafka.bootstrap_servers
    os.environ["OFFSETFLOW_MONGO_URI"] = local.ferretdb.uri
    yield local
    if not already_running and not os.environ.get("OFFSETFLOW_TEST_KEEP_STACK"):
        offsetflow("dev", "down")


@pytest.fixture(scope="session")
def s3(stack: LocalStack) -> Iterator[S3Server]:
    """The stack's S3 server, started (and built, on a cold cache) if the running stack lacks it; commands the
    tests run in child processes reach it through the standard AWS variables."""
    already_running = stack.s3.process.pid() is not None
    offsetflow("dev", "up", "--s3", timeout=1200)
    os.environ.update(stack.s3.client_env())
    yield stack.s3
    if not already_running and not os.environ.get("OFFSETFLOW_TEST_KEEP_STACK"):
        stack.s3.process.stop()


@pytest.fixture()
def s3_out(s3: S3Server, unique: str) -> Iterator[str]:
    """A prefix of the dev bucket of the test's own, removed afterwards."""
    url = f"s3://{DEV_BUCKET}/test-{unique}"
    yield url
    fs = s3_filesystem()
    leftover = fs.find(url.removeprefix("s3://"))
    if leftover:
        fs.rm(leftover)


@pytest.fixture(scope="session")
def kafka(stack: LocalStack) -> KafkaSettings:
    return KafkaSettings(bootstrap_servers=stack.kafka.bootstrap_servers)


@pytest.fixture(scope="session")
def mongo_settings(stack: LocalStack) -> MongoSettings:
    return MongoSettings(uri=stack.ferretdb.uri)


@pytest.fixture()
def mongo(mongo_settings: MongoSettings) -> Iterator[MongoClient[dict[str, Any]]]:
    client: MongoClient[dict[str, Any]] = mongo_settings.client()
    yield client
    client.close()


@pytest.fixture()
def unique() -> Iterator[str]:
    """A fresh suffix so tests never see each other's topics, groups or databases. The test's topics and
    databases are deleted afterwards (when this session talks to a stack): a broker that keeps every test's
    partitions runs out of file handles after a few suites on one data directory."""
    suffix = uuid.uuid4().hex[:10]
    yield suffix
    _remove_named(suffix)


def _remove_named(suffix: str) -> None:
    bootstrap, uri = os.environ.get("OFFSETFLOW_BOOTSTRAP_SERVERS"), os.environ.get("OFFSETFLOW_MONGO_URI")
    if bootstrap:
        admin = AdminClient({"bootstrap.servers": bootstrap})
        try:
            names = [t for t in admin.list_topics(timeout=10).topics if suffix in t]
            if names:
                for future in admin.delete_topics(names, operation_timeout=30).values():
                    with contextlib.suppress(KafkaException):
                        future.result()
        except KafkaException:
            pass  # the test stopped the broker, or left it down: nothing to tidy
    if uri:
        client: MongoClient[dict[str, Any]] = MongoClient(uri, serverSelectionTimeoutMS=5000)
        with client, contextlib.suppress(PyMongoError):
            for name in client.list_database_names():
                if suffix in name:
                    client.drop_database(name)


@pytest.fixture()
def run(unique: str, tmp_path: Path, mongo: MongoClient[dict[str, Any]]) -> PostsRun:
    """An isolated posts pipeline."""
    return PostsRun(unique, tmp_path / "out", mongo)


@pytest.fixture()
def sms_run(unique: str, tmp_path: Path, mongo: MongoClient[dict[str, Any]]) -> SmsRun:
    """An isolated SMS pipeline (its topics are created)."""
    return SmsRun(unique, tmp_path / "out", mongo)


@pytest.fixture()
def llm_factory() -> Iterator[Callable[..., Llm]]:
    """Starts local OpenAI-compatible servers with the given behaviour; all are stopped after the test."""
    servers: list[Llm] = []

    def start(**behaviour: Any) -> Llm:
        servers.append(Llm(Behaviour(**behaviour)))
        return servers[-1]

    yield start
    for llm in servers:
        llm.server.shutdown()
