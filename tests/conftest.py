"""The real local stack for the whole session: reused if it runs, else started and stopped afterwards."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from offsetflow.config import KafkaSettings, MongoSettings
from offsetflow.stack.local import LocalStack

REPO = Path(__file__).resolve().parent.parent


def offsetflow(*args: str, check: bool = True, timeout: float = 600, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a user would, in a child process."""
    result = subprocess.run(
        [sys.executable, "-m", "offsetflow", *args], capture_output=True, text=True, timeout=timeout, **kwargs
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"offsetflow {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )
    return result


def _stack_from_env() -> LocalStack:
    """The stack `offsetflow dev up` would start with the same OFFSETFLOW_* variables."""
    env = os.environ
    return LocalStack.create(
        cache_dir=Path(env["OFFSETFLOW_CACHE_DIR"]) if "OFFSETFLOW_CACHE_DIR" in env else None,
        data_dir=Path(env["OFFSETFLOW_DATA_DIR"]) if "OFFSETFLOW_DATA_DIR" in env else None,
        kafka_port=int(env.get("OFFSETFLOW_KAFKA_PORT", 9092)),
        controller_port=int(env.get("OFFSETFLOW_CONTROLLER_PORT", 9093)),
        mongo_port=int(env.get("OFFSETFLOW_MONGO_PORT", 27017)),
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
def unique() -> str:
    """A fresh suffix so tests never see each other's topics, groups or databases."""
    return uuid.uuid4().hex[:10]
