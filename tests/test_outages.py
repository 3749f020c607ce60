"""Outages on a private stack the tests stop and start: the broker or the database going away for longer than
a session timeout, while a consumer holds work not yet written, costs time and nothing else."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from pymongo import MongoClient

from offsetflow.sinks.chunks import list_chunks
from offsetflow.stack.local import LocalStack, wait_kafka_usable
from tests.cli import REPO, offsetflow
from tests.pipelines import PostsRun

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def private(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """A second Kafka + FerretDB of our own, so stopping them disturbs no other test."""
    cache = os.environ.get("OFFSETFLOW_CACHE_DIR")
    local = LocalStack.create(
        cache_dir=Path(cache) if cache else None,
        data_dir=tmp_path_factory.mktemp("private-stack"),
        kafka_port=_free_port(),
        controller_port=_free_port(),
        mongo_port=_free_port(),
    )
    local.up(say=lambda _: None)
    yield local
    local.down(say=lambda _: None)


def _env(stack: LocalStack) -> dict[str, str]:
    return {
        **os.environ,
        "OFFSETFLOW_BOOTSTRAP_SERVERS": stack.kafka.bootstrap_servers,
        "OFFSETFLOW_MONGO_URI": stack.ferretdb.uri,
    }


def _pipeline(stack: LocalStack, name: str, posts: int) -> tuple[list[str], set[str]]:
    """Seeds a source, produces its ids; returns the consume command and the ids expected."""
    env = _env(stack)
    actors = max(1, posts // 300)
    topic = f"outage.{name}"
    platforms = ["--platforms", "twitter,facebook,telegram", "--seed", "3"]
    source = ["--source-database", f"src_{name}"]
    offsetflow("seed", "posts", *platforms, *source, "--actors", str(actors), "--posts-per-actor", "100", env=env)
    offsetflow("topics", "create", "--posts-topic", topic, "--sms-topic", f"outage.sms.{name}", env=env)
    offsetflow("produce", "posts", *platforms, *source, "--sample-actors", str(actors), "--posts-topic", topic, env=env)
    expected = _ids(stack, f"src_{name}", "posts")
    argv = ["consume", "posts", *source, "--posts-topic", topic, "--group", f"g_{name}"]
    argv += ["--sink-collection", f"sink_{name}", "--batch-size", "50", "--chunk-max-age", "60", "--fetch-workers", "2"]
    return argv, expected


def _ids(stack: LocalStack, database: str, collection: str) -> set[str]:
    client: MongoClient[dict[str, Any]] = MongoClient(stack.ferretdb.uri)
    with client:
        return {str(doc["_id"]) for doc in client[database][collection].find({}, {"_id": 1})}


def _spawn(stack: LocalStack, argv: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "offsetflow", *argv],
        cwd=REPO,
        env=_env(stack),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _exactly_once(stack: LocalStack, out: Path, topic: str, sink: str, expected: set[str]) -> None:
    files = [c.path for c in list_chunks(out, topic)]
    rows = Counter(pl.read_parquet(files)["post_id"].to_list()) if files else Counter[Any]()
    assert set(rows) == expected and max(rows.values()) == 1
    assert _ids(stack, "offsetflow", sink) == expected


def _wait_for_output(proc: subprocess.Popen[str], word: str, lines: list[str]) -> None:
    assert proc.stdout is not None
    while word not in (line := proc.stdout.readline()):
        assert line, "consumer exited early:\n" + "".join(lines)
        lines.append(line)


def test_a_kafka_outage_longer_than_the_session_timeout_loses_nothing_and_stops_nothing(
    private: LocalStack, tmp_path: Path
) -> None:
    argv, expected = _pipeline(private, "kafka", 1500)
    out = tmp_path / "out"
    proc = _spawn(private, [*argv, "--out", str(out), "--until-idle", "5"])
    lines: list[str] = []
    _wait_for_output(proc, "partition", lines)
    time.sleep(1.0)  # rows are buffered for chunk files (60 s chunk age): work held, not yet written
    private.kafka.process.stop()
    time.sleep(14)  # longer than the 10 s session timeout
    private.kafka.start()
    wait_kafka_usable(private.kafka.bootstrap_servers, time.monotonic() + 60)
    output, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, "".join(lines) + output
    _exactly_once(private, out, "outage.kafka", "sink_kafka", expected)


def test_a_database_outage_waits_and_resumes_with_every_post_once(private: LocalStack, tmp_path: Path) -> None:
    argv, expected = _pipeline(private, "mongo", 4500)
    out = tmp_path / "out"
    slow = ["--chunk-max-age", "1", "--batch-size", "10", "--fetch-workers", "1"]  # still at it when the db stops
    proc = _spawn(private, [*argv, "--out", str(out), "--until-idle", "5", *slow])
    lines: list[str] = []
    _wait_for_output(proc, "partition", lines)
    time.sleep(0.5)
    private.ferretdb.process.stop()
    time.sleep(15)  # longer than pymongo's 10 s server selection: the loop itself has to wait it out
    private.ferretdb.start()
    output, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, "".join(lines) + output
    assert "retry" in output  # it waited the outage out, and said so
    _exactly_once(private, out, "outage.mongo", "sink_mongo", expected)


def test_an_output_that_cannot_be_written_stops_the_consumer_and_commits_nothing_past_it(
    run: PostsRun, tmp_path: Path
) -> None:
    run.seed(actors=3, per_actor=20)
    offsetflow(*run.produce_argv(3))
    expected = run.expected_ids(3)
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the output folder should be")
    argv = run.consume_argv("--chunk-max-age", "0.5", "--batch-size", "20", "--until-idle", "3")
    failed = offsetflow(*argv, "--out", str(blocked), check=False)
    assert failed.returncode == 1, failed.stderr
    assert "Traceback" not in failed.stderr and str(blocked) in failed.stderr
    offsetflow(*argv)  # the same group, now with a usable --out: every post lands, once
    assert Counter(run.parquet()["post_id"].to_list()) == Counter(expected)
